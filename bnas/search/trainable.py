"""One search trial: sample → Architecture → (budget check) → :func:`bnas.train.train`.

Runs inside a Ray worker. Everything about *training* is bnas.train's; this module only turns
the sampled config into an Architecture and a TrainConfig, and each epoch's metrics into a
``ray.tune.report`` with the checkpoint bnas.train wrote.

Failures. Ray retries a trial that raises (``search.max_failures`` times, from its last
checkpoint): right for a worker or node that was lost, wrong for a trial that fails by itself
— bad input (:class:`~bnas.errors.BnasError`) or a diverged loss
(:class:`~bnas.train.TrainingDiverged`) would fail the same way again. Those end the trial at
once instead: one last report names the failure (:data:`FAILURE_KEY`) and gives the metrics
the searcher and ASHA compare NaN (Ray requires them in every report);
:mod:`bnas.search.searcher` tells Optuna the trial failed.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bnas.profile import CostParts
    from bnas.space import SearchSpace

COST_KEY = "cost"
FEASIBLE_KEY = "feasible"
FAILURE_KEY = "failure"
# A one-shot search's retraining: weights to start from (a supernet's candidate), or None.
INIT_WEIGHTS_KEY = "init_weights"


def run_trial(
    config: dict[str, Any], *, space: SearchSpace, threads: int, cost_parts: CostParts,
    scratch_root: str | None = None,
) -> None:
    """The Ray Tune function trainable (``space``, ``threads``, the cost model's measured
    ``cost_parts`` and ``scratch_root``, the folder of the trials' temporary checkpoint
    folders on this machine, bound by with_parameters)."""
    import ray
    from ray import tune

    from bnas.errors import BnasError
    from bnas.profile import add_cost_parts
    from bnas.train import TrainingDiverged

    add_cost_parts(cost_parts)  # train() costs the candidate without measuring it again
    scratch = _trial_scratch(scratch_root, tune.get_context().get_trial_id())
    known = {"node_ip": ray.util.get_node_ip_address(), **config[COST_KEY]}
    try:
        _train_trial(config, space, threads, scratch, known)
    except (BnasError, TrainingDiverged) as error:
        tune.report({
            **known, **_unmeasured(space, known), FEASIBLE_KEY: True,
            FAILURE_KEY: f"{type(error).__name__}: {error}",
        })
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _train_trial(
    config: dict[str, Any], space: SearchSpace, threads: int, scratch: Path | None,
    known: dict[str, Any],
) -> None:
    import torch
    from ray import tune

    from bnas.train import TrainConfig, train

    torch.set_num_threads(max(1, threads))
    arch = space.architecture(config)
    settings = {**space.train_settings(config), "threads": max(1, threads)}
    train_config = TrainConfig.from_dict(settings, source="trial config")
    base = {"arch": arch.summary(), "arch_id": arch.arch_id, **known}
    if not config[FEASIBLE_KEY]:
        # Over budget: told to the searcher as the worst accuracy without training (the
        # sampler's constraints_func also sees the violation, see bnas.search.sampler).
        tune.report({**base, "val_top1": 0.0, **never_trained(_compared(space), base),
                     FEASIBLE_KEY: False})
        return

    def on_epoch(metrics: dict[str, Any], checkpoint_dir: Any) -> None:
        checkpoint = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        tune.report({**base, **metrics, FEASIBLE_KEY: True}, checkpoint=checkpoint)

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        train(arch, train_config, on_epoch=on_epoch, init_weights=config.get(INIT_WEIGHTS_KEY),
              progress=False, scratch_dir=scratch)
        return
    with checkpoint.as_directory() as resume_dir:
        train(arch, train_config, on_epoch=on_epoch, resume_from=resume_dir, progress=False,
              scratch_dir=scratch)


def _trial_scratch(scratch_root: str | None, trial_id: str) -> Path | None:
    """The trial's own temporary folder, emptied first: a retry on this machine removes what a
    killed attempt left behind."""
    if scratch_root is None:
        return None
    scratch = Path(scratch_root) / trial_id
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True, exist_ok=True)
    return scratch


def _compared(space: SearchSpace) -> dict[str, str]:
    """metric → mode of each metric the searcher or ASHA compares (Ray requires them in every
    report)."""
    compared = dict(space.search.objectives)
    asha = space.search.scheduler.asha
    if asha is not None and asha.metric is not None:
        compared.setdefault(asha.metric, asha.mode or "max")
    return compared


def _unmeasured(space: SearchSpace, known: dict[str, Any]) -> dict[str, float]:
    """NaN for each compared metric a failed trial never measured."""
    return {metric: math.nan for metric in _compared(space) if metric not in known}


def never_trained(compared: dict[str, str], known: dict[str, Any]) -> dict[str, float]:
    """The worst value of each compared metric (metric → mode) that an over-budget candidate,
    never trained, lacks: accuracy 0, a loss +inf."""
    worst = {"max": 0.0, "min": math.inf}
    return {metric: worst[mode] for metric, mode in compared.items() if metric not in known}
