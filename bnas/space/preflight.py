"""One preflight: what every trial of a search would find out, found before the search starts.

A search whose trials cannot succeed used to start anyway: Ray started, a run directory was
written, every trial failed the same way and the search exited 0. Everything a trial would
discover *deterministically* is checked here instead, by the same functions the trials run
(bnas.train's :func:`~bnas.train.prepare_data`, teacher loading and device resolution, the
cost model), before Ray starts and before anything is written. ``bnas validate`` and ``bnas
search`` run this one function, so they give the same verdict; ``bnas train`` runs the
training part itself before it writes anything.

In file order, each failure one located line (``space.yaml:LINE path: what``):

- the training settings at every edge of their distributions: the device, the teacher;
- the data: root, layout, classes, a decodable image, a non-empty validation split, the
  architecture fitted to it; a one-shot search's ``evaluate.bn_batches`` clamped (with a
  note, :attr:`SearchSpace.notes`) to the batches its training split holds;
- the latency table, where the space uses latency (``latency_ms``, ``max_latency_ms``,
  ``search.latency``): the given one read and checked against the space, or this machine's
  cached one loaded, or measured now (with progress);
- the budgets: the cheapest candidate must meet every one of ``search.constraints``;
- this machine, for a local search: CPUs and GPUs a trial (or a supernet worker) asks for;
  the memory of training the largest candidate at the largest batch, as many at a time as
  the search runs (:func:`bnas.profile.training_memory`).

A search on an existing cluster (``--address``) checks what does not depend on the machine
it is launched from; the cluster's nodes are checked once connected (bnas.search).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

from bnas.costs import CONSTRAINTS, LATENCY_KEYS, excess
from bnas.errors import BnasError, LocatedError
from bnas.space.sections import LatencySettings

if TYPE_CHECKING:
    from bnas.architecture import Architecture
    from bnas.latency_table import LatencyTable
    from bnas.profile._latency import Progress
    from bnas.space.schema import SearchSpace
    from bnas.train_config import TrainConfig

GIB = 2**30


def preflight(space: SearchSpace, *, local: bool = True) -> None:
    """Refuse a search that cannot succeed (see the module docstring); a BnasError if so."""
    try:
        configs = edge_configs(space)
        cheapest, largest = space.extremes()
        _check_training_settings(space, configs)
        _clamp_calibration(space, _check_data(cheapest, configs[0]))
        space.latency_table(progress=print_progress)
        _check_budgets(space, cheapest)
        if local:
            _check_resources(space)
            _check_memory(space, largest)
    except LocatedError as error:
        raise space.located(error) from None


def edge_configs(space: SearchSpace) -> list[TrainConfig]:
    """The training settings a search may give a trial, at the edges of every distribution
    (all lows, all highs, each choice): what the schema validated, now as TrainConfigs."""
    from bnas.space.distributions import edge_settings
    from bnas.train_config import TrainConfig

    data = space.data.model_dump()
    return [TrainConfig.from_dict({"data": data, **settings}, source=space.source)
            for settings in edge_settings(space.train.fixed, space.train.sampled)]


def _check_training_settings(space: SearchSpace, configs: list[TrainConfig]) -> None:
    from bnas.datasets import dataset_facts
    from bnas.train.distillation import load_teacher
    from bnas.train.runtime import resolve_device

    for config in configs:
        try:
            resolve_device(config.device)
        except BnasError as error:
            raise LocatedError(("train", "device"), str(error).removeprefix("device: ")) from None
    teachers = {(config.teacher, config.teacher_checkpoint) for config in configs
                if config.teacher is not None}
    args = space.backbone.args
    facts = dataset_facts(space.data.name)
    for teacher, checkpoint in sorted(teachers):
        try:
            load_teacher(teacher, checkpoint, args.get("num_classes", facts.num_classes),
                         args.get("in_chans", facts.in_chans))
        except BnasError as error:
            raise LocatedError(("train", "teacher"),
                               str(error).removeprefix("teacher: ")) from None
        except OSError as error:
            raise LocatedError(("train", "teacher"), f"{teacher}: {error}") from None


def _check_data(arch: Architecture, config: TrainConfig) -> int:
    """The trials' own data preparation, plus one image decoded from each split; returns the
    number of training images."""
    from bnas.train import prepare_data

    try:
        prepared = prepare_data(arch, config)
        prepared.splits.train[0]
        prepared.splits.val[0]
    except BnasError as error:
        raise LocatedError(("data",), str(error)) from None
    except OSError as error:
        raise LocatedError(("data",), f"{config.data.name}: {error}") from None
    return len(prepared.splits.train)


def _clamp_calibration(space: SearchSpace, train_images: int) -> None:
    """A one-shot search recalibrates BatchNorm on ``bn_batches`` training batches: at most as
    many as the training split holds (a loader would silently give fewer), with a note."""
    evaluate = space.search.evaluate
    if space.search.strategy != "oneshot" or evaluate is None:
        return
    batch = int(space.train.central_setting("batch_size"))
    available = math.ceil(train_images / batch)
    if evaluate.bn_batches > available:
        space._notes.append(
            f"search.evaluate.bn_batches {evaluate.bn_batches:,} is more than the training "
            f"split holds ({train_images:,} images in batches of {batch}): clamped to "
            f"{available}")
        evaluate.bn_batches = available


def check_budgets(space: SearchSpace) -> None:
    """Even the cheapest candidate must meet every budget, or no candidate could train."""
    try:
        _check_budgets(space, space.extremes()[0])
    except LocatedError as error:
        raise space.located(error) from None


def _check_budgets(space: SearchSpace, cheapest: Architecture) -> None:
    from dataclasses import replace

    from bnas.profile import profile_architecture

    budgets = space.search.constraints.as_dict()
    if not budgets:
        return
    cost = profile_architecture(cheapest)
    table = space.latency_table()
    if table is not None:  # the fastest candidate, which need not be the one with fewest OPs
        cost = replace(cost, latency_ms=space.latency_range(table)[0])
    for name, relative in excess(cost, budgets).items():
        if relative > 0:
            key = CONSTRAINTS[name]
            raise LocatedError(
                ("search", "constraints", name),
                f"even the cheapest candidate is over budget ({key} "
                f"{getattr(cost, key):.4g} > {name} {budgets[name]:.4g}): no candidate could "
                "be trained",
            )


def print_progress(line: str) -> None:
    print(line, flush=True)


def latency_table(space: SearchSpace, progress: Progress | None = None) -> LatencyTable | None:
    """The latency table that prices ``space``'s candidates (None when it uses no latency):
    ``search.latency.table`` read and checked against the space, or this machine's, cached or
    measured now (:func:`bnas.profile.latency_table`); a problem is a LocatedError at the key
    that asked for latency."""
    search = space.search
    if not search.uses_latency:
        return None
    from bnas.profile import latency_table

    settings = search.latency or LatencySettings()
    try:
        return latency_table(space.backbone.name, space.backbone.args, space.space.rprelu,
                             space.latency_settings(), path=settings.table,
                             threads=settings.threads, precision=settings.precision,
                             batch=settings.batch, progress=progress)
    except BnasError as error:
        raise LocatedError(_asks_for_latency(space), str(error)) from None


def _asks_for_latency(space: SearchSpace) -> tuple[str, ...]:
    search = space.search
    if search.latency is not None:
        return ("search", "latency", "table") if search.latency.table else ("search", "latency")
    objective = [metric for metric in search.objectives if metric in LATENCY_KEYS]
    if objective:
        return ("search", "objectives", objective[0])
    budget = next(name for name in search.constraints_dict() if CONSTRAINTS[name] in LATENCY_KEYS)
    return ("search", "constraints", budget)


def workers_that_fit(space: SearchSpace, cpus: float, gpus: float) -> int:
    """How many trials run at once with ``cpus`` and ``gpus`` (a machine's or a cluster's):
    ``search.max_concurrent``, or fewer when only fewer fit, at least one. A one-shot search
    starts that many evaluation workers too (more would wait for resources forever)."""
    search = space.search
    resources = search.resources_per_trial
    fit = math.floor(cpus / resources.cpu)
    if resources.gpu > 0:
        fit = min(fit, math.floor(gpus / resources.gpu))
    return max(1, min(search.max_concurrent, fit))


def machine_workers(space: SearchSpace) -> int:
    """:func:`workers_that_fit` on this machine."""
    import torch

    from bnas.train.runtime import available_cpus

    return workers_that_fit(space, available_cpus(), torch.cuda.device_count())


def _parallel(space: SearchSpace) -> int:
    """How many trials (or supernet processes: seeds × workers, or a one-shot search's
    retrained candidates) train at once on this machine."""
    search = space.search
    if search.strategy == "oneshot":
        return max(search.supernet.seeds * search.supernet.workers, machine_workers(space))
    return machine_workers(space)


def _check_resources(space: SearchSpace) -> None:
    """A trial asking for more than this machine has would wait for it forever."""
    import torch

    from bnas.train.runtime import available_cpus

    search = space.search
    resources = search.resources_per_trial
    cpus, gpus = available_cpus(), torch.cuda.device_count()
    workers, what = 1, "a trial"
    if search.strategy == "oneshot":
        supernet = search.supernet
        workers = supernet.seeds * supernet.workers
        if workers > 1:
            what = (f"{supernet.seeds} supernet seeds × {supernet.workers} workers"
                    if supernet.seeds > 1 else f"{workers} supernet workers")
    asks = "asks" if workers == 1 else "ask"
    if resources.cpu * workers > cpus:
        raise LocatedError(
            ("search", "resources_per_trial", "cpu"),
            f"{what} {asks} for {resources.cpu * workers:g} CPUs, this machine has {cpus}: Ray "
            "would wait for them forever (lower it, or search on a cluster with --address)",
        )
    if resources.gpu * workers > gpus:
        raise LocatedError(
            ("search", "resources_per_trial", "gpu"),
            f"{what} {asks} for {resources.gpu * workers:g} GPUs, this machine has {gpus}",
        )


def machine_memory() -> int:
    """Bytes of memory this machine has."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _largest_batch(space: SearchSpace) -> tuple[int, bool]:
    """The largest batch size a trial may train with, and whether the space sets it."""
    from bnas.train_config import TrainConfig

    train = space.train
    if "batch_size" in train.sampled:
        return max(int(value) for value in train.sampled["batch_size"].values), True
    if "batch_size" in train.fixed:
        return int(train.fixed["batch_size"]), True
    return int(TrainConfig.model_fields["batch_size"].default), False


def _check_memory(space: SearchSpace, largest: Architecture) -> None:
    """The largest candidate, trained by as many trials as run at once, must fit in memory;
    blamed on the space's choices when the all-static network would fit."""
    from bnas.profile import training_memory

    batch, batch_given = _largest_batch(space)
    at_once = _parallel(space)
    available = machine_memory()
    need = training_memory(largest, batch)
    if need.total_bytes * at_once <= available:
        return
    static = largest.with_static_thresholds()
    static_fits = training_memory(static, batch).total_bytes * at_once <= available
    loc: tuple[str, ...] = ("space",) if static_fits else (
        ("train", "batch_size") if batch_given else ("backbone",))
    times = f", {at_once} at a time" if at_once > 1 else ""
    raise LocatedError(
        loc,
        f"training {largest.summary()} at batch {batch}{times} needs about "
        f"{need.total_bytes * at_once / GIB:.3g} GiB ({need.parameters:,} parameters with their "
        f"gradients and Adam state {need.parameter_bytes / GIB:.3g} GiB, activations "
        f"{(need.total_bytes - need.parameter_bytes) / GIB:.3g} GiB), this machine has "
        f"{available / GIB:.3g} GiB",
    )


def describe_memory(space: SearchSpace) -> str:
    """One line for ``bnas validate``: the estimate for the largest candidate."""
    from bnas.profile import training_memory

    _, largest = space.extremes()
    batch, _ = _largest_batch(space)
    need = training_memory(largest, batch)
    return (f"{need.total_bytes / GIB:.3g} GiB to train {largest.summary()} at batch {batch} "
            f"(this machine has {machine_memory() / GIB:.3g} GiB)")

