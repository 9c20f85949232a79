"""The search-space file format, as pydantic models (``extra="forbid"``, strict types).

A space has six sections; only ``backbone`` and ``data`` are required::

    name: reactnet-a-cifar10          # run directory name (default: the file's stem)
    backbone: {name: reactnet_a, preset: tiny}            # other keys → Architecture.args
    space:                            # what varies per block (see BlockChoices)
      blocks: {threshold: [static, dynamic], rd_ratio: [4, 8], sites: [conv3x3, conv1x1]}
      overrides: {"0": {threshold: static}, "8-": {rd_ratio: [16]}}
    data: {name: cifar10, root: data/cifar10, subset: 1000}   # bnas.train.DataConfig
    train: {epochs: 20, lr: {loguniform: [5e-4, 5e-3]}}      # bnas.train.TrainConfig fields
    search: {algorithm: tpe, objectives: {val_top1: max}, num_samples: 32}

Checks that need more than one section (a site the backbone lacks, an override past the last
block, ``nsga2`` with one objective, ``grace_period`` beyond ``epochs``, ...) run after the
field types, in file order, and raise :class:`SpaceError` with the path to blame; the loader
(:mod:`bnas.space`) turns the path into ``file.yaml:LINE``.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from bnas.architecture import THRESHOLD_KINDS, Threshold
from bnas.backbones import BACKBONES
from bnas.costs import CONSTRAINTS, COST_KEYS
from bnas.errors import BnasError, describe_location, first_validation_problem
from bnas.train.config import DataConfig, TrainConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

    import optuna

    from bnas.architecture import Architecture
    from bnas.space.sampling import BlockSpace

Loc = tuple[str | int, ...]

ALGORITHMS = ("tpe", "random", "grid", "nsga2")
MULTI_OBJECTIVE = ("nsga2",)
# Metrics a trial reports once per epoch (ASHA can compare trials on these); the costs
# (bnas.costs.COST_KEYS, fixed per architecture) are objectives too, never ASHA's metric.
EPOCH_METRICS = ("val_top1", "val_top5", "val_loss", "train_top1", "train_loss")
# Shape facts of the datasets with a fixed shape: (classes, channels, image side). Kept here,
# torch-free, for `bnas validate`; tests check them against bnas.data.dataset_info.
DATASET_SHAPES: dict[str, tuple[int, int, int] | None] = {
    "digits": (10, 1, 8),
    "mnist": (10, 1, 28),
    "fashion_mnist": (10, 1, 28),
    "cifar10": (10, 3, 32),
    "cifar100": (100, 3, 32),
    "imagefolder": None,  # classes = sub-folders, any image size, RGB
}
DATASETS = tuple(DATASET_SHAPES)
DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
# train: keys a space may not set: the search decides them per trial.
SEARCH_OWNED = {"threads": "search.resources_per_trial.cpu sets the threads of a trial",
                "data": "the dataset goes in the top-level data: section"}

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
ChoiceValue = None | bool | int | float | str  # what optuna's categorical accepts


class SpaceError(BnasError):
    """A problem at a path of the space, e.g. ``("search", "objectives")``.

    The loader (:func:`bnas.space.parse_space`) turns the path into ``file.yaml:LINE``.
    """

    def __init__(self, loc: Loc, detail: str) -> None:
        self.loc = tuple(loc)
        self.detail = " ".join(detail.split())
        super().__init__(f"{describe_location(self.loc)}: {self.detail}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _listify(data: Any, fields: tuple[str, ...]) -> Any:
    """``threshold: static`` is shorthand for ``threshold: [static]``."""
    if not isinstance(data, dict):
        return data
    return {
        key: [value] if key in fields and value is not None and not isinstance(value, list)
        else value
        for key, value in data.items()
    }


def _no_duplicates(values: list[Any] | None) -> list[Any] | None:
    if values is None:
        return values
    seen: list[Any] = []
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate choice {value!r}")
        seen.append(value)
    return values


# -- backbone -----------------------------------------------------------------------------------


class BackboneSection(_Model):
    """The backbone's name and its arguments (``Architecture.args``; see bnas.backbones)."""

    name: str
    preset: str | None = None
    width: PositiveFloat | None = None
    stem: Literal["auto", "imagenet", "cifar"] | None = None
    num_classes: PositiveInt | None = None
    in_chans: PositiveInt | None = None
    img_size: PositiveInt | None = None
    drop_path_rate: Annotated[float, Field(ge=0, lt=1)] | None = None

    @property
    def args(self) -> dict[str, Any]:
        """The arguments as given (unset ones are left to the model's defaults)."""
        return {
            key: value
            for key, value in self.model_dump(exclude={"name"}).items()
            if value is not None
        }


# -- space: per-block choices -------------------------------------------------------------------

_CHOICE_FIELDS = ("threshold", "rd_ratio", "min_hidden", "sites", "pool", "act", "bound")


class BlockChoices(_Model):
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
        return _listify(data, _CHOICE_FIELDS)

    @field_validator("threshold", "rd_ratio", "min_hidden", "pool", "act", "bound")
    @classmethod
    def _unique(cls, values: list[Any] | None) -> list[Any] | None:
        return _no_duplicates(values)

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
                _no_duplicates(subset)
                subsets.append(frozenset(subset))
            _no_duplicates(subsets)
        else:
            _no_duplicates(values)
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


class SpaceSection(_Model):
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
        data = _listify(data, ("binarizer", "rprelu"))
        if isinstance(data, dict) and isinstance(data.get("overrides"), dict):
            # YAML reads `3:` as an int key; "3" and 3 mean the same block
            data = {**data, "overrides": {str(k): v for k, v in data["overrides"].items()}}
        return data

    @field_validator("binarizer", "rprelu")
    @classmethod
    def _unique(cls, values: list[Any]) -> list[Any]:
        return _no_duplicates(values)  # type: ignore[return-value]


# -- data ---------------------------------------------------------------------------------------


class DataSection(DataConfig):
    """``bnas.train.DataConfig`` with the dataset name checked here (torch-free)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Literal[DATASETS]  # type: ignore[valid-type]


# -- train: fixed values or distributions -------------------------------------------------------


class Distribution(_Model):
    """A hyperparameter the search samples: ``{loguniform: [lo, hi]}``, ``{uniform: [lo, hi]}``,
    ``{int: [lo, hi]}`` (both ends included) or ``{choice: [a, b, ...]}``."""

    kind: Literal["loguniform", "uniform", "int", "choice"]
    values: list[ChoiceValue]

    @property
    def is_discrete(self) -> bool:
        return self.kind in ("int", "choice")

    def grid_values(self) -> list[Any]:
        """Every value (discrete kinds only)."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "int":
            low, high = self.values
            return list(range(int(low), int(high) + 1))  # type: ignore[arg-type]
        raise ValueError(f"{self.kind} is continuous")

    def edge_values(self) -> list[Any]:
        """Values that bound what the search may try (both ends, or every choice)."""
        return list(self.values)

    def suggest(self, trial: optuna.trial.Trial, name: str) -> Any:
        low, high = (self.values + [None, None])[:2]
        if self.kind == "loguniform":
            return trial.suggest_float(name, low, high, log=True)  # type: ignore[arg-type]
        if self.kind == "uniform":
            return trial.suggest_float(name, low, high)  # type: ignore[arg-type]
        if self.kind == "int":
            return trial.suggest_int(name, low, high)  # type: ignore[arg-type]
        return trial.suggest_categorical(name, self.values)

    def to_data(self) -> dict[str, list[Any]]:
        return {self.kind: list(self.values)}


def _field_kind(name: str) -> str:
    """``float``, ``int`` or ``other``: which distributions a TrainConfig field may take."""
    annotation = TrainConfig.model_fields[name].annotation
    types = set(get_args(annotation)) - {type(None)} or {annotation}
    if types == {float}:
        return "float"
    if types == {int}:
        return "int"
    return "other"


_ALLOWED_KINDS = {
    "float": ("loguniform", "uniform", "int", "choice"),
    "int": ("int", "choice"),
    "other": ("choice",),
}
_FIXED_ONLY = {"epochs": "epochs is the budget of every trial (ASHA's max_t): give one number"}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_distribution(key: str, raw: dict[str, Any]) -> Distribution:
    loc: Loc = ("train", key)
    if len(raw) != 1 or next(iter(raw)) not in DISTRIBUTIONS:
        forms = "{loguniform: [lo, hi]}, {uniform: [lo, hi]}, {int: [lo, hi]}, {choice: [...]}"
        raise SpaceError(loc, f"expected a value or one distribution: {forms}")
    kind, values = next(iter(raw.items()))
    loc = (*loc, kind)
    if key in _FIXED_ONLY:
        raise SpaceError(("train", key), _FIXED_ONLY[key])
    allowed = _ALLOWED_KINDS[_field_kind(key)]
    if kind not in allowed:
        raise SpaceError(loc, f"{key} cannot be sampled from {kind}; use {' or '.join(allowed)}")
    if not isinstance(values, list):
        raise SpaceError(loc, f"expected a list, got {values!r}")
    if kind == "choice":
        if not values:
            raise SpaceError(loc, "empty list: give at least one choice")
        for index, value in enumerate(values):
            if not (value is None or isinstance(value, (bool, int, float, str))):
                raise SpaceError((*loc, index), f"a choice is a plain value, got {value!r}")
        try:
            _no_duplicates(values)
        except ValueError as error:
            raise SpaceError(loc, str(error)) from None
        return Distribution(kind=kind, values=values)
    if len(values) != 2 or not all(_number(value) for value in values):
        raise SpaceError(loc, f"expected [low, high] (two numbers), got {values!r}")
    low, high = values
    if kind == "int" and not all(isinstance(value, int) for value in values):
        raise SpaceError(loc, f"expected two integers, got {values!r}")
    if not low < high:
        raise SpaceError(loc, f"low must be < high, got {values!r} (a fixed value needs no range)")
    if kind == "loguniform" and low <= 0:
        raise SpaceError(loc, f"loguniform needs 0 < low, got {values!r}")
    return Distribution(kind=kind, values=[low, high])


_STRICT = ConfigDict(strict=True)


def _field_adapter(key: str) -> TypeAdapter[Any]:
    field = TrainConfig.model_fields[key]
    return TypeAdapter(Annotated[field.annotation, field], config=_STRICT)  # type: ignore[arg-type]


class TrainSection(_Model):
    """``train:`` as given: fixed values and sampled ones (TrainConfig's field names)."""

    fixed: dict[str, Any] = Field(default_factory=dict)
    sampled: dict[str, Distribution] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise SpaceError(("train",), f"expected a mapping of training settings, got {data!r}")
        valid = [name for name in TrainConfig.model_fields if name not in SEARCH_OWNED]
        fixed: dict[str, Any] = {}
        sampled: dict[str, Distribution] = {}
        for key, value in data.items():
            if key in SEARCH_OWNED:
                raise SpaceError(("train", key), SEARCH_OWNED[key])
            if key not in TrainConfig.model_fields:
                raise SpaceError(("train", key), f"unknown key {key!r}; valid: {', '.join(valid)}")
            if isinstance(value, dict):
                sampled[key] = _parse_distribution(key, value)
                values = sampled[key].edge_values()
            else:
                fixed[key] = value
                values = [value]
            adapter = _field_adapter(key)
            for value in values:
                try:
                    adapter.validate_python(value)
                except ValidationError as error:
                    raise SpaceError(("train", key), pydantic_message(error.errors()[0])) from None
        for variant in _edge_configs(fixed, sampled):
            try:
                TrainConfig.model_validate({"data": {"name": "digits"}, **variant})
            except ValidationError as error:
                loc, message = first_validation_problem(error)
                named = [key for key in data if re.search(rf"\b{key}\b", message)]
                blame = next((key for key in named if key in sampled), next(iter(named), None))
                raise SpaceError(("train", *loc) if loc else ("train", *filter(None, [blame])),
                                 message) from None
        return {"fixed": fixed, "sampled": sampled}

    @property
    def epochs(self) -> int:
        return int(self.fixed.get("epochs", TrainConfig.model_fields["epochs"].default))

    def to_data(self) -> dict[str, Any]:
        return {**self.fixed, **{key: dist.to_data() for key, dist in self.sampled.items()}}


def _edge_configs(
    fixed: dict[str, Any], sampled: dict[str, Distribution]
) -> Iterator[dict[str, Any]]:
    """Settings that bound the sampled ones: all lows, all highs, then each choice in turn."""
    lows = {key: dist.values[0] for key, dist in sampled.items()}
    yield {**fixed, **lows}
    yield {**fixed, **{key: dist.values[-1] for key, dist in sampled.items()}}
    for key, dist in sampled.items():
        for value in dist.values[1:-1]:
            yield {**fixed, **lows, key: value}


# -- search -------------------------------------------------------------------------------------


class AshaSettings(_Model):
    """Asynchronous successive halving over epochs (max_t = train.epochs).

    ``metric`` / ``mode`` default to the objective when there is one; with several objectives
    (nsga2) say which per-epoch metric ASHA compares trials on.
    """

    grace_period: PositiveInt = 1
    reduction_factor: Annotated[float, Field(gt=1)] = 3.0
    metric: str | None = None
    mode: Literal["max", "min"] | None = None


class SchedulerSection(_Model):
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


class Resources(_Model):
    """Ray resources of one trial; ``cpu`` is also its torch thread count (rounded down)."""

    cpu: PositiveFloat = 1.0
    gpu: Annotated[float, Field(ge=0)] = 0.0


class _Budgets(_Model):
    def as_dict(self) -> dict[str, float]:
        return {key: value for key, value in self.model_dump().items() if value is not None}


Constraints = create_model(
    "Constraints",
    __base__=_Budgets,
    __doc__="Budgets checked before training (bnas.costs.excess): a candidate above one is "
    "not trained. One optional positive limit per name of bnas.costs.CONSTRAINTS.",
    **{name: (PositiveFloat | None, None) for name in CONSTRAINTS},
)


class SearchSection(_Model):
    """How to search: sampler, objectives, trial budget, early stopping, resources, budgets."""

    algorithm: Literal[ALGORITHMS] = "tpe"  # type: ignore[valid-type]
    objectives: Annotated[dict[str, Literal["max", "min"]], Field(min_length=1)] = {
        "val_top1": "max"
    }
    num_samples: PositiveInt | None = None
    max_concurrent: PositiveInt = 1
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection)
    resources_per_trial: Resources = Field(default_factory=Resources)
    constraints: Constraints = Field(default_factory=Constraints)
    seed: Annotated[int, Field(ge=0)] = 0

    def constraints_dict(self) -> dict[str, float]:
        """The budgets that are set, e.g. ``{"max_size_mib": 1.5}``."""
        return self.constraints.as_dict()


# -- the whole space ----------------------------------------------------------------------------


class SearchSpace(_Model):
    """A validated search space; it samples, enumerates and counts its architectures.

    Sampling (the contract with bnas.search, which runs Optuna through Ray Tune's
    ``OptunaSearch`` with :meth:`define_by_run`): parameter names are stable, flat and never
    contain ``/`` (Ray unflattens on it). Per block ``i``:

    - ``b{i}.threshold``: ``static`` | ``dynamic``;
    - only when dynamic: ``b{i}.rd_ratio`` (int), ``b{i}.sites`` (a non-empty subset encoded
      ``"conv3x3+conv1x1"``, sites in backbone order: one categorical, so "no site" can never
      be sampled and grids stay finite), ``b{i}.pool``, ``b{i}.act``, ``b{i}.bound``,
      ``b{i}.min_hidden``;
    - network-wide: ``binarizer``, ``rprelu``; training: ``train.<field>`` (e.g. ``train.lr``).

    A parameter with a single choice is not suggested (it is a constant). With
    ``algorithm: grid`` each block is instead one categorical ``b{i}`` over its distinct
    settings (``"static"``, ``"dynamic r=8 sites=conv3x3"``), so the grid holds every
    architecture exactly once (conditional parameters would repeat static blocks once per
    unused rd_ratio).
    """

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    description: str | None = None
    backbone: BackboneSection
    space: SpaceSection = Field(default_factory=SpaceSection)
    data: DataSection
    train: TrainSection = Field(default_factory=TrainSection)
    search: SearchSection = Field(default_factory=SearchSection)

    _source_text: str = PrivateAttr("")
    _source: str = PrivateAttr("search space")
    _overrides: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _cross_check(self) -> SearchSpace:
        self._check_backbone_and_data()
        _ = self.blocks  # resolving them raises SpaceError for unknown sites, bad overrides
        self._check_search()
        return self

    # -- cross-section checks -----------------------------------------------------------------

    def _check_backbone_and_data(self) -> None:
        backbone = self.backbone
        info = BACKBONES.get(backbone.name)
        if info is None:
            raise SpaceError(
                ("backbone", "name"),
                f"unknown backbone {backbone.name!r}; valid: {', '.join(sorted(BACKBONES))}",
            )
        for key in backbone.args:
            if key not in info.args:
                raise SpaceError(
                    ("backbone", key),
                    f"{info.name} takes no {key!r}; valid: {', '.join(info.args)}",
                )
        if backbone.preset is not None and backbone.preset not in info.layouts:
            raise SpaceError(
                ("backbone", "preset"),
                f"unknown preset {backbone.preset!r} for {info.name}; "
                f"valid: {', '.join(info.layouts)}",
            )
        # The model's input must match the data: fill what the backbone leaves out, refuse
        # what contradicts it (a 1000-class head on CIFAR-10 would train, and profile, wrong).
        shape = DATASET_SHAPES[self.data.name]
        data_size = self.data.img_size or (shape[2] if shape else None)
        if shape is None and backbone.num_classes is None:
            raise SpaceError(
                ("backbone",),
                f"{self.data.name} has as many classes as folders: set backbone.num_classes",
            )
        facts = {
            "num_classes": shape[0] if shape else None,
            "in_chans": shape[1] if shape else 3,
            "img_size": data_size,
        }
        for key, value in facts.items():
            given = getattr(backbone, key)
            if value is None:
                continue
            if given is None:
                setattr(backbone, key, value)
            elif given != value:
                what = {
                    "num_classes": f"{self.data.name} has {value} classes",
                    "in_chans": f"{self.data.name} images have {value} channel(s)",
                    "img_size": f"the model sees {value}x{value} images "
                    + ("(data.img_size)" if self.data.img_size
                       else f"({self.data.name}; set data.img_size: {given} to resize)"),
                }[key]
                raise SpaceError(("backbone", key), f"{given}, but {what}")
        if self.data.name == "imagefolder":
            if self.data.root is None:
                raise SpaceError(
                    ("data",), "imagefolder needs root: the folder holding train/ and val/"
                )
            if backbone.img_size is None:
                raise SpaceError(("data",), "imagefolder images vary in size: set data.img_size")
            self.data.img_size = backbone.img_size

    def _check_search(self) -> None:
        search = self.search
        objectives = search.objectives
        known = EPOCH_METRICS + COST_KEYS
        for metric in objectives:
            if metric not in known:
                raise SpaceError(
                    ("search", "objectives", metric),
                    f"unknown metric {metric!r}; valid: {', '.join(known)}",
                )
        if not any(metric in EPOCH_METRICS for metric in objectives):
            raise SpaceError(
                ("search", "objectives"),
                "no trained metric (only costs): add one of " + ", ".join(EPOCH_METRICS),
            )
        multi = search.algorithm in MULTI_OBJECTIVE
        if multi and len(objectives) < 2:
            raise SpaceError(
                ("search", "objectives"),
                f"{search.algorithm} is multi-objective: give two or more, e.g. "
                "{val_top1: max, ops: min} (or use algorithm: tpe)",
            )
        if not multi and len(objectives) > 1:
            raise SpaceError(
                ("search", "objectives"),
                f"{search.algorithm} optimizes one objective, got {len(objectives)}: "
                "use algorithm: nsga2, or keep one and put costs in search.constraints",
            )
        asha = search.scheduler.asha
        epochs = self.train.epochs
        if asha is not None:
            loc: Loc = ("search", "scheduler", "asha")
            if asha.metric is None:
                if len(objectives) > 1:
                    raise SpaceError(
                        loc,
                        "ASHA stops trials on one metric: set metric (e.g. val_top1) and mode "
                        "when there are several objectives",
                    )
                asha.metric = next(iter(objectives))
            if asha.metric not in EPOCH_METRICS:
                raise SpaceError(
                    (*loc, "metric"),
                    f"ASHA compares trials epoch by epoch: {asha.metric!r} is not reported per "
                    f"epoch; valid: {', '.join(EPOCH_METRICS)}",
                )
            if asha.mode is None:
                if asha.metric not in objectives:
                    raise SpaceError(loc, f"set mode (max or min) for ASHA's metric {asha.metric}")
                asha.mode = objectives[asha.metric]
            if asha.grace_period > epochs:
                raise SpaceError(
                    (*loc, "grace_period"),
                    f"{asha.grace_period} exceeds train.epochs ({epochs}): ASHA would never stop "
                    "a trial",
                )
        if search.algorithm == "grid":
            for key, dist in self.train.sampled.items():
                if not dist.is_discrete:
                    raise SpaceError(
                        ("train", key),
                        f"grid search needs discrete values: {dist.kind} is continuous; use "
                        "{choice: [...]} or {int: [lo, hi]}",
                    )
            points = self.size() * (self.hyperparameter_combinations() or 1)
            if search.num_samples is None:
                search.num_samples = points
            elif search.num_samples > points:
                raise SpaceError(
                    ("search", "num_samples"),
                    f"{search.num_samples} exceeds the grid's {points} points: trials would "
                    "repeat (leave num_samples out to run the whole grid)",
                )
        elif search.num_samples is None:
            raise SpaceError(
                ("search",), f"num_samples is required for {search.algorithm}: how many trials"
            )

    # -- source -------------------------------------------------------------------------------

    @property
    def source_text(self) -> str:
        """The YAML exactly as given (the run directory keeps a copy)."""
        return self._source_text

    @property
    def source(self) -> str:
        """Where the space came from (the file name errors start with)."""
        return self._source

    @property
    def overrides(self) -> list[str]:
        """``KEY=VALUE`` overrides applied on top of :attr:`source_text` (``bnas search --set``)."""
        return list(self._overrides)

    @property
    def epochs(self) -> int:
        """Epochs of every trial (ASHA's max_t)."""
        return self.train.epochs

    # -- sampling (bnas.space.sampling does the work) -----------------------------------------

    @cached_property
    def blocks(self) -> tuple[BlockSpace, ...]:
        """Resolved choices of every block (space.blocks with overrides applied)."""
        from bnas.space.sampling import resolve_blocks

        return resolve_blocks(self)

    def define_by_run(self, trial: optuna.trial.Trial) -> dict[str, Any]:
        """Suggest one candidate's parameters on ``trial``; return constants for Ray's config.

        Ray Tune's ``OptunaSearch(space=<this>)`` merges the returned dict into the trial config
        after the suggested parameters: ``arch`` (one-line summary) and ``arch_id``.
        """
        from bnas.space.sampling import define_by_run

        return define_by_run(self, trial)

    def architecture(self, params: dict[str, Any]) -> Architecture:
        """The Architecture a flat parameter dict (a trial's config or ``trial.params``) names."""
        from bnas.space.sampling import architecture

        return architecture(self, params)

    def train_settings(self, params: dict[str, Any]) -> dict[str, Any]:
        """A full ``bnas.train.TrainConfig`` dict (data included), sampled values filled in."""
        from bnas.space.sampling import train_settings

        return train_settings(self, params)

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture of the space, lazily, in a fixed order (hyperparameters apart)."""
        from bnas.space.sampling import enumerate_architectures

        return enumerate_architectures(self)

    def size(self) -> int:
        """Number of distinct architectures (counted, not enumerated)."""
        from bnas.space.sampling import count_architectures

        return count_architectures(self)

    def hyperparameter_combinations(self) -> int | None:
        """Number of training-setting combinations; None when one is continuous."""
        from bnas.space.sampling import count_hyperparameters

        return count_hyperparameters(self)

    def grid_search_space(self) -> dict[str, list[Any]]:
        """``{name: values}`` for ``optuna.samplers.GridSampler`` (same names as define_by_run
        with ``algorithm: grid``); a BnasError when a hyperparameter is continuous."""
        from bnas.space.sampling import grid_search_space

        return grid_search_space(self)

    def extremes(self) -> tuple[Architecture, Architecture]:
        """(cheapest, most expensive) candidate by construction (see sampling.extremes)."""
        from bnas.space.sampling import extremes

        return extremes(self)

    def to_data(self) -> dict[str, Any]:
        """Plain data that parses back to an equal space (comments are lost)."""
        data = self.model_dump(mode="json", exclude_none=True, exclude={"train"})
        data["train"] = self.train.to_data()
        return data


# -- pydantic error → one line ------------------------------------------------------------------

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def pydantic_message(problem: dict[str, Any], valid_keys: list[str] | None = None) -> str:
    """One pydantic problem as a short sentence about the value a user wrote."""
    kind = problem["type"]
    value = problem.get("input")
    ctx = problem.get("ctx") or {}
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        key = problem["loc"][-1] if problem["loc"] else value
        listing = f"; valid: {', '.join(valid_keys)}" if valid_keys else ""
        return f"unknown key {key!r}{listing}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {value!r}"
    if kind == "greater_than" and ctx.get("gt") == 0:
        noun = "number" if isinstance(ctx["gt"], float) else "integer"
        return f"{value!r} is not a positive {noun}"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"{value!r} is not {bounds[kind]} {limit}"
    if kind == "literal_error":
        valid = ", ".join(part.strip("'") for part in re.split(r", | or ", ctx["expected"]))
        return f"unknown value {value!r}; valid: {valid}"
    if kind == "too_short":
        return "empty: give at least one" + (" choice" if isinstance(value, list) else " entry")
    if kind == "string_pattern_mismatch":
        return f"{value!r} must match {ctx.get('pattern')}"
    if kind in ("value_error", "assertion_error"):
        return problem["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{problem['msg']}, got {value!r}"


def valid_keys_at(loc: Loc) -> list[str] | None:
    """Field names of the model found at ``loc`` (for "unknown key; valid: ...")."""
    cls: Any = SearchSpace
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return None
        field = cls.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        cls, skip = _inner_model(field.annotation)
        del parts[:skip]
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return list(cls.model_fields)
    return None


def _inner_model(annotation: Any) -> tuple[Any, int]:
    """The model class inside ``annotation`` and how many list/dict levels lead to it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, 0
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, dict):
        inner, skip = _inner_model(args[-1])
        return inner, skip + 1
    for arg in args:  # Optional / Union / Annotated
        inner, skip = _inner_model(arg)
        if inner is not None:
            return inner, skip
    return None, 0


def explain(error: ValidationError) -> tuple[Loc, str]:
    """The first problem of a validation error as (path a user wrote, one-line message)."""
    problem = error.errors(include_url=False)[0]
    loc, _ = first_validation_problem(error)
    valid = valid_keys_at(loc[:-1]) if problem["type"] == "extra_forbidden" else None
    return loc, pydantic_message(problem, valid)
