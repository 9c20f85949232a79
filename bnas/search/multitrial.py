"""A multi-trial search (``search.strategy: multitrial``): Ray Tune runs trials, Optuna samples
them (:mod:`bnas.search.sampler`), ASHA stops bad ones (:mod:`bnas.search.tuner`)."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

from bnas.errors import BnasError
from bnas.files import STUDY_FILE
from bnas.search.cluster import ray_session, wait_for_a_node
from bnas.search.run_dir import RunFolder, write_space
from bnas.search.sampler import define_by_run, make_sampler, start_cost_model
from bnas.search.shutdown import SearchInterrupted, StopSignals
from bnas.search.summary import summarize, worker_failures, write_summary
from bnas.search.tuner import (
    fit_tuner,
    restore_tuner,
    scratch_folder,
    trial_resources,
    trial_threads,
    tune_config,
    tune_run_config,
    tune_trainable,
)


def run_multitrial(space: Any, run: RunFolder, *, address: str | None = None) -> dict[str, Any]:
    """Run (or resume) a multi-trial search in ``run`` (checked, the preflight passed:
    :func:`bnas.search.dispatch.run_search`); returns the summary written to
    ``RUN_DIR/summary.json``. An interrupted new run without Tune state is removed."""
    with run.writing():
        try:
            return _run_multitrial(space, run.path.name, run.storage, run.path, address,
                                   run.resume)
        except SearchInterrupted:
            if not run.resume:
                _forget_unstarted_run(run.path)
            raise


def _forget_unstarted_run(run_dir: Path) -> None:
    """Remove a new run interrupted before Tune saved any state: it could be neither resumed
    nor started again under its name, and holds nothing a trial made."""
    from ray import tune

    if run_dir.is_dir() and not tune.Tuner.can_restore(str(run_dir)):
        shutil.rmtree(run_dir, ignore_errors=True)


def _run_multitrial(space: Any, name: str, storage_path: Path, run_dir: Path,
                    address: str | None, resume: bool) -> dict[str, Any]:
    space = space.with_absolute_data_root()  # trials run in folders of their own

    search = space.search
    threads = trial_threads(space)
    # Candidates are costed in this process: import torch and the models, and measure the
    # parts of every candidate's cost, while Ray starts its processes instead of after. A
    # space whose network cannot be built fails here, before anything is written.
    warm_up = start_cost_model(space)
    with StopSignals() as signals, scratch_folder() as scratch, ray_session(
        address, signals=signals
    ):
        if address is not None:  # the preflight checked this machine; a cluster is checked here
            wait_for_a_node(trial_resources(space), address)
        warm_up.result()
        import optuna
        from ray import tune

        from bnas.search.searcher import FailureAwareOptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        trainable = tune_trainable(space, scratch)
        if resume:
            if not tune.Tuner.can_restore(str(run_dir)):
                raise BnasError(f"--resume: {run_dir} has no Ray Tune experiment state")
            print(f"resuming {run_dir}", flush=True)
            tuner = restore_tuner(run_dir, trainable)
        else:
            write_space(space, run_dir)
            objectives = dict(search.objectives)
            metrics, modes = list(objectives), list(objectives.values())
            searcher = FailureAwareOptunaSearch(
                functools.partial(define_by_run, space=space),
                metric=metrics if len(metrics) > 1 else metrics[0],
                mode=modes if len(modes) > 1 else modes[0],
                sampler=make_sampler(space),
                storage=optuna.storages.RDBStorage(f"sqlite:///{run_dir / STUDY_FILE}"),
                study_name=name,
            )
            tuner = tune.Tuner(
                trainable,
                tune_config=tune_config(space, searcher, search.num_samples),
                run_config=tune_run_config(space, name, storage_path, search.num_samples),
            )
        print(
            f"search {name}: {search.num_samples} trials, {search.max_concurrent} at a time, "
            f"run directory {run_dir}",
            flush=True,
        )
        results = fit_tuner(tuner, signals)
        summary = summarize(results, space, run_dir, threads, worker_failures(run_dir))
    write_summary(summary, run_dir)
    return summary
