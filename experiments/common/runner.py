"""Training runs of an experiment, several at a time in spawned worker processes.

Reproducibility: a training run is a pure function of its Architecture and TrainConfig
(:func:`bnas.train.train` reseeds everything from ``config.seed`` and runs deterministic CPU
kernels with one thread), so a rerun with the same jobs gives the same
:data:`ACCURACY_COLUMNS`, whatever the number of parallel workers.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from experiments.common.tables import format_seconds

# Accuracy columns: a rerun with the same seeds must reproduce them exactly.
ACCURACY_COLUMNS = ("test_top1", "final_val_top1", "best_val_top1")


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """One :func:`bnas.train.train` run in a worker process; compact plain-data result.

    ``job``: ``arch`` (Architecture dict), ``config`` (TrainConfig dict, ``threads: 1``) and
    any other keys, returned unchanged. A failing run returns ``status: failed`` and its error
    instead of stopping the whole experiment.
    """
    from bnas.architecture import Architecture
    from bnas.train import TrainConfig, TrainingDiverged, train

    # A spawned process spawns its own children too: DataLoader workers (image folders) would
    # re-import torch at every epoch. Fork them, as a plain Linux process does.
    if "fork" in multiprocessing.get_all_start_methods():
        multiprocessing.set_start_method("fork", force=True)
    started = time.monotonic()
    keys = {k: v for k, v in job.items() if k not in ("arch", "config")}
    try:
        result = train(Architecture.from_dict(job["arch"]), TrainConfig.from_dict(job["config"]),
                       progress=False)
        status, error = result.status, None
    except TrainingDiverged as diverged:
        result, status, error = diverged.result, "diverged", str(diverged)
    except Exception as failure:  # noqa: BLE001 - reported per run, the others go on
        return {**keys, "status": "failed", "error": f"{type(failure).__name__}: {failure}",
                "seconds": round(time.monotonic() - started, 1)}
    cost = result.cost if result is not None else {}
    final = (result.final or {}) if result is not None else {}
    return {
        **keys,
        "status": status,
        "error": error,
        "arch_summary": result.arch.summary() if result is not None else None,
        "params": cost.get("params_binary", 0) + cost.get("params_real", 0),
        "generator_params": cost.get("generator_params"),
        "size_mib": cost.get("size_mib"),
        "ops": cost.get("ops"),
        "test_top1": (result.test or {}).get("top1") if result is not None else None,
        "final_val_top1": final.get("val_top1"),
        "best_val_top1": result.best_val_top1 if result is not None else None,
        "epochs": len(result.history) if result is not None else 0,
        "seconds": round(time.monotonic() - started, 1),
    }


def run_training(jobs: list[dict[str, Any]], workers: int,
                 label: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
    """Run ``jobs`` (see :func:`train_job`) ``workers`` at a time in spawned processes.

    Prints one line per finished run: its label, test accuracy, seconds, and an ETA
    (elapsed / finished × remaining: jobs are ordered so that each stretch mixes every kind).
    Results come back in job order.
    """
    return run_jobs(train_job, jobs, workers, label, _test_accuracy)


def _test_accuracy(result: dict[str, Any]) -> str:
    if result.get("test_top1") is not None:
        return f"test_top1 {result['test_top1']:.4f}"
    return f"{result['status']}: {result.get('error')}"


def run_jobs(function: Callable[[dict[str, Any]], dict[str, Any]], jobs: list[dict[str, Any]],
             workers: int, label: Callable[[dict[str, Any]], str],
             outcome: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
    """``function(job)`` for every job, ``workers`` at a time in spawned processes (a
    module-level function: it is pickled by name); one line per finished job (its label,
    ``outcome(result)``, its ``seconds``, an ETA). Results come back in job order."""
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    if not jobs:
        return []
    start = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs))),
                             mp_context=context) as pool:
        futures = {pool.submit(function, job): index for index, job in enumerate(jobs)}
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                index = futures[future]
                result = future.result()
                results[index] = result
                elapsed = time.monotonic() - start
                eta = elapsed / done * (len(jobs) - done)
                print(f"[{format_seconds(elapsed):>8}] {done:>3}/{len(jobs)} "
                      f"{label(jobs[index])}  {outcome(result)}  ({result['seconds']:.0f} s)  "
                      f"ETA {format_seconds(eta)}", flush=True)
        except KeyboardInterrupt:
            pool.shutdown(cancel_futures=True)
            raise
    return [result for result in results if result is not None]
