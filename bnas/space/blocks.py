"""The resolved choices of every block: ``space.blocks`` with its overrides applied.

A block's *settings* are either ``static`` or one dynamic configuration (rd_ratio, the set of
sites it covers, pool, act, bound, min_hidden). :class:`BlockSpace` lists what one block may
be; :func:`resolve_blocks` applies the defaults and the overrides (by index ``"3"``, range
``"0-2"`` or open range ``"8-"``) of a space's ``space:`` section. Sampling, counting and the
one-shot supernet all read these; this module imports neither the schema nor the sampler.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bnas.architecture import Threshold
from bnas.backbones import BackboneInfo
from bnas.errors import BnasError, Loc, LocatedError
from bnas.space.sections import BlockChoices, SpaceSection

SITE_JOIN = "+"  # "conv3x3+conv1x1": a set of sites as one categorical value
# The generator settings sampled (in this order) only where a block's threshold is dynamic.
GENERATOR_DIMS = ("rd_ratio", "sites", "pool", "act", "bound", "min_hidden")
# What a block may be when a space says nothing (sites: every site of the backbone).
BLOCK_DEFAULTS: dict[str, list[Any]] = {
    "threshold": ["static", "dynamic"],
    **{dim: [Threshold.model_fields[dim].default]
       for dim in ("rd_ratio", "min_hidden", "pool", "act", "bound")},
}


@dataclass(frozen=True)
class BlockSpace:
    """The resolved choices of one block (``space.blocks`` with its overrides applied)."""

    index: int
    threshold: tuple[str, ...]
    rd_ratio: tuple[int, ...]
    sites: tuple[str, ...]  # allowed site sets, each encoded "conv3x3+conv1x1"
    pool: tuple[str, ...]
    act: tuple[str, ...]
    bound: tuple[str, ...]
    min_hidden: tuple[int, ...]

    def prefix(self) -> str:
        return f"b{self.index}"

    def generator_dims(self) -> dict[str, tuple[Any, ...]]:
        return {dim: getattr(self, dim) for dim in GENERATOR_DIMS}

    def dynamic_count(self) -> int:
        return math.prod(len(values) for values in self.generator_dims().values())

    def count(self) -> int:
        """Distinct settings of this block."""
        return ("static" in self.threshold) + ("dynamic" in self.threshold) * self.dynamic_count()

    def options(self) -> Iterator[dict[str, Any]]:
        """Every distinct setting, static first, as ``{"threshold": ..., dim: value, ...}``."""
        if "static" in self.threshold:
            yield {"threshold": "static"}
        if "dynamic" in self.threshold:
            dims = self.generator_dims()
            for values in itertools.product(*dims.values()):
                yield {"threshold": "dynamic", **dict(zip(dims, values))}

    def label(self, option: dict[str, Any]) -> str:
        """``static`` or ``dynamic r=8 sites=conv1x1``: only the settings that vary here."""
        if option["threshold"] == "static":
            return "static"
        varying = [
            f"{'r' if dim == 'rd_ratio' else dim}={option[dim]}"
            for dim, values in self.generator_dims().items()
            if len(values) > 1
        ]
        return " ".join(["dynamic", *varying])

    def labels(self) -> list[str]:
        return [self.label(option) for option in self.options()]

    def option_for(self, label: str) -> dict[str, Any]:
        for option in self.options():
            if self.label(option) == label:
                return option
        raise BnasError(
            f"params: {self.prefix()} = {label!r} is not a setting of this block; "
            f"valid: {', '.join(self.labels())}"
        )

    def thresholds(self, option: dict[str, Any], backbone_sites: Sequence[str]) -> dict[str, Any]:
        """``{site: "static" | {kind: dynamic, ...}}`` for Architecture.from_dict."""
        if option["threshold"] == "static":
            return {site: "static" for site in backbone_sites}
        covered = set(option["sites"].split(SITE_JOIN))
        dynamic = {"kind": "dynamic"} | {
            dim: option[dim] for dim in GENERATOR_DIMS if dim != "sites"
        }
        return {site: dynamic if site in covered else "static" for site in backbone_sites}


# -- resolving blocks ---------------------------------------------------------------------------


def resolve_blocks(
    section: SpaceSection, info: BackboneInfo, args: dict[str, Any]
) -> tuple[BlockSpace, ...]:
    """Apply defaults and overrides; unknown sites and bad override keys are LocatedErrors."""
    num_blocks = info.num_blocks(args)
    base = {**BLOCK_DEFAULTS, "sites": list(info.sites)}
    base.update(_given(section.blocks))
    _check_sites(section.blocks, ("space", "blocks"), info.name, info.sites)
    merged = [dict(base) for _ in range(num_blocks)]
    preset = f"{info.name} (preset {args.get('preset', 'full')})"
    for key, override in section.overrides.items():
        loc: Loc = ("space", "overrides", key)
        _check_sites(override, loc, info.name, info.sites)
        for index in block_indices(key, num_blocks, loc, preset):
            merged[index].update(_given(override))
    return tuple(
        BlockSpace(
            index=index,
            threshold=tuple(choices["threshold"]),
            rd_ratio=tuple(choices["rd_ratio"]),
            sites=_site_sets(choices["sites"], info.sites),
            pool=tuple(choices["pool"]),
            act=tuple(choices["act"]),
            bound=tuple(choices["bound"]),
            min_hidden=tuple(choices["min_hidden"]),
        )
        for index, choices in enumerate(merged)
    )


def _given(choices: BlockChoices) -> dict[str, Any]:
    return {key: value for key, value in choices.model_dump().items() if value is not None}


def _check_sites(choices: BlockChoices, loc: Loc, backbone: str, valid: Sequence[str]) -> None:
    for index, entry in enumerate(choices.sites or []):
        names = entry if isinstance(entry, list) else [entry]
        for position, site in enumerate(names):
            if site not in valid:
                where = (*loc, "sites", index) + ((position,) if isinstance(entry, list) else ())
                raise LocatedError(
                    where, f"unknown site {site!r}; valid for {backbone}: {', '.join(valid)}"
                )


def _site_sets(entries: list[Any], order: Sequence[str]) -> tuple[str, ...]:
    """Allowed non-empty site subsets, encoded in backbone order; smallest sets first."""
    if entries and isinstance(entries[0], list):
        subsets = [set(entry) for entry in entries]
    else:
        listed = [site for site in order if site in entries]
        subsets = [
            set(combo)
            for size in range(1, len(listed) + 1)
            for combo in itertools.combinations(listed, size)
        ]
    return tuple(SITE_JOIN.join(site for site in order if site in subset) for subset in subsets)


def block_indices(key: str, num_blocks: int, loc: Loc, what: str) -> range:
    """``"3"`` → block 3; ``"0-2"`` → 0, 1, 2; ``"8-"`` → 8 to the last block."""
    text = key.strip()
    if text.isdigit():
        start = stop = int(text)
    elif "-" in text and text.split("-", 1)[0].strip().isdigit() and (
        text.split("-", 1)[1].strip().isdigit() or not text.split("-", 1)[1].strip()
    ):
        first, last = (part.strip() for part in text.split("-", 1))
        start, stop = int(first), int(last) if last else num_blocks - 1
    else:
        raise LocatedError(
            loc, f"{key!r} is not a block: use an index '3', a range '0-2' or '8-' (to the end)"
        )
    if start > stop:
        raise LocatedError(loc, f"empty range {key!r}: the first block comes after the last")
    if stop >= num_blocks:
        raise LocatedError(
            loc,
            f"block {min(start, stop) if start >= num_blocks else stop} is out of range: "
            f"{what} has {num_blocks} blocks (0-{num_blocks - 1})",
        )
    return range(start, stop + 1)
