"""The sections of a search-space file, as pydantic models (``extra="forbid"``, strict types).

Each model checks what it can see alone: types, ranges, duplicate choices, shorthands
(``threshold: static`` for ``[static]``). Checks that need two sections (a site the backbone
lacks, an override past the last block, ``nsga2`` with one objective) are in
:mod:`bnas.space.checks`; ``train:`` and its distributions in :mod:`bnas.space.distributions`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from bnas.architecture import THRESHOLD_KINDS, Threshold
from bnas.costs import CONSTRAINTS, LATENCY_KEYS
from bnas.datasets import DATASET_NAMES
from bnas.train_config import DataConfig, Seed

ALGORITHMS = ("tpe", "random", "grid", "nsga2")
MULTI_OBJECTIVE = ("nsga2",)
# Metrics a trial reports once per epoch (ASHA can compare trials on these).
EPOCH_METRICS = ("val_top1", "val_top5", "val_loss", "train_top1", "train_loss")

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]


class SectionModel(BaseModel):
    """Base of every section: unknown keys are errors, ``"3"`` is not an int, ``.inf`` and
    ``.nan`` are not numbers (a reduction factor of infinity would start a search)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def listify(data: Any, fields: tuple[str, ...]) -> Any:
    """``threshold: static`` is shorthand for ``threshold: [static]``."""
    if not isinstance(data, dict):
        return data
    return {
        key: [value] if key in fields and value is not None and not isinstance(value, list)
        else value
        for key, value in data.items()
    }


def no_duplicates(values: list[Any] | None) -> list[Any] | None:
    """``values`` unchanged, or a ValueError naming the first repeated one (linear time)."""
    if values is None:
        return values
    seen: set[Any] = set()
    for value in values:
        key = value if isinstance(value, (str, int, float, bool, frozenset, type(None))) else (
            repr(value))
        if key in seen:
            raise ValueError(f"duplicate choice {value!r}")
        seen.add(key)
    return values


# -- backbone -----------------------------------------------------------------------------------


class BackboneSection(SectionModel):
    """``backbone: {name: reactnet_a, preset: tiny, ...}``: the name and, beside it, the
    backbone's arguments (``Architecture.args``). Which arguments a backbone takes, their types
    and defaults are declared once, in :mod:`bnas.backbones`; :mod:`bnas.space.checks`
    validates them against that declaration and fills the input arguments from the data.
    """

    name: str
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather_args(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {
            **({"name": data["name"]} if "name" in data else {}),
            "args": {key: value for key, value in data.items() if key != "name"},
        }

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, **self.args}


# -- space: per-block choices -------------------------------------------------------------------

CHOICE_FIELDS = ("threshold", "rd_ratio", "min_hidden", "sites", "pool", "act", "bound")


class BlockChoices(SectionModel):
    """What a block may be. Every field is a choice list (a single value means "fixed").

    ``threshold``: static (RSign) and/or dynamic (DySign). The generator settings below are
    sampled only where the threshold is dynamic: ``rd_ratio`` (hidden = max(C / rd_ratio,
    min_hidden)), ``pool`` / ``act`` / ``bound`` (the generator variant, see
    :class:`bnas.architecture.Threshold`), and ``sites``, the sites a dynamic threshold covers:
    a list of site names means *any non-empty subset* of them; a list of lists names the
    allowed subsets exactly (``[[conv3x3, conv1x1]]``: always both). Sites left out stay static.

    In ``space.blocks`` an unset field takes the default below; in an override it keeps the
    value of ``space.blocks``.
    """

    threshold: Annotated[list[Literal["static", "dynamic"]], Field(min_length=1)] | None = None
    rd_ratio: Annotated[list[PositiveInt], Field(min_length=1)] | None = None
    min_hidden: Annotated[list[PositiveInt], Field(min_length=1)] | None = None
    sites: Annotated[list[str | list[str]], Field(min_length=1)] | None = None
    pool: Annotated[list[Literal["mean", "mean_std", "constant"]], Field(min_length=1)] | None = (
        None
    )
    act: Annotated[list[Literal["relu", "prelu"]], Field(min_length=1)] | None = None
    bound: Annotated[list[Literal["none", "tanh"]], Field(min_length=1)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return listify(data, CHOICE_FIELDS)

    @field_validator("threshold", "rd_ratio", "min_hidden", "pool", "act", "bound")
    @classmethod
    def _unique(cls, values: list[Any] | None) -> list[Any] | None:
        return no_duplicates(values)

    @field_validator("sites")
    @classmethod
    def _sites_form(cls, values: list[Any] | None) -> list[Any] | None:
        if values is None:
            return values
        if len({isinstance(value, list) for value in values}) > 1:
            raise ValueError(
                "give site names ([conv3x3, conv1x1]: any non-empty subset) or a list of "
                "subsets ([[conv3x3], [conv3x3, conv1x1]]), not both"
            )
        if isinstance(values[0], list):
            subsets = []
            for subset in values:
                if not subset:
                    raise ValueError("an empty subset: a dynamic threshold covers >= 1 site")
                no_duplicates(subset)
                subsets.append(frozenset(subset))
            no_duplicates(subsets)
        else:
            no_duplicates(values)
        return values


BLOCK_DEFAULTS: dict[str, list[Any]] = {
    "threshold": list(THRESHOLD_KINDS),
    "rd_ratio": [Threshold.model_fields["rd_ratio"].default],
    "min_hidden": [Threshold.model_fields["min_hidden"].default],
    "pool": [Threshold.model_fields["pool"].default],
    "act": [Threshold.model_fields["act"].default],
    "bound": [Threshold.model_fields["bound"].default],
    # sites: every site of the backbone (known once the backbone is)
}


class SpaceSection(SectionModel):
    """Per-block choices, overrides by block index or range, and two network-wide choices."""

    blocks: BlockChoices = Field(default_factory=BlockChoices)
    overrides: dict[str, BlockChoices] = Field(default_factory=dict)
    binarizer: Annotated[list[Literal["approx_sign", "ste"]], Field(min_length=1)] = [
        "approx_sign"
    ]
    rprelu: Annotated[list[Literal["static", "dynamic"]], Field(min_length=1)] = ["static"]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        data = listify(data, ("binarizer", "rprelu"))
        if isinstance(data, dict) and isinstance(data.get("overrides"), dict):
            # YAML reads `3:` as an int key; "3" and 3 mean the same block
            data = {**data, "overrides": {str(k): v for k, v in data["overrides"].items()}}
        return data

    @field_validator("binarizer", "rprelu")
    @classmethod
    def _unique(cls, values: list[Any]) -> list[Any]:
        return no_duplicates(values)  # type: ignore[return-value]


# -- data ---------------------------------------------------------------------------------------


class DataSection(DataConfig):
    """``bnas.train.DataConfig`` with strict types and the dataset name checked here."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Literal[DATASET_NAMES]  # type: ignore[valid-type]


# -- search -------------------------------------------------------------------------------------


class AshaSettings(SectionModel):
    """Asynchronous successive halving over epochs (max_t = train.epochs).

    ``metric`` / ``mode`` default to the objective when there is one; with several objectives
    (nsga2) say which per-epoch metric ASHA compares trials on.
    """

    grace_period: PositiveInt = 1
    reduction_factor: Annotated[float, Field(gt=1)] = 3.0
    metric: str | None = None
    mode: Literal["max", "min"] | None = None


class SchedulerSection(SectionModel):
    """``asha: {...}`` (also written ``scheduler: asha``) or ``none`` (run every trial fully)."""

    asha: AshaSettings | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if data is None or data == "none":
            return {}
        if data == "asha":
            return {"asha": {}}
        if isinstance(data, str):
            raise ValueError(f"unknown scheduler {data!r}; valid: asha, none")
        if isinstance(data, dict) and "asha" in data and data["asha"] is None:
            return {**data, "asha": {}}
        return data


class Resources(SectionModel):
    """Ray resources of one trial; ``cpu`` is also its torch thread count (rounded down)."""

    cpu: PositiveFloat = 1.0
    gpu: Annotated[float, Field(ge=0)] = 0.0


class _Budgets(SectionModel):
    def as_dict(self) -> dict[str, float]:
        return {key: value for key, value in self.model_dump().items() if value is not None}


Constraints = create_model(
    "Constraints",
    __base__=_Budgets,
    __doc__="Budgets checked before training (bnas.costs.excess): a candidate above one is "
    "not trained. One optional positive limit per name of bnas.costs.CONSTRAINTS.",
    **{name: (PositiveFloat | None, None) for name in CONSTRAINTS},
)


# The default recipe (README "The supernet recipe"): of the recipes measured by
# experiments.supernet_fidelity on two datasets, none reproduced stand-alone training or its own
# answer from another seed more often than chance (per-site signs agreeing between two seeds:
# uniform 3 and 6 of 8, the long sandwich 6 and 3, the long fair 3 and 5), so the cheapest one
# stays the default: one uniformly sampled candidate per step for train.epochs, a supernet that
# costs one stand-alone training. ``supernet.seeds`` is what tells a user how far to trust it.
DEFAULT_SAMPLING = "uniform"
CANDIDATES_PER_STEP = {"uniform": 1, "fair": 2, "sandwich": 4}  # default, per sampling
SUPERNET_EPOCHS_FACTOR = 1  # default supernet.epochs: this × train.epochs


class SupernetSettings(SectionModel):
    """Training the weight-sharing supernet (``strategy: oneshot``).

    Each step trains ``candidates_per_step`` candidates of the space on one batch (one
    optimizer step over their summed losses), so an epoch costs that many candidate-epochs.
    ``sampling`` (:mod:`bnas.supernet.sampling`): ``uniform`` over architectures (SPOS, Guo et
    al. 2020: a block is static once in n_i draws); ``fair``, every site static or dynamic
    with probability 1/2, in complementary pairs (after FairNAS, Chu et al. 2021);
    ``sandwich`` (BigNAS, Yu et al. 2020; NAS-BNN) trains the largest and the smallest
    candidate plus ``candidates_per_step - 2`` fair ones, and with ``inplace_distillation``
    the others learn from the largest's logits as well. ``seeds``: supernets trained with
    seeds ``train.seed``, ``train.seed + 1``, …, side by side; every candidate is scored with
    each, the search follows their mean score, and the report says where they disagree.
    Defaults (:meth:`filled`): uniform, 1 candidate per step (fair 2, sandwich 4: the largest,
    the smallest and two fair ones), ``epochs`` as ``train.epochs``.
    """

    epochs: PositiveInt | None = None  # default: SUPERNET_EPOCHS_FACTOR × train.epochs
    sampling: Literal["uniform", "fair", "sandwich"] = DEFAULT_SAMPLING
    candidates_per_step: PositiveInt | None = None  # default: CANDIDATES_PER_STEP[sampling]
    inplace_distillation: bool = True
    workers: PositiveInt = 1  # Ray Train data-parallel workers per supernet
    seeds: PositiveInt = 1

    def filled(self, train_epochs: int) -> SupernetSettings:
        """These settings with every default given its value."""
        return self.model_copy(update={
            "epochs": self.epochs or SUPERNET_EPOCHS_FACTOR * train_epochs,
            "candidates_per_step": self.candidates_per_step or CANDIDATES_PER_STEP[self.sampling],
        })


class EvaluateSettings(SectionModel):
    """Searching the trained supernet (``strategy: oneshot``): candidates scored with inherited
    weights after re-estimating BatchNorm on ``bn_batches`` training batches, on the
    validation split or a fixed ``ranking_images`` of it (balanced over the classes),
    ``batch`` at a time per Ray worker (candidates in one batch share the computation of
    their common leading blocks); then the ``top_k`` (or the Pareto set) are retrained
    stand-alone, from scratch or, with ``warm_start``, from the supernet's weights."""

    candidates: PositiveInt = 500
    batch: PositiveInt = 16
    bn_batches: PositiveInt = 4
    ranking_images: PositiveInt | None = None  # default: the whole validation split
    retrain: Literal["top_k", "pareto"] = "top_k"
    top_k: PositiveInt = 3
    warm_start: bool = False


class LatencySettings(SectionModel):
    """Which latency table prices ``latency_ms`` (:mod:`bnas.latency_table`).

    Without ``table``, the one measured on this machine: the cached one, or measured now (the
    preflight builds it, with progress). ``table``: a table measured on the target with ``bnas
    profile --latency SPACE.yaml --out table.json`` (path relative to where bnas runs);
    nothing is measured then. ``threads``, ``precision``, ``batch``: how the bit-packed model
    runs (default: the given table's, or 1, f32, 1); a given table must have been measured so.
    """

    table: str | None = None
    threads: PositiveInt | None = None
    precision: Literal["f32", "bf16"] | None = None
    batch: PositiveInt | None = None


STRATEGIES = ("multitrial", "oneshot")


class SearchSection(SectionModel):
    """How to search: strategy, sampler, objectives, trial budget, early stopping, resources,
    budgets; for a one-shot search also how to train the supernet and search it."""

    strategy: Literal[STRATEGIES] = "multitrial"  # type: ignore[valid-type]
    algorithm: Literal[ALGORITHMS] = "tpe"  # type: ignore[valid-type]
    objectives: Annotated[dict[str, Literal["max", "min"]], Field(min_length=1)] = {
        "val_top1": "max"
    }
    num_samples: PositiveInt | None = None
    max_concurrent: PositiveInt = 1
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection)
    resources_per_trial: Resources = Field(default_factory=Resources)
    constraints: Constraints = Field(default_factory=Constraints)
    seed: Seed = 0
    supernet: SupernetSettings | None = None
    evaluate: EvaluateSettings | None = None
    latency: LatencySettings | None = None
    # Retries of a trial whose worker process or node was lost (killed, out of memory, node
    # down), each from its last epoch checkpoint; 0: none. A trial that fails by itself (bad
    # input, a diverged loss) would fail again and is never retried.
    max_failures: Annotated[int, Field(ge=0)] = 2

    def constraints_dict(self) -> dict[str, float]:
        """The budgets that are set, e.g. ``{"max_size_mib": 1.5}``."""
        return self.constraints.as_dict()

    @property
    def uses_latency(self) -> bool:
        """Whether candidates are priced in measured milliseconds: ``latency_ms`` is an
        objective, ``max_latency_ms`` a budget, or ``latency:`` is set (latency recorded)."""
        return (self.latency is not None
                or any(metric in LATENCY_KEYS for metric in self.objectives)
                or any(CONSTRAINTS[name] in LATENCY_KEYS for name in self.constraints_dict()))
