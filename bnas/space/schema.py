"""A whole search-space file: :class:`SearchSpace`, its sections assembled and cross-checked.

A space has six sections; only ``backbone`` and ``data`` are required::

    name: reactnet-a-cifar10          # run directory name (default: the file's stem)
    backbone: {name: reactnet_a, preset: tiny}            # other keys → Architecture.args
    space:                            # what varies per block (see BlockChoices)
      blocks: {threshold: [static, dynamic], rd_ratio: [4, 8], sites: [conv3x3, conv1x1]}
      overrides: {"0": {threshold: static}, "8-": {rd_ratio: [16]}}
    data: {name: cifar10, root: data/cifar10, subset: 1000}   # bnas.train.DataConfig
    train: {epochs: 20, lr: {loguniform: [5e-4, 5e-3]}}      # bnas.train.TrainConfig fields
    search: {algorithm: tpe, objectives: {val_top1: max}, num_samples: 32}

The sections are :mod:`bnas.space.sections` and :mod:`bnas.space.distributions`; checks that
need more than one run after the field types, in file order (:mod:`bnas.space.checks`), and
raise :class:`~bnas.errors.LocatedError` with the path to blame; the loader
(:mod:`bnas.space`) turns the path into ``file.yaml:LINE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, PrivateAttr, model_validator

from bnas.backbones import BACKBONES
from bnas.errors import BnasError, LocatedError, describe_location
from bnas.files import RUN_NAME_MAX_LENGTH, RUN_NAME_PATTERN
from bnas.reading import LocatedYaml, load_yaml
from bnas.space import sampling
from bnas.space.blocks import BlockSpace, resolve_blocks
from bnas.space.checks import check_backbone_and_data, check_search
from bnas.space.distributions import TrainSection
from bnas.space.sections import (
    BackboneSection,
    DataSection,
    SearchSection,
    SectionModel,
    SpaceSection,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import optuna

    from bnas.architecture import Architecture, Threshold
    from bnas.latency_table import LatencyTable, SiteSetting


class SearchSpace(SectionModel):
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

    name: Annotated[str, Field(pattern=RUN_NAME_PATTERN, max_length=RUN_NAME_MAX_LENGTH)]
    description: str | None = None
    backbone: BackboneSection
    space: SpaceSection = Field(default_factory=SpaceSection)
    data: DataSection
    train: TrainSection = Field(default_factory=TrainSection)
    search: SearchSection = Field(default_factory=SearchSection)

    _source_text: str = PrivateAttr("")
    # whether backbone.num_classes was counted from the data's class folders (imagefolder)
    _counted_classes: bool = PrivateAttr(False)
    # settings the checks clamped to what can happen (printed by bnas validate and search)
    _notes: list[str] = PrivateAttr(default_factory=list)
    _source: str = PrivateAttr("search space")
    _overrides: list[str] = PrivateAttr(default_factory=list)
    _latency_table: LatencyTable | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _cross_check(self) -> SearchSpace:
        check_backbone_and_data(self)
        _ = self.blocks  # resolving them raises LocatedError for unknown sites, bad overrides
        check_search(self)
        return self

    # -- source -------------------------------------------------------------------------------

    def with_absolute_data_root(self) -> SearchSpace:
        """This space with ``data.root`` absolute (relative to this process's folder, as the
        user wrote it), for Ray's workers, which start in folders of their own. A copy; the
        space itself is left as it is."""
        root = self.data.root
        if root is None or Path(root).expanduser().is_absolute():
            return self
        copy = self.model_copy(deep=True)
        copy.data.root = str(Path(root).expanduser().resolve())
        return copy

    def located(self, error: LocatedError) -> BnasError:
        """A problem found after loading (e.g. by the preflight) as the loader words it:
        ``file.yaml:LINE path: detail`` (or the ``--set`` that gave the value)."""
        located = load_yaml(self._source_text, self._source)
        return BnasError(locate(error.loc, error.detail, located, self._overrides))

    @property
    def notes(self) -> list[str]:
        """What the checks changed: a setting clamped to what can happen, and why."""
        return list(self._notes)

    @property
    def counted_classes(self) -> bool:
        """Whether ``backbone.num_classes`` is the count of the data's class folders."""
        return self._counted_classes

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
        return resolve_blocks(self.space, BACKBONES[self.backbone.name], self.backbone.args)

    def define_by_run(self, trial: optuna.trial.Trial) -> dict[str, Any]:
        """Suggest one candidate's parameters on ``trial``; return constants for Ray's config.

        Ray Tune's ``OptunaSearch(space=<this>)`` merges the returned dict into the trial config
        after the suggested parameters: ``arch`` (one-line summary) and ``arch_id``.
        """
        return sampling.define_by_run(self, trial)

    def architecture(self, params: dict[str, Any]) -> Architecture:
        """The Architecture a flat parameter dict (a trial's config or ``trial.params``) names."""
        return sampling.architecture(self, params)

    def params_of(self, arch: Architecture) -> dict[str, Any]:
        """The parameters naming ``arch`` (the inverse of :meth:`architecture`); a one-line
        BnasError when ``arch`` is not a candidate of this space."""
        from bnas.space.sampling import params_of

        return params_of(self, arch)

    def train_settings(self, params: dict[str, Any]) -> dict[str, Any]:
        """A full ``bnas.train.TrainConfig`` dict (data included), sampled values filled in."""
        return sampling.train_settings(self, params)

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture of the space, lazily, in a fixed order (hyperparameters apart)."""
        return sampling.enumerate_architectures(self)

    def size(self) -> int:
        """Number of distinct architectures (counted, not enumerated)."""
        return sampling.count_architectures(self)

    def hyperparameter_combinations(self) -> int | None:
        """Number of training-setting combinations; None when one is continuous."""
        return sampling.count_hyperparameters(self)

    def grid_search_space(self) -> dict[str, list[Any]]:
        """``{name: values}`` for ``optuna.samplers.GridSampler`` (same names as define_by_run
        with ``algorithm: grid``); a BnasError when a hyperparameter is continuous."""
        return sampling.grid_search_space(self)

    def extremes(self) -> tuple[Architecture, Architecture]:
        """(cheapest, most expensive) candidate by construction (see sampling.extremes)."""
        return sampling.extremes(self)

    # -- costs --------------------------------------------------------------------------------

    def dynamic_settings(self) -> list[dict[Threshold, list[str]]]:
        """Per block, each dynamic threshold it can sample and the sites it may cover."""
        return sampling.dynamic_settings(self)

    def latency_settings(self) -> list[SiteSetting]:
        """Every site setting a latency table must hold to price this space's candidates."""
        return sampling.latency_settings(self)

    def latency_table(self, progress: Callable[[str], None] | None = None
                      ) -> LatencyTable | None:
        """The latency table pricing this space's candidates (None when it uses no latency):
        the first call reads, loads or measures it (:func:`bnas.space.preflight.latency_table`,
        ``progress`` hears of a measurement), later calls return it."""
        if self._latency_table is None and self.search.uses_latency:
            from bnas.space.preflight import latency_table

            try:
                self._latency_table = latency_table(self, progress)
            except LocatedError as error:
                raise self.located(error) from None
        return self._latency_table

    def latency_range(self, table: LatencyTable) -> tuple[float, float]:
        """The fastest and slowest candidate's predicted latency in ms (sampling.latency_range)."""
        return sampling.latency_range(self, table)

    def to_data(self) -> dict[str, Any]:
        """Plain data that parses back to an equal space (comments are lost)."""
        data = self.model_dump(mode="json", exclude_none=True, exclude={"train", "backbone"})
        data["backbone"] = self.backbone.to_data()
        data["train"] = self.train.to_data()
        return data


def locate(
    loc: tuple[str | int, ...], message: str, located: LocatedYaml, overrides: Sequence[str]
) -> str:
    """``file.yaml:LINE path: message``, or ``--set KEY=VALUE: path: message`` when the value at
    ``loc`` came from an override (the file's line would point at the wrong culprit)."""
    override = _override_at(loc, overrides)
    where = f"--set {override}:" if override is not None else located.where(loc)
    return f"{where} {describe_location(loc)}: {message}"


def _override_at(loc: tuple[str | int, ...], overrides: Sequence[str]) -> str | None:
    """The last override whose key is ``loc``, inside it or around it (it set that value)."""
    path = tuple(str(part) for part in loc)
    for item in reversed(overrides):
        key = tuple(item.partition("=")[0].strip().split("."))
        common = min(len(key), len(path))
        if common and key[:common] == path[:common]:
            return item
    return None
