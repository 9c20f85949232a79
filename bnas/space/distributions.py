"""``train:`` of a search space: fixed values and the distributions a search samples.

Every key is a :class:`bnas.train.TrainConfig` field. A value is fixed (``epochs: 8``) or one
distribution: ``{loguniform: [lo, hi]}``, ``{uniform: [lo, hi]}``, ``{int: [lo, hi]}`` (both
ends included) or ``{choice: [a, b, ...]}``. Each fixed value and both ends of each
distribution are validated as the TrainConfig field would be, and so are the combinations of
ends (``warmup_epochs`` may not exceed ``epochs`` at any of them), so a trial never meets a
setting that a plain ``bnas train`` would refuse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from bnas.errors import Loc, LocatedError, explain, problem_message
from bnas.space.sections import SectionModel, no_duplicates
from bnas.train_config import TrainConfig

if TYPE_CHECKING:
    import optuna

DISTRIBUTIONS = ("loguniform", "uniform", "int", "choice")
# train: keys a space may not set: the search decides them per trial.
SEARCH_OWNED = {"threads": "search.resources_per_trial.cpu sets the threads of a trial",
                "data": "the dataset goes in the top-level data: section"}
ChoiceValue = None | bool | int | float | str  # what optuna's categorical accepts


class Distribution(SectionModel):
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

    def central(self) -> Any:
        """One representative value, for a run that trains with a fixed setting (a one-shot
        supernet): the median of a range — ``sqrt(lo · hi)`` for ``loguniform``, the midpoint
        for ``uniform``, the lower middle integer for ``int`` — and the first of a ``choice``
        list (the value written first, as a default is)."""
        if self.kind == "choice":
            return self.values[0]
        low, high = self.values
        if self.kind == "loguniform":
            return math.sqrt(low * high)  # type: ignore[operator]
        if self.kind == "uniform":
            return (low + high) / 2  # type: ignore[operator]
        return (low + high) // 2  # type: ignore[operator]

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
        raise LocatedError(loc, f"expected a value or one distribution: {forms}")
    kind, values = next(iter(raw.items()))
    loc = (*loc, kind)
    if key in _FIXED_ONLY:
        raise LocatedError(("train", key), _FIXED_ONLY[key])
    allowed = _ALLOWED_KINDS[_field_kind(key)]
    if kind not in allowed:
        raise LocatedError(loc, f"{key} cannot be sampled from {kind}; use {' or '.join(allowed)}")
    if not isinstance(values, list):
        raise LocatedError(loc, f"expected a list, got {values!r}")
    if kind == "choice":
        if not values:
            raise LocatedError(loc, "empty list: give at least one choice")
        for index, value in enumerate(values):
            if not (value is None or isinstance(value, (bool, int, float, str))):
                raise LocatedError((*loc, index), f"a choice is a plain value, got {value!r}")
        try:
            no_duplicates(values)
        except ValueError as error:
            raise LocatedError(loc, str(error)) from None
        return Distribution(kind=kind, values=values)
    if len(values) != 2 or not all(_number(value) for value in values):
        raise LocatedError(loc, f"expected [low, high] (two numbers), got {values!r}")
    low, high = values
    if kind == "int" and not all(isinstance(value, int) for value in values):
        raise LocatedError(loc, f"expected two integers, got {values!r}")
    if not low < high:
        raise LocatedError(
            loc, f"low must be < high, got {values!r} (a fixed value needs no range)"
        )
    if kind == "loguniform" and low <= 0:
        raise LocatedError(loc, f"loguniform needs 0 < low, got {values!r}")
    return Distribution(kind=kind, values=[low, high])


_STRICT = ConfigDict(strict=True, allow_inf_nan=False)


def _field_adapter(key: str) -> TypeAdapter[Any]:
    field = TrainConfig.model_fields[key]
    return TypeAdapter(Annotated[field.annotation, field], config=_STRICT)  # type: ignore[arg-type]


class TrainSection(SectionModel):
    """``train:`` as given: fixed values and sampled ones (TrainConfig's field names)."""

    fixed: dict[str, Any] = Field(default_factory=dict)
    sampled: dict[str, Distribution] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise LocatedError(("train",), f"expected a mapping of training settings, got {data!r}")
        valid = [name for name in TrainConfig.model_fields if name not in SEARCH_OWNED]
        fixed: dict[str, Any] = {}
        sampled: dict[str, Distribution] = {}
        for key, value in data.items():
            if key in SEARCH_OWNED:
                raise LocatedError(("train", key), SEARCH_OWNED[key])
            if key not in TrainConfig.model_fields:
                raise LocatedError(
                    ("train", key), f"unknown key {key!r}; valid: {', '.join(valid)}"
                )
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
                    raise LocatedError(("train", key), problem_message(error.errors()[0])) from None
        for variant in edge_settings(fixed, sampled):
            try:
                TrainConfig.model_validate({"data": {"name": "digits"}, **variant})
            except ValidationError as error:
                loc, message = explain(error, TrainConfig)
                named = [key for key in data if re.search(rf"\b{key}\b", message)]
                blame = next((key for key in named if key in sampled), next(iter(named), None))
                raise LocatedError(("train", *loc) if loc else ("train", *filter(None, [blame])),
                                 message) from None
        return {"fixed": fixed, "sampled": sampled}

    @property
    def epochs(self) -> int:
        return int(self.fixed.get("epochs", TrainConfig.model_fields["epochs"].default))

    def central_setting(self, key: str) -> Any:
        """The value of setting ``key`` a one-shot search trains with: fixed, a sampled one at
        its :meth:`Distribution.central` value, else TrainConfig's default."""
        if key in self.sampled:
            return self.sampled[key].central()
        return self.fixed.get(key, TrainConfig.model_fields[key].default)

    def central_params(self) -> dict[str, Any]:
        """``{"train.<key>": value}`` with every sampled setting at its
        :meth:`Distribution.central` value (the form of a trial's parameters)."""
        return {f"train.{key}": dist.central() for key, dist in self.sampled.items()}

    def to_data(self) -> dict[str, Any]:
        return {**self.fixed, **{key: dist.to_data() for key, dist in self.sampled.items()}}


def edge_settings(
    fixed: dict[str, Any], sampled: dict[str, Distribution]
) -> Iterator[dict[str, Any]]:
    """Settings that bound the sampled ones: all lows, all highs, then each choice in turn
    (the fixed settings alone when nothing is sampled)."""
    lows = {key: dist.values[0] for key, dist in sampled.items()}
    yield {**fixed, **lows}
    if sampled:
        yield {**fixed, **{key: dist.values[-1] for key, dist in sampled.items()}}
    for key, dist in sampled.items():
        for value in dist.values[1:-1]:
            yield {**fixed, **lows, key: value}
