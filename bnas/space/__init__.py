"""Search spaces in YAML: the one place that parses them (see :mod:`bnas.space.schema`).

::

    from bnas.space import load_space

    space = load_space("search_spaces/demo_digits.yaml")
    space.size()                       # distinct architectures, counted
    arch = next(space.enumerate())     # an Architecture
    # bnas.search: OptunaSearch(space.define_by_run, ...); in the trial:
    #   space.architecture(config), space.train_settings(config)
    space.params_of(arch)              # the inverse: which choices name arch (or BnasError)

Every problem is one :class:`~bnas.errors.BnasError` line naming the file, line and path, e.g.
``reactnet.yaml:14 space.blocks.rd_ratio[0]: 0 is not a positive integer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bnas.errors import BnasError, LocatedError, explain
from bnas.reading import YamlProblem, load_yaml, read_text
from bnas.space.schema import SearchSpace, locate

__all__ = ["SearchSpace", "load_space", "parse_space"]

_SECTIONS = "name, backbone, space, data, train, search"


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``search.num_samples=4`` style overrides (values parsed as YAML) on the loaded data."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise BnasError(f"--set {item!r}: expected KEY=VALUE, e.g. search.num_samples=4")
        node = data
        *parents, leaf = key.strip().split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        try:
            node[leaf] = load_yaml(raw, source="--set").data
        except YamlProblem as problem:
            raise BnasError(f"--set {item!r}: the value is {problem.problem}") from None
    return data


def parse_space(
    text: str, source: str = "search space", overrides: Sequence[str] = ()
) -> SearchSpace:
    """Validate YAML text; ``source`` (a file name) starts every error message.

    ``overrides`` (``KEY=VALUE`` strings, as ``bnas search --set``) change values before
    validation; the run directory keeps the text as given plus ``overrides.yaml``.
    """
    located = load_yaml(text, source)
    data = located.data
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise BnasError(f"{source}:1 <top>: expected a mapping ({_SECTIONS}), got {got}")
    data = apply_overrides(data, overrides)
    if "name" not in data:  # the run directory's name: the file's by default
        data = {"name": Path(source).stem, **data}
    try:
        space = SearchSpace.model_validate(data)
    except ValidationError as error:
        loc, message = explain(error, SearchSpace)
        raise BnasError(locate(loc, message, located, overrides)) from None
    except LocatedError as error:
        raise BnasError(locate(error.loc, error.detail, located, overrides)) from None
    space._source_text = text
    space._source = source
    space._overrides = list(overrides)
    return space


def load_space(path: str | Path, overrides: Sequence[str] = ()) -> SearchSpace:
    """Read and validate a search-space file (nothing is written anywhere)."""
    text = read_text(path, "search-space file")
    return parse_space(text, source=str(path), overrides=overrides)
