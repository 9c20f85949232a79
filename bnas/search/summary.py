"""``summary.json``: every trial of a run with its Architecture, config, metrics and status.

Other tools (export, report, experiments) read only this file and the checkpoints it points
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
from bnas.search.pareto import pareto_front

SUMMARY_FILE = "summary.json"
# Config entries the controller adds beside the sampled parameters.
_NOT_SAMPLED = {"cost", "feasible", "arch", "arch_id", "optuna_number"}
EPOCH_KEYS = (
    "epoch", "step", "train_loss", "val_loss", "val_top1", "val_top5", "epoch_seconds",
    "images_per_second", "lr",
)


def _clean(value: Any) -> Any:
    """JSON-safe plain values (numpy scalars → Python, NaN → None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _history(result: Any) -> list[dict[str, Any]]:
    frame = result.metrics_dataframe
    if frame is None or frame.empty or "val_top1" not in frame:
        return []
    columns = [key for key in EPOCH_KEYS if key in frame.columns]
    return [
        {key: _clean(row[key]) for key in columns}
        for _, row in frame.iterrows()
        if row.get("feasible", True) is not False and not _is_missing(row.get("epoch"))
    ]


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
    if result.error is not None:
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


def summarize(results: Any, space: Any, run_dir: Path, threads: int) -> dict[str, Any]:
    """Turn Ray Tune's ResultGrid into the summary dict (see module docstring).

    ``threads`` is what each trial trained with: with it, a trial's ``config.train`` repeats
    the trial exactly (CPU results depend on the thread count).
    """
    max_epochs = space.epochs
    trials = []
    for result in results:
        config = _trial_config(result)
        last = dict(result.metrics or {})
        history = _history(result)
        best_epoch = _best_epoch(history)
        arch = space.architecture(config)
        metrics = {key: _clean(last[key]) for key in COST_KEYS if key in last}
        if best_epoch is not None:
            metrics.update(best_epoch)
            metrics["final_val_top1"] = history[-1]["val_top1"]
        elif "val_top1" in last:
            metrics["val_top1"] = _clean(last["val_top1"])
        checkpoint = None
        if result.checkpoint is not None:
            checkpoint = os.path.relpath(result.checkpoint.path, run_dir)
        train = {**space.train_settings(config), "threads": threads}
        trials.append(
            {
                "trial_id": last.get("trial_id") or Path(result.path).name,
                "number": config.get("optuna_number"),
                "arch": arch.to_dict(),
                "arch_summary": arch.summary(),
                "arch_id": arch.arch_id,
                "config": {
                    "params": {
                        k: _clean(v) for k, v in config.items() if k not in _NOT_SAMPLED
                    },
                    "train": train,
                },
                "metrics": metrics,
                "history": history,
                "epochs_run": len(history),
                "status": _status(result, last, len(history), max_epochs),
                "error": _error_line(result.error),
                "node_ip": last.get("node_ip"),
                "checkpoint": checkpoint,
                "path": os.path.relpath(result.path, run_dir),
            }
        )
    trials.sort(key=lambda trial: (trial["number"] is None, trial["number"], trial["path"]))
    return build_summary(space, trials)


def build_summary(space: Any, trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Best trial per objective, the overall best and the Pareto set of finished trials."""
    objectives = dict(space.search.objectives)
    trained = [t for t in trials if t["status"] in ("completed", "stopped")]
    flat = [t["metrics"] for t in trained]
    best_per_objective = {}
    for metric, mode in objectives.items():
        candidates = [t for t in trained if t["metrics"].get(metric) is not None]
        if candidates:
            pick = max if mode == "max" else min
            best_per_objective[metric] = pick(candidates, key=lambda t: t["metrics"][metric])[
                "trial_id"
            ]
    primary = next(iter(objectives))
    best_id = best_per_objective.get(primary)
    pareto_objectives = objectives if len(objectives) > 1 else {"val_top1": "max", "ops": "min"}
    return {
        "name": space.name,
        "objectives": objectives,
        "pareto_objectives": pareto_objectives,
        "trials": trials,
        "best": next((t for t in trials if t["trial_id"] == best_id), None),
        "best_per_objective": best_per_objective,
        "pareto": [trained[i]["trial_id"] for i in pareto_front(flat, pareto_objectives)],
    }


def write_summary(summary: dict[str, Any], run_dir: Path) -> Path:
    """Write atomically: a reader never sees half a summary."""
    path = Path(run_dir) / SUMMARY_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=_clean) + "\n")
    tmp.replace(path)
    return path


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    """Read a run's summary; a missing or unreadable one is a one-line ``BnasError``."""
    from bnas.errors import BnasError

    if not Path(run_dir).is_dir():
        raise BnasError(f"{run_dir}: no such run directory")
    path = Path(run_dir) / SUMMARY_FILE
    if not path.is_file():
        raise BnasError(f"{run_dir}: no {SUMMARY_FILE} (is it a finished bnas search run?)")
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise BnasError(f"{path}: not valid JSON (line {error.lineno})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("trials"), list):
        raise BnasError(f"{path}: expected a mapping with a 'trials' list")
    return summary
