"""``bnas validate SPACE.yaml``: check a search space, print its size and its cost range.

Exit 0 when a search of the space could run here, 2 (one ``bnas: error: file:line path: ...``
line) when not: the file, then the same preflight ``bnas search`` runs before it starts
(:mod:`bnas.space.preflight`: data, teacher, device, budgets, this machine's CPUs, GPUs and
memory), so the two commands agree. Nothing is written. The cost range (the cheapest and the
most expensive candidate, profiled with :func:`bnas.profile.profile_architecture`) is printed
unless ``--no-ops``, with the predicted latency range when the space uses latency (the
preflight builds or loads its latency table). Only the standard library is imported at module
level.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from bnas.costs import CONSTRAINTS, excess
from bnas.errors import BnasError

if TYPE_CHECKING:
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
    from bnas.space.preflight import describe_memory, preflight

    space = load_space(args.space)
    preflight(space)
    print(f"{args.space}: valid")
    for label, text in describe(space):
        print(f"  {label:<13} {text}")
    if not args.no_ops:
        for label, text in cost_range(space):
            print(f"  {label:<13} {text}")
        print(f"  {'memory':<13} {describe_memory(space)}")
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
         + f", {space.backbone.args['num_classes']} classes"
         + (" (its class folders, counted as torchvision's ImageFolder counts them)"
            if space.counted_classes else "")
         + (f", {space.data.subset} per class" if space.data.subset else "")),
        ("architectures", f"{_count(space.size())} (settings per block: {shape}"
                          + (f"; {', '.join(extra)}" if extra else "") + ")"),
        ("hyperparams", hyper),
        ("parameters", f"{len(names)} ({shown})" if names else "none: one candidate"),
    ]
    per_trial = f"{resources.cpu:g} CPU + {resources.gpu:g} GPU"
    if search.strategy == "oneshot":
        return rows + oneshot_plan(space, objectives, stopping, per_trial)
    rows += [
        ("search", f"{search.algorithm} on {objectives}, {search.num_samples} trials, "
                   f"{search.max_concurrent} at a time, seed {search.seed}"),
        ("trials", f"{space.epochs} epochs each, {stopping}; {per_trial} per trial"),
    ]
    if search.algorithm == "grid":
        rows.append(("grid", f"{_count(search.num_samples or 0)} of "
                             f"{_count(space.size() * (combos or 1))} points"))
    return rows


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def oneshot_plan(space: SearchSpace, objectives: str, stopping: str,
                 per_trial: str) -> list[tuple[str, str]]:
    """The rows of a one-shot search: the supernet, the scoring, the retraining, the cost in
    candidate-epochs (one candidate's forward and backward passes over the training data)."""
    search = space.search
    supernet, evaluate = search.supernet, search.evaluate
    assert supernet is not None and evaluate is not None  # filled for oneshot by the checks
    per_step = supernet.candidates_per_step
    supernet_cost = supernet.epochs * per_step * supernet.seeds
    sampling = supernet.sampling
    if sampling == "sandwich":
        sampling += " (largest, smallest" + (f" and {per_step - 2} fair" if per_step > 2
                                             else "") + ")"
        if supernet.inplace_distillation:
            sampling += ", in-place distillation from the largest"
    start = "warm-started from the supernet" if evaluate.warm_start else "from scratch"
    fixed = ", ".join(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
                      for key, value in space.train.central_params().items())
    if evaluate.retrain == "top_k":
        retrained = f"the top {evaluate.top_k}"
        retrain_cost = evaluate.top_k * space.epochs
        total = f"{_count(supernet_cost + retrain_cost)} candidate-epochs"
    else:
        retrained = "the Pareto set (its size is known after scoring)"
        retrain_cost = None
        total = f"{_count(supernet_cost)} candidate-epochs + {space.epochs} per Pareto candidate"
    first = space.train_settings(space.train.central_params())["seed"]
    seeds = (f"{supernet.seeds} supernets side by side (seeds {first}"
             f"..{first + supernet.seeds - 1}), each" if supernet.seeds > 1
             else "one supernet,")
    ranking = ("the validation split" if evaluate.ranking_images is None
               else f"{evaluate.ranking_images} validation images")
    return [
        ("search", f"oneshot: train {'supernets' if supernet.seeds > 1 else 'one supernet'}, "
                   f"score candidates with inherited weights ({search.algorithm} on "
                   f"{objectives}), retrain the best; seed {search.seed}"),
        ("supernet", f"{seeds} {_plural(supernet.epochs, 'epoch')}, {sampling}, "
                     f"{_plural(per_step, 'candidate')} per step: {_count(supernet_cost)} "
                     f"candidate-epochs in all; {_plural(supernet.workers, 'worker')} each with "
                     f"{per_trial}"
                     + (f"; sampled settings at their middle: {fixed}" if fixed else "")),
        ("scoring", f"{_plural(evaluate.candidates, 'candidate')} of "
                    f"{_count(space.size())} with inherited weights"
                    + (" of every seed (the search follows their mean)" if supernet.seeds > 1
                       else "")
                    + f", BatchNorm re-estimated on "
                    f"{_plural(evaluate.bn_batches, 'batch', 'batches')}, ranked on {ranking} "
                    f"(forward passes only), {evaluate.batch} per worker and round"),
        ("retraining", f"{retrained} stand-alone, {space.epochs} epochs each {start}"
                       + (f": {_count(retrain_cost)} candidate-epochs" if retrain_cost else "")
                       + f"; {stopping}; {search.max_concurrent} at a time, {per_trial} each"),
        ("cost", f"{total} (supernet + retraining), against {space.epochs} for training one "
                 "candidate"),
    ]


def cost_range(space: SearchSpace) -> list[tuple[str, str]]:
    """OPs and size of the cheapest and the most expensive candidate; budgets checked."""
    from bnas.profile import profile_architecture
    from bnas.space.preflight import check_budgets

    cheap_arch, dear_arch = space.extremes()
    try:
        cheap, dear = profile_architecture(cheap_arch), profile_architecture(dear_arch)
    except BnasError:
        raise
    except Exception as error:  # a bug in a model or the profiler, not in this file
        reason = (str(error).splitlines() or [""])[0]
        return [("OPs", f"not computed: bnas.profile failed ({type(error).__name__}: {reason})")]
    latency = []
    table = space.latency_table()  # the preflight built or loaded it
    if table is not None:
        fastest, slowest = space.latency_range(table)
        cheap, dear = replace(cheap, latency_ms=fastest), replace(dear, latency_ms=slowest)
        latency = [("latency", f"{fastest:.4g} .. {slowest:.4g} ms predicted, bit-packed on "
                               f"{table.device.describe()}"),
                   ("latency table", f"{table.source or 'not saved'}, measured in "
                                     f"{table.seconds:.0f} s")]
    rows = [
        ("OPs", f"{_ops(cheap.ops)} .. {_ops(dear.ops)}   "
                f"({cheap_arch.summary()} .. {dear_arch.summary()})"),
        ("BOPs / FLOPs", f"{_ops(cheap.bops)} .. {_ops(dear.bops)} / "
                         f"{_ops(cheap.flops)} .. {_ops(dear.flops)}"),
        ("size", f"{cheap.size_mib:.3f} .. {dear.size_mib:.3f} MiB "
                 f"(generators up to {dear.generator_size_mib:.3f} MiB)"),
        *latency,
    ]
    budgets = space.search.constraints.as_dict()
    if budgets:
        check_budgets(space)
        over = [f"{CONSTRAINTS[name]} {getattr(dear, CONSTRAINTS[name]):.4g} > {name} "
                f"{budgets[name]:.4g}" for name, value in excess(dear, budgets).items()
                if value > 0]
        rows.append((
            "constraints",
            ", ".join(f"{key} {value:g}" for key, value in budgets.items())
            + (f": the most expensive exceeds ({'; '.join(over)}); such candidates are "
               "not trained" if over else ": every candidate fits"),
        ))
    return rows


def _ops(value: float) -> str:
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g}"


def notes(space: SearchSpace) -> list[str]:
    """Things that are valid but worth a look, and settings the checks clamped."""
    from bnas.space.preflight import machine_workers

    found = space.notes
    search = space.search
    workers = machine_workers(space)
    if search.strategy == "oneshot" and workers < search.max_concurrent:
        found.append(f"search.max_concurrent {search.max_concurrent}: {workers} evaluation "
                     f"worker(s) at a time, as many as this machine holds with "
                     f"{search.resources_per_trial.cpu:g} CPU each")
    asha = space.search.scheduler.asha
    if asha is not None and asha.grace_period == space.epochs:
        found.append("asha.grace_period equals train.epochs: ASHA will stop nothing")
    return found
