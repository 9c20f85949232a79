"""Checks that span sections of a search space, in file order, each blaming one YAML path.

- the backbone's arguments against their declaration (:mod:`bnas.backbones`), and its input
  arguments against the dataset (:func:`bnas.datasets.fit_to_data`), filling what it leaves out;
- the objectives, ASHA and grid settings against each other and against ``train:``.

Per-block choices are checked where they are resolved (:mod:`bnas.space.blocks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bnas.backbones import BACKBONES
from bnas.costs import COST_KEYS
from bnas.datasets import class_folders, dataset_facts, fit_to_data
from bnas.errors import BnasError, Loc, LocatedError
from bnas.space.sections import (
    EPOCH_METRICS,
    MULTI_OBJECTIVE,
    EvaluateSettings,
    SupernetSettings,
)

if TYPE_CHECKING:
    from bnas.space.schema import SearchSpace

# What scoring a candidate with inherited weights measures (bnas.supernet.evaluate_candidate).
ONESHOT_METRICS = ("val_top1", "val_top5", "val_loss")


def check_backbone_and_data(space: SearchSpace) -> None:
    """Validate ``backbone:`` against the declaration of its arguments, then make the model's
    input match the data: fill what the backbone leaves out, refuse what contradicts it."""
    backbone, data = space.backbone, space.data
    info = BACKBONES.get(backbone.name)
    if info is None:
        raise LocatedError(
            ("backbone", "name"),
            f"unknown backbone {backbone.name!r}; valid: {', '.join(sorted(BACKBONES))}",
        )
    try:
        checked = info.check_args(backbone.args)
    except LocatedError as error:
        raise LocatedError(("backbone", *error.loc), error.detail) from None
    args = {key: getattr(checked, key) for key in backbone.args}
    facts = dataset_facts(data.name)
    img_size = data.img_size or facts.img_size or args.get("img_size")
    if img_size is None:
        raise LocatedError(("data",), f"{data.name} images vary in size: set data.img_size")
    if facts.num_classes is None and data.root is None:
        raise LocatedError(("data",), f"{data.name} needs root: the folder holding train/ and val/")
    if facts.num_classes is None and "num_classes" not in args:
        # as many classes as folders, counted as torchvision's ImageFolder counts them
        try:
            args["num_classes"] = len(class_folders(data.root))
        except BnasError as error:
            raise LocatedError(("data", "root"),
                               f"{error}; or set backbone.num_classes") from None
        space._counted_classes = True
    from_files = args.get("num_classes") if facts.num_classes is None else None
    shape = facts.info(img_size=img_size, num_classes=from_files)
    try:
        backbone.args = fit_to_data(args, shape, data.name)
    except LocatedError as error:
        raise LocatedError(("backbone", *error.loc), error.detail) from None
    if facts.img_size is None:
        data.img_size = backbone.args["img_size"]


def check_strategy(space: SearchSpace) -> None:
    """``supernet:`` / ``evaluate:`` belong to a one-shot search, ``num_samples`` to a
    multi-trial one; a one-shot search gets both sections filled with their defaults.

    A one-shot search searches architectures only (the supernet and every retrained
    candidate train with one recipe, sampled settings at their central value), and its
    objectives are what a candidate's inherited-weight scoring measures, plus costs."""
    search = space.search
    if search.strategy == "multitrial":
        for key in ("supernet", "evaluate"):
            if getattr(search, key) is not None:
                raise LocatedError(("search", key),
                                   "applies to strategy: oneshot (this search is multitrial)")
        return
    if search.num_samples is not None:
        raise LocatedError(
            ("search", "num_samples"),
            "a one-shot search trains one supernet: set search.evaluate.candidates (how many "
            "to score) and search.evaluate.top_k (how many to retrain) instead",
        )
    for metric in search.objectives:
        if metric not in ONESHOT_METRICS + COST_KEYS:
            raise LocatedError(
                ("search", "objectives", metric),
                f"a one-shot search scores candidates on the validation split with inherited "
                f"weights: {metric!r} is not measured there; valid: "
                f"{', '.join(ONESHOT_METRICS + COST_KEYS)}",
            )
    supernet = search.supernet = (search.supernet or SupernetSettings()).filled(
        space.train.epochs)
    search.evaluate = search.evaluate or EvaluateSettings()
    if supernet.sampling == "sandwich" and supernet.candidates_per_step < 2:
        raise LocatedError(
            ("search", "supernet", "candidates_per_step"),
            f"{supernet.candidates_per_step}: the sandwich rule trains the largest and the "
            "smallest candidate every step: give 2 or more",
        )
    batch_size = int(space.train.central_setting("batch_size"))
    if batch_size % supernet.workers:
        raise LocatedError(
            ("search", "supernet", "workers"),
            f"{supernet.workers}: train.batch_size {batch_size} does not split evenly over "
            "them (each data-parallel worker takes batch_size / workers images of a step)",
        )


# Points of a grid bnas lets Optuna's GridSampler hold: it lists every point and scans the list
# for unvisited ones at every trial (measured here: 6 ms per trial at 10**4 points, 63 ms at
# 10**5), so a larger grid is refused by its size, counted, never listed.
MAX_GRID_POINTS = 100_000


def check_grid_size(points: int, visits: str) -> None:
    """Refuse a grid too large to list (:data:`MAX_GRID_POINTS`), saying the numbers."""
    if points > MAX_GRID_POINTS:
        size = f"{points:,}" if points < 10**9 else f"{points:.3g}"
        raise LocatedError(
            ("search", "algorithm"),
            f"grid: the space has {size} grid points, more than a grid search lists "
            f"({MAX_GRID_POINTS:,}), for {visits}: use algorithm random or tpe to sample "
            "from it",
        )


def check_candidates(space: SearchSpace) -> None:
    """A one-shot search proposes at most as many candidates as the space has architectures
    and retrains at most as many as it proposes: larger settings are clamped, with a note."""
    evaluate = space.search.evaluate
    assert evaluate is not None  # filled by check_strategy
    size = space.size()
    if space.search.algorithm == "grid":
        check_grid_size(size, f"evaluate.candidates {evaluate.candidates:,}")
    if evaluate.candidates > size:
        space._notes.append(
            f"search.evaluate.candidates {evaluate.candidates:,} is more than the space's "
            f"{size:,} architectures: clamped to {size:,}")
        evaluate.candidates = size
    if evaluate.retrain == "top_k" and evaluate.top_k > evaluate.candidates:
        space._notes.append(
            f"search.evaluate.top_k {evaluate.top_k:,} is more than the {evaluate.candidates:,} "
            f"candidates proposed: clamped to {evaluate.candidates:,}")
        evaluate.top_k = evaluate.candidates


def check_search(space: SearchSpace) -> None:
    """Objectives, ASHA and grid settings against each other and against ``train:``; fills
    ASHA's metric / mode and a grid's num_samples where the space leaves them out."""
    check_strategy(space)
    search = space.search
    objectives = search.objectives
    known = EPOCH_METRICS + COST_KEYS
    for metric in objectives:
        if metric not in known:
            raise LocatedError(
                ("search", "objectives", metric),
                f"unknown metric {metric!r}; valid: {', '.join(known)}",
            )
    if not any(metric in EPOCH_METRICS for metric in objectives):
        measured = ONESHOT_METRICS if search.strategy == "oneshot" else EPOCH_METRICS
        raise LocatedError(
            ("search", "objectives"),
            "no trained metric (only costs): add one of " + ", ".join(measured),
        )
    multi = search.algorithm in MULTI_OBJECTIVE
    if multi and len(objectives) < 2:
        raise LocatedError(
            ("search", "objectives"),
            f"{search.algorithm} is multi-objective: give two or more, e.g. "
            "{val_top1: max, ops: min} (or use algorithm: tpe)",
        )
    if not multi and len(objectives) > 1:
        raise LocatedError(
            ("search", "objectives"),
            f"{search.algorithm} optimizes one objective, got {len(objectives)}: "
            "use algorithm: nsga2, or keep one and put costs in search.constraints",
        )
    asha = search.scheduler.asha
    epochs = space.train.epochs
    if asha is not None:
        loc: Loc = ("search", "scheduler", "asha")
        if asha.metric is None:
            if len(objectives) > 1:
                raise LocatedError(
                    loc,
                    "ASHA stops trials on one metric: set metric (e.g. val_top1) and mode "
                    "when there are several objectives",
                )
            asha.metric = next(iter(objectives))
        if asha.metric not in EPOCH_METRICS:
            raise LocatedError(
                (*loc, "metric"),
                f"ASHA compares trials epoch by epoch: {asha.metric!r} is not reported per "
                f"epoch; valid: {', '.join(EPOCH_METRICS)}",
            )
        if asha.mode is None:
            if asha.metric not in objectives:
                raise LocatedError(loc, f"set mode (max or min) for ASHA's metric {asha.metric}")
            asha.mode = objectives[asha.metric]
        if asha.grace_period > epochs:
            raise LocatedError(
                (*loc, "grace_period"),
                f"{asha.grace_period} exceeds train.epochs ({epochs}): ASHA would never stop "
                "a trial",
            )
    if search.strategy == "oneshot":
        check_candidates(space)
    elif search.algorithm == "grid":
        for key, dist in space.train.sampled.items():
            if not dist.is_discrete:
                raise LocatedError(
                    ("train", key),
                    f"grid search needs discrete values: {dist.kind} is continuous; use "
                    "{choice: [...]} or {int: [lo, hi]}",
                )
        points = space.size() * (space.hyperparameter_combinations() or 1)
        check_grid_size(points, f"num_samples {search.num_samples:,}"
                        if search.num_samples is not None else "the whole grid")
        if search.num_samples is None:
            search.num_samples = points
        elif search.num_samples > points:
            raise LocatedError(
                ("search", "num_samples"),
                f"{search.num_samples} exceeds the grid's {points} points: trials would "
                "repeat (leave num_samples out to run the whole grid)",
            )
    elif search.num_samples is None and search.strategy == "multitrial":
        raise LocatedError(
            ("search",), f"num_samples is required for {search.algorithm}: how many trials"
        )
