"""From a validated space to Architectures: sample, enumerate, count.

The per-block choices come resolved (:mod:`bnas.space.blocks`). Distinct settings give distinct
Architectures (sites outside the set stay static, and a static threshold carries no generator
settings), so the number of architectures is counted, not enumerated:

.. math::
    |\\text{space}| = |\\text{binarizer}| \\cdot |\\text{rprelu}| \\cdot
    \\prod_{i} \\Big( [\\text{static allowed}_i] + [\\text{dynamic allowed}_i] \\cdot
    |r_i| \\cdot |S_i| \\cdot |\\text{pool}_i| \\cdot |\\text{act}_i| \\cdot |\\text{bound}_i|
    \\cdot |h_i| \\Big)

where :math:`S_i` are the allowed non-empty site subsets (:math:`2^k - 1` for ``k`` listed
sites). The parameter names are documented on :class:`bnas.space.schema.SearchSpace`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from bnas.architecture import Architecture, Threshold
from bnas.backbones import BACKBONES
from bnas.errors import BnasError
from bnas.latency_table import LatencyTable, SiteSetting
from bnas.space.blocks import SITE_JOIN, BlockSpace

if TYPE_CHECKING:
    import optuna

    from bnas.space.schema import SearchSpace

# Cheapest first: for the cost extremes (more input statistics, PReLU, tanh cost more).
_COST_ORDER = {
    "pool": ("constant", "mean", "mean_std"),
    "act": ("relu", "prelu"),
    "bound": ("none", "tanh"),
}


# -- sampling -----------------------------------------------------------------------------------


def _suggest(trial: Any, params: dict[str, Any], name: str, choices: Sequence[Any]) -> Any:
    """A categorical parameter; a single choice is a constant and is not suggested."""
    if len(choices) == 1:
        return choices[0]
    params[name] = trial.suggest_categorical(name, list(choices))
    return params[name]


def searched_hyperparameters(space: SearchSpace) -> dict[str, Any]:
    """The ``train:`` distributions the sampler suggests: all of them in a multi-trial
    search; none in a one-shot search, which searches architectures only (its networks train
    with each sampled setting at its central value)."""
    return {} if space.search.strategy == "oneshot" else dict(space.train.sampled)


def define_by_run(space: SearchSpace, trial: optuna.trial.Trial) -> dict[str, Any]:
    """Ray Tune's define-by-run contract: suggest on ``trial``, return constants (or None).

    What is suggested is documented on :class:`~bnas.space.schema.SearchSpace`. Only pure
    sampling happens here (microseconds per parameter); the returned ``arch`` / ``arch_id``
    name the sampled candidate in Ray's config and progress tables.
    """
    params: dict[str, Any] = {}
    grid = space.search.algorithm == "grid"
    for block in space.blocks:
        if grid:
            _suggest(trial, params, block.prefix(), block.labels())
            continue
        kind = _suggest(trial, params, f"{block.prefix()}.threshold", block.threshold)
        if kind == "dynamic":
            for dim, choices in block.generator_dims().items():
                _suggest(trial, params, f"{block.prefix()}.{dim}", choices)
    _suggest(trial, params, "binarizer", space.space.binarizer)
    _suggest(trial, params, "rprelu", space.space.rprelu)
    for key, dist in searched_hyperparameters(space).items():
        params[f"train.{key}"] = dist.suggest(trial, f"train.{key}")
    arch = architecture(space, params)
    return {"arch": arch.summary(), "arch_id": arch.arch_id}


def parameter_names(space: SearchSpace) -> list[str]:
    """Every name :func:`define_by_run` may suggest (conditional ones included), in order."""
    names: list[str] = []
    grid = space.search.algorithm == "grid"
    for block in space.blocks:
        if grid:
            names += [block.prefix()] if block.count() > 1 else []
            continue
        if len(block.threshold) > 1:
            names.append(f"{block.prefix()}.threshold")
        if "dynamic" in block.threshold:
            names += [
                f"{block.prefix()}.{dim}"
                for dim, choices in block.generator_dims().items()
                if len(choices) > 1
            ]
    names += [name for name in ("binarizer", "rprelu") if len(getattr(space.space, name)) > 1]
    return names + [f"train.{key}" for key in searched_hyperparameters(space)]


def _value(params: dict[str, Any], name: str, choices: Sequence[Any]) -> Any:
    if name in params:
        value = params[name]
        if value not in choices:
            raise BnasError(
                f"params: {name} = {value!r} is not a choice of this space; "
                f"valid: {', '.join(map(str, choices))}"
            )
        return value
    if len(choices) == 1:
        return choices[0]
    raise BnasError(f"params: missing {name!r} (choices: {', '.join(map(str, choices))})")


def _block_option(block: BlockSpace, params: dict[str, Any]) -> dict[str, Any]:
    if block.prefix() in params:  # the grid's one categorical per block
        return block.option_for(params[block.prefix()])
    option = {"threshold": _value(params, f"{block.prefix()}.threshold", block.threshold)}
    if option["threshold"] == "dynamic":
        for dim, choices in block.generator_dims().items():
            option[dim] = _value(params, f"{block.prefix()}.{dim}", choices)
    return option


def _build(space: SearchSpace, options: Sequence[dict[str, Any]], binarizer: str,
           rprelu: str) -> Architecture:
    sites = BACKBONES[space.backbone.name].sites
    return Architecture.from_dict(
        {
            "backbone": space.backbone.name,
            "args": space.backbone.args,
            "binarizer": binarizer,
            "rprelu": rprelu,
            "blocks": [
                block.thresholds(option, sites) for block, option in zip(space.blocks, options)
            ],
        },
        source=space.source,
    )


def architecture(space: SearchSpace, params: dict[str, Any]) -> Architecture:
    """The Architecture named by flat ``params``; other keys (``train.*``, Ray's) are ignored."""
    options = [_block_option(block, params) for block in space.blocks]
    return _build(
        space,
        options,
        _value(params, "binarizer", space.space.binarizer),
        _value(params, "rprelu", space.space.rprelu),
    )


def params_of(space: SearchSpace, arch: Architecture) -> dict[str, Any]:
    """The inverse of :func:`architecture`: the parameters :func:`define_by_run` would have
    suggested for ``arch`` (per dimension, as for every algorithm but the grid; single choices
    are constants and left out, as there).

    A BnasError (one line) says where ``arch`` leaves the space: another backbone or
    arguments, a block whose dynamic sites disagree on their settings, or a value that is not
    one of a block's choices.
    """
    where = f"{arch.summary()} is not in the space {space.name}"
    if arch.backbone != space.backbone.name or dict(arch.args) != space.backbone.args:
        raise BnasError(
            f"{where}: it is {arch.backbone} with args {dict(arch.args)}, the space "
            f"{space.backbone.name} with args {space.backbone.args}"
        )
    params: dict[str, Any] = {}

    def choose(name: str, value: Any, choices: Sequence[Any]) -> None:
        if value not in choices:
            raise BnasError(
                f"{where}: {name} = {value!r} is not a choice; valid: "
                f"{', '.join(map(str, choices))}"
            )
        if len(choices) > 1:
            params[name] = value

    for block, thresholds in zip(space.blocks, arch.blocks):
        dynamic = {site: t for site, t in thresholds.items() if t.is_dynamic}
        choose(f"{block.prefix()}.threshold", "dynamic" if dynamic else "static",
               block.threshold)
        if not dynamic:
            continue
        settings = set(dynamic.values())
        if len(settings) > 1:
            raise BnasError(
                f"{where}: block {block.index} gives its dynamic sites different generator "
                "settings; a block of the space has one"
            )
        threshold = settings.pop()
        for dim, choices in block.generator_dims().items():
            value = SITE_JOIN.join(dynamic) if dim == "sites" else getattr(threshold, dim)
            choose(f"{block.prefix()}.{dim}", value, choices)
    choose("binarizer", arch.binarizer, space.space.binarizer)
    choose("rprelu", arch.rprelu, space.space.rprelu)
    return params


def train_settings(space: SearchSpace, params: dict[str, Any]) -> dict[str, Any]:
    """The complete TrainConfig of a trial as a dict: data, fixed values, sampled values."""
    from bnas.train_config import TrainConfig

    settings: dict[str, Any] = {"data": space.data.model_dump(), **space.train.fixed}
    for key, dist in space.train.sampled.items():
        name = f"train.{key}"
        if name not in params:
            raise BnasError(f"params: missing {name!r} ({dist.kind} {dist.values})")
        settings[key] = params[name]
    return TrainConfig.from_dict(settings, source=f"{space.source} train").to_dict()


# -- counting and enumerating -------------------------------------------------------------------


def count_architectures(space: SearchSpace) -> int:
    return (
        len(space.space.binarizer)
        * len(space.space.rprelu)
        * math.prod(block.count() for block in space.blocks)
    )


def count_hyperparameters(space: SearchSpace) -> int | None:
    if any(not dist.is_discrete for dist in space.train.sampled.values()):
        return None
    return math.prod(len(dist.grid_values()) for dist in space.train.sampled.values())


def enumerate_architectures(space: SearchSpace) -> Iterator[Architecture]:
    per_block = [list(block.options()) for block in space.blocks]
    for binarizer in space.space.binarizer:
        for rprelu in space.space.rprelu:
            for options in itertools.product(*per_block):
                yield _build(space, options, binarizer, rprelu)


def grid_search_space(space: SearchSpace) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for block in space.blocks:
        labels = block.labels()
        if len(labels) > 1:
            grid[block.prefix()] = labels
    for name in ("binarizer", "rprelu"):
        choices = list(getattr(space.space, name))
        if len(choices) > 1:
            grid[name] = choices
    for key, dist in searched_hyperparameters(space).items():
        if not dist.is_discrete:
            raise BnasError(
                f"{space.source}: train.{key} is continuous ({dist.kind}); a grid needs "
                "{choice: [...]} or {int: [lo, hi]}"
            )
        grid[f"train.{key}"] = dist.grid_values()
    return grid


def extremes(space: SearchSpace) -> tuple[Architecture, Architecture]:
    """(cheapest, most expensive) candidate, built from cost order, not by profiling all.

    Cheapest: static wherever allowed, else dynamic at the largest rd_ratio and smallest
    min_hidden on the fewest sites (the first such set), with the cheapest variant. Most
    expensive: dynamic wherever allowed, smallest rd_ratio, largest min_hidden, on the largest
    site set, mean_std pooling, PReLU, tanh; RPReLU dynamic if allowed. Generator cost grows
    monotonically with each of these, and blocks add up, so both are exact when a block's
    site sets are nested (the default); with hand-picked single-site sets the cheapest may
    differ by which site is cheaper.
    """
    low, high = [], []
    for block in space.blocks:
        dynamic = {
            "rd_ratio": (max(block.rd_ratio), min(block.rd_ratio)),
            "min_hidden": (min(block.min_hidden), max(block.min_hidden)),
            "sites": (
                min(block.sites, key=lambda s: s.count(SITE_JOIN)),
                max(block.sites, key=lambda s: s.count(SITE_JOIN)),
            ),
        }
        for dim, order in _COST_ORDER.items():
            ranked = sorted(getattr(block, dim), key=order.index)
            dynamic[dim] = (ranked[0], ranked[-1])
        cheap = {"threshold": "dynamic", **{dim: pair[0] for dim, pair in dynamic.items()}}
        dear = {"threshold": "dynamic", **{dim: pair[1] for dim, pair in dynamic.items()}}
        low.append({"threshold": "static"} if "static" in block.threshold else cheap)
        high.append(dear if "dynamic" in block.threshold else {"threshold": "static"})
    binarizer = space.space.binarizer[0]
    rprelu = space.space.rprelu
    return (
        _build(space, low, binarizer, "static" if "static" in rprelu else "dynamic"),
        _build(space, high, binarizer, "dynamic" if "dynamic" in rprelu else "static"),
    )


# -- the dynamic sites a space can sample, and its latency ---------------------------------------


def dynamic_settings(space: SearchSpace) -> list[dict[Threshold, list[str]]]:
    """Per block, each dynamic threshold it can sample and the sites that threshold may
    cover (in backbone order): every part a candidate's cost or latency is composed of."""
    sites = BACKBONES[space.backbone.name].sites
    per_block = []
    for block in space.blocks:
        covers: dict[Threshold, list[str]] = {}
        for option in block.options():
            for site, data in block.thresholds(option, sites).items():
                threshold = Threshold.model_validate(data)
                if threshold.is_dynamic and site not in covers.setdefault(threshold, []):
                    covers[threshold].append(site)
        per_block.append({t: sorted(covers[t], key=sites.index) for t in covers})
    return per_block


def latency_settings(space: SearchSpace) -> list[SiteSetting]:
    """Every site setting a latency table must hold to price any candidate of ``space``."""
    return [SiteSetting(rprelu, index, site, threshold)
            for rprelu in space.space.rprelu
            for index, covers in enumerate(dynamic_settings(space))
            for threshold, sites in covers.items() for site in sites]


def latency_range(space: SearchSpace, table: LatencyTable) -> tuple[float, float]:
    """The fastest and the slowest candidate's predicted latency (ms): exact under the table's
    model (the blocks' extras add up; the shared cost counts once when any site is dynamic),
    found block by block for the candidates with and without a dynamic site, however the
    blocks' settings are ordered."""
    sites = BACKBONES[space.backbone.name].sites
    extras = table.extras_by_setting()
    low, high = math.inf, -math.inf
    for rprelu in space.space.rprelu:
        # (fastest, slowest) extras so far, over the candidates without / with a dynamic site
        bounds = {False: (0.0, 0.0), True: (math.inf, -math.inf)}
        for block in space.blocks:
            step = {False: (math.inf, -math.inf), True: (math.inf, -math.inf)}
            for option in block.options():
                thresholds = [(site, Threshold.model_validate(data))
                              for site, data in block.thresholds(option, sites).items()]
                dynamic = [(site, t) for site, t in thresholds if t.is_dynamic]
                added = sum(extras[SiteSetting(rprelu, block.index, site, t)]
                            for site, t in dynamic)
                for before, (fast, slow) in bounds.items():
                    after = before or bool(dynamic)
                    step[after] = (min(step[after][0], fast + added),
                                   max(step[after][1], slow + added))
            bounds = step
        shared = table.shared_ms.get(rprelu, 0.0)
        for dynamic, (fast, slow) in bounds.items():
            if fast <= slow:  # some candidate of this kind exists
                base = table.static_ms[rprelu] + (shared if dynamic else 0.0)
                low, high = min(low, base + fast), max(high, base + slow)
    return low, high
