"""Ray Tune set up for a search's trials, shared by both strategies (a multi-trial search
tunes its sampled candidates, a one-shot search retrains its chosen ones): a trial's threads
and resources, the trainable, the scheduler, Tune's settings, restoring an experiment and
running it."""

from __future__ import annotations

import logging
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import Any

from bnas.errors import BnasError
from bnas.search.checkpoint_repair import repair_checkpoint_references
from bnas.search.shutdown import StopSignals
from bnas.search.trainable import run_trial


def trial_threads(space: Any) -> int:
    """Torch threads of a trial (or an evaluation worker): its CPUs, rounded down, ≥ 1."""
    return max(1, int(space.search.resources_per_trial.cpu))


def trial_resources(space: Any) -> dict[str, float]:
    """Ray resources of one trial (or one evaluation worker)."""
    resources = space.search.resources_per_trial
    return {"cpu": resources.cpu, "gpu": resources.gpu}


def tune_trainable(space: Any, scratch: str | None) -> Any:
    """:func:`run_trial` with the space, its thread count, the cost model's measured parts
    (call it after :func:`warm_cost_model`) and the trials' ``scratch`` folder bound, and the
    trial's resources."""
    from ray import tune

    from bnas.profile import cost_parts

    return tune.with_resources(
        tune.with_parameters(run_trial, space=space, threads=trial_threads(space),
                             cost_parts=cost_parts(), scratch_root=scratch),
        trial_resources(space),
    )


def make_scheduler(space: Any) -> Any:
    """ASHA over epochs (``search.scheduler.asha``), or FIFO: every trial runs to the end."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    asha = space.search.scheduler.asha
    if asha is None:
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="training_iteration",
        metric=asha.metric,
        mode=asha.mode,
        max_t=space.epochs,
        grace_period=asha.grace_period,
        reduction_factor=asha.reduction_factor,
    )


def tune_config(space: Any, search_alg: Any, num_samples: int) -> Any:
    """Ray Tune's settings for ``num_samples`` trials suggested by ``search_alg``: the
    space's scheduler and concurrency, workers reused between trials, trials named
    ``trial_<id>``."""
    from ray import tune

    return tune.TuneConfig(
        search_alg=search_alg,
        scheduler=make_scheduler(space),
        num_samples=num_samples,
        max_concurrent_trials=space.search.max_concurrent,
        reuse_actors=True,
        trial_name_creator=_trial_name,
        trial_dirname_creator=_trial_name,
    )


def tune_run_config(space: Any, name: str, storage_path: Path, trials: int) -> Any:
    """Tune's RunConfig: the experiment ``storage_path/name``, retries of lost workers, one
    checkpoint kept per trial, progress lines numbered out of ``trials``."""
    from ray import tune

    from bnas.search.progress import ProgressPrinter

    search = space.search
    return tune.RunConfig(
        name=name,
        storage_path=str(storage_path),
        failure_config=tune.FailureConfig(max_failures=search.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        callbacks=[ProgressPrinter(space.epochs, trials, search.max_failures)],
        verbose=0,
    )


def restore_tuner(run_dir: Path, trainable: Any) -> Any:
    """Tune's restore of the run (finished trials kept, unfinished ones continued from their
    last checkpoint); damaged or foreign state is one line, not a traceback."""
    from ray import tune

    for line in repair_checkpoint_references(run_dir):
        print(line, flush=True)
    try:
        return tune.Tuner.restore(
            str(run_dir), trainable, resume_unfinished=True, resume_errored=False
        )
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, AttributeError,
            ImportError) as error:
        first_line = (str(error).splitlines() or [""])[0]
        raise BnasError(f"--resume: cannot restore Ray Tune's state in {run_dir} "
                        f"({type(error).__name__}: {first_line})") from None


def fit_tuner(tuner: Any, signals: StopSignals) -> Any:
    """``tuner.fit()``, SIGINT / SIGTERM handled by ``signals``; raises SearchInterrupted
    after an interrupted fit (resumable, not summarised)."""
    with signals.tuning(), warnings.catch_warnings():
        # ASHA compares a failed trial's NaN (bnas.search.trainable) with nanpercentile,
        # which warns while a rung holds nothing else
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        # a failed trial's NaN and a never-trained one's inf go to TensorBoard as they are;
        # tensorboardX would warn about each
        logging.getLogger("tensorboardX.x2num").setLevel(logging.ERROR)
        results = tuner.fit()
    signals.raise_if_received()
    return results


def scratch_folder() -> tempfile.TemporaryDirectory:
    """The trials' temporary checkpoint folders on this machine, removed with the search
    (a trial removes its own; this catches those of a killed worker)."""
    return tempfile.TemporaryDirectory(prefix="bnas-search-", ignore_cleanup_errors=True)


def _trial_name(trial: Any) -> str:
    return f"trial_{trial.trial_id}"
