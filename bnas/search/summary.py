"""From Ray Tune's results to the run record (:mod:`bnas.run_record`, ``summary.json``).

Other tools (export, report, experiments) read only that record and the checkpoints it points
to, never Ray's internal files. Per trial, ``metrics`` holds the epoch with the best
``val_top1`` (that is the checkpoint export ships) plus ``final_val_top1`` and the cost keys.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from bnas.costs import COST_KEYS
from bnas.run_record import RunRecord, json_value
from bnas.search.trainable import COST_KEY, FAILURE_KEY, FEASIBLE_KEY, INIT_WEIGHTS_KEY

# Config entries a search adds beside the sampled parameters.
_NOT_SAMPLED = {COST_KEY, FEASIBLE_KEY, "arch", "arch_id", "optuna_number", INIT_WEIGHTS_KEY}
EPOCH_KEYS = (
    "epoch", "step", "train_loss", "val_loss", "val_top1", "val_top5", "epoch_seconds",
    "images_per_second", "lr",
)


def _history(result: Any) -> list[dict[str, Any]]:
    """One row per trained epoch; a retried trial that reported an epoch twice keeps the last."""
    frame = result.metrics_dataframe
    if frame is None or frame.empty or "val_top1" not in frame:
        return []
    columns = [key for key in EPOCH_KEYS if key in frame.columns]
    epochs = {
        row["epoch"]: {key: json_value(row[key]) for key in columns}
        for _, row in frame.iterrows()
        if row.get("feasible", True) is not False and not _is_missing(row.get("epoch"))
    }
    return [epochs[epoch] for epoch in sorted(epochs)]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _trial_config(result: Any) -> dict[str, Any]:
    """The sampled config; Ray leaves it empty for a trial that failed before its first report."""
    if result.config:
        return dict(result.config)
    params = Path(result.path) / "params.json"
    return json.loads(params.read_text()) if params.is_file() else {}


def _best_epoch(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The epoch export ships: best val_top1 among fully binary epochs (two-step: step 2)."""
    binary = [row for row in history if str(row.get("step", "2")) != "1"]
    return max(binary, key=lambda row: row["val_top1"], default=None)


def _status(result: Any, last: dict[str, Any], epochs_run: int, max_epochs: int) -> str:
    if result.error is not None or last.get(FAILURE_KEY):
        return "failed"
    if last.get("feasible") is False:
        return "infeasible"
    if epochs_run < max_epochs:
        return "stopped"  # by ASHA
    return "completed"


def _error_line(error: BaseException | None) -> str | None:
    if error is None:
        return None
    text = str(error).strip().splitlines()
    # Ray wraps the trial's exception; its last non-empty line is the original message.
    lines = [line.strip() for line in text if line.strip()]
    return lines[-1] if lines else type(error).__name__


def worker_failures(run_dir: Path) -> dict[str, int]:
    """``{trial folder name: times its worker or node was lost}``, as Ray Tune counted them in
    the run's experiment state (a trial that failed by itself is not counted: see
    :mod:`bnas.search.trainable`)."""
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(str(run_dir))
    return {Path(trial.path).name: trial.num_failures for trial in analysis.trials}


def summarize(
    results: Any, space: Any, run_dir: Path, threads: int,
    failures: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Turn Ray Tune's ResultGrid into the summary dict (see module docstring)."""
    return build_summary(space, trial_records(results, space, run_dir, threads, failures))


def trial_records(
    results: Any, space: Any, run_dir: Path, threads: int,
    failures: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Ray Tune's ResultGrid as run-record trials, in Optuna's order (see module docstring).

    ``threads`` is what each trial trained with: with it, a trial's ``config.train`` repeats
    the trial exactly (CPU results depend on the thread count). ``failures``
    (:func:`worker_failures`) gives each trial's ``retries``.
    """
    max_epochs = space.epochs
    failures = failures or {}
    trials = []
    for result in results:
        config = _trial_config(result)
        last = dict(result.metrics or {})
        history = _history(result)
        # the last epoch's number, not the rows: after a kill, epochs a worker trained past
        # the saved state have no row (see bnas.search.checkpoint_repair)
        epochs_run = int(history[-1]["epoch"]) if history else 0
        best_epoch = _best_epoch(history)
        arch = space.architecture(config)
        metrics = {key: json_value(last[key]) for key in COST_KEYS if key in last}
        if best_epoch is not None:
            metrics.update(best_epoch)
            metrics["final_val_top1"] = history[-1]["val_top1"]
        elif "val_top1" in last:
            metrics["val_top1"] = json_value(last["val_top1"])
        checkpoint = None
        if result.checkpoint is not None:
            checkpoint = os.path.relpath(result.checkpoint.path, run_dir)
        train = {**space.train_settings(config), "threads": threads}
        lost = failures.get(Path(result.path).name, 0)
        trials.append(
            {
                "trial_id": last.get("trial_id") or Path(result.path).name,
                "number": config.get("optuna_number"),
                "arch": arch.to_dict(),
                "arch_summary": arch.summary(),
                "arch_id": arch.arch_id,
                "config": {
                    "params": {
                        k: json_value(v) for k, v in config.items() if k not in _NOT_SAMPLED
                    },
                    "train": train,
                },
                "metrics": metrics,
                "history": history,
                "epochs_run": epochs_run,
                "status": _status(result, last, epochs_run, max_epochs),
                "error": last.get(FAILURE_KEY) or _error_line(result.error),
                "node_ip": last.get("node_ip"),
                "checkpoint": checkpoint,
                "path": os.path.relpath(result.path, run_dir),
                # the last loss of a trial that failed with an error was not retried
                "retries": max(0, lost - (result.error is not None)),
            }
        )
    trials.sort(key=lambda trial: (trial["number"] is None, trial["number"], trial["path"]))
    return trials


def build_summary(space: Any, trials: list[dict[str, Any]],
                  oneshot: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run record of ``trials`` as plain data (best per objective, best, Pareto set; the
    :class:`~bnas.run_record.OneShotRecord` of a one-shot search)."""
    objectives = dict(space.search.objectives)
    return RunRecord.from_trials(space.name, objectives, trials, oneshot=oneshot).to_dict()


def write_summary(summary: dict[str, Any], run_dir: Path) -> Path:
    """Validate and write ``summary.json`` atomically."""
    return RunRecord.from_dict(summary, source="summary").save(run_dir)


def load_summary(run_dir: str | Path) -> RunRecord:
    """A run's validated record; a missing or damaged one is a one-line ``BnasError``."""
    return RunRecord.load(run_dir)
