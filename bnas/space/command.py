"""``bnas validate SPACE.yaml``: check a search space, print its size and its OPs range.

Exit 0 when the file is valid, 2 (one ``bnas: error: file:line path: ...`` line) when not.
Nothing is written. The check itself needs no torch; the cost range (the cheapest and the
most expensive candidate, profiled with :func:`bnas.profile.profile_architecture`) does, and
``--no-ops`` skips it. A budget (``search.constraints``) that even the cheapest candidate
exceeds is an error: the search could not train anything. Only the standard library is
imported at module level.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bnas.costs import CONSTRAINTS, excess
from bnas.errors import BnasError

if TYPE_CHECKING:
    from bnas.costs import Cost
    from bnas.space.schema import SearchSpace

_PARAMS_SHOWN = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("space", metavar="SPACE.yaml", help="search-space file")
    parser.add_argument(
        "--no-ops", action="store_true",
        help="skip the cost range (profiling imports torch: ~3 s)",
    )


def run(args: argparse.Namespace) -> int:
    from bnas.space import load_space

    space = load_space(args.space)
    print(f"{args.space}: valid")
    for label, text in describe(space):
        print(f"  {label:<13} {text}")
    if not args.no_ops:
        for label, text in cost_range(space):
            print(f"  {label:<13} {text}")
    for note in notes(space):
        print(f"  note: {note}")
    return 0


def _count(number: int) -> str:
    return f"{number:,}" if number < 10**9 else f"{number:.3g}"


def describe(space: SearchSpace) -> list[tuple[str, str]]:
    """(label, text) rows: what the space is, how big, how it is searched."""
    from bnas.backbones import BACKBONES
    from bnas.space.sampling import parameter_names

    info = BACKBONES[space.backbone.name]
    args = ", ".join(f"{key}={value}" for key, value in space.backbone.args.items())
    per_block = [block.count() for block in space.blocks]
    extra = [
        f"{name} {len(getattr(space.space, name))}"
        for name in ("binarizer", "rprelu")
        if len(getattr(space.space, name)) > 1
    ]
    shape = " ".join(map(str, per_block)) if len(set(per_block)) > 1 else (
        f"{per_block[0]} each"
    )
    combos = space.hyperparameter_combinations()
    sampled = space.train.sampled
    if not sampled:
        hyper = "fixed"
    elif combos is None:
        hyper = "continuous: " + ", ".join(
            f"train.{key} {dist.kind} {dist.values}" for key, dist in sampled.items()
        )
    else:
        hyper = f"{_count(combos)} combinations of " + ", ".join(f"train.{k}" for k in sampled)
    names = parameter_names(space)
    shown = ", ".join(names[:_PARAMS_SHOWN]) + (", ..." if len(names) > _PARAMS_SHOWN else "")
    search = space.search
    objectives = ", ".join(f"{metric} ({mode})" for metric, mode in search.objectives.items())
    asha = search.scheduler.asha
    stopping = (
        f"ASHA on {asha.metric} (grace {asha.grace_period}, reduction {asha.reduction_factor:g})"
        if asha is not None else "no early stopping"
    )
    resources = search.resources_per_trial
    rows = [
        ("name", space.name),
        ("backbone", f"{info.name} ({args}): {len(space.blocks)} blocks, "
                     f"sites {', '.join(info.sites)}"),
        ("data", f"{space.data.name}" + (f" at {space.data.root}" if space.data.root else "")
         + (f", {space.data.subset} per class" if space.data.subset else "")),
        ("architectures", f"{_count(space.size())} (settings per block: {shape}"
                          + (f"; {', '.join(extra)}" if extra else "") + ")"),
        ("hyperparams", hyper),
        ("parameters", f"{len(names)} ({shown})" if names else "none: one candidate"),
        ("search", f"{search.algorithm} on {objectives}, {search.num_samples} trials, "
                   f"{search.max_concurrent} at a time, seed {search.seed}"),
        ("trials", f"{space.epochs} epochs each, {stopping}; "
                   f"{resources.cpu:g} CPU + {resources.gpu:g} GPU per trial"),
    ]
    if search.algorithm == "grid":
        rows.append(("grid", f"{_count(search.num_samples or 0)} of "
                             f"{_count(space.size() * (combos or 1))} points"))
    return rows


def cost_range(space: SearchSpace) -> list[tuple[str, str]]:
    """OPs and size of the cheapest and the most expensive candidate; budgets checked."""
    from bnas.profile import profile_architecture

    cheap_arch, dear_arch = space.extremes()
    try:
        cheap, dear = profile_architecture(cheap_arch), profile_architecture(dear_arch)
    except BnasError:
        raise
    except Exception as error:  # a bug in a model or the profiler, not in this file
        reason = (str(error).splitlines() or [""])[0]
        return [("OPs", f"not computed: bnas.profile failed ({type(error).__name__}: {reason})")]
    rows = [
        ("OPs", f"{_ops(cheap.ops)} .. {_ops(dear.ops)}   "
                f"({cheap_arch.summary()} .. {dear_arch.summary()})"),
        ("BOPs / FLOPs", f"{_ops(cheap.bops)} .. {_ops(dear.bops)} / "
                         f"{_ops(cheap.flops)} .. {_ops(dear.flops)}"),
        ("size", f"{cheap.size_mib:.3f} .. {dear.size_mib:.3f} MiB "
                 f"(generators up to {dear.generator_size_mib:.3f} MiB)"),
    ]
    budgets = space.search.constraints.as_dict()
    if budgets:
        cheap_over = _over_budget(cheap, budgets)
        if cheap_over:
            _fail_constraint(space, *cheap_over[0])
        over = [problem for _, problem in _over_budget(dear, budgets)]
        rows.append((
            "constraints",
            ", ".join(f"{key} {value:g}" for key, value in budgets.items())
            + (f": the most expensive exceeds ({'; '.join(over)}); such candidates are "
               "not trained" if over else ": every candidate fits"),
        ))
    return rows


def _over_budget(cost: Cost, budgets: dict[str, float]) -> list[tuple[str, str]]:
    """(budget, "ops 4.8e+04 > max_ops 4e+04") for each budget ``cost`` exceeds."""
    return [
        (name, f"{CONSTRAINTS[name]} {getattr(cost, CONSTRAINTS[name]):.4g} > "
               f"{name} {budgets[name]:.4g}")
        for name, relative in excess(cost, budgets).items()
        if relative > 0
    ]


def _fail_constraint(space: SearchSpace, key: str, problem: str) -> None:
    from bnas.reading import load_yaml

    loc = ("search", "constraints", key)
    where = load_yaml(space.source_text, space.source).where(loc)
    raise BnasError(
        f"{where} search.constraints.{key}: even the cheapest candidate is over budget "
        f"({problem}): no candidate could be trained"
    )


def _ops(value: float) -> str:
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g}"


def notes(space: SearchSpace) -> list[str]:
    """Things that are valid but worth a look (not errors: the search may run elsewhere)."""
    found = []
    root = space.data.root
    if root is not None and not Path(root).expanduser().exists():
        found.append(f"data.root {root} does not exist here (relative to this directory)")
    asha = space.search.scheduler.asha
    if asha is not None and asha.grace_period == space.epochs:
        found.append("asha.grace_period equals train.epochs: ASHA will stop nothing")
    return found
