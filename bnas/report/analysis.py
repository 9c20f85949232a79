"""What a report says about a run, computed from ``summary.json``'s trial dicts (plain Python).

Trial order. "Best so far after n trials" is about the order the sampler suggested trials.
That order is Optuna's trial number, which :func:`bnas.report.study.trial_numbers` recovers
by matching parameters and the report stores in each trial dict as ``number``. Without it
(no study), a Ray trial id ending in ``_<counter>`` gives the order; otherwise (Ray 2.60's ids
are random hashes) the order of ``summary.json``. With several trials in flight trial n may
finish after trial n+1; finishing order is not recorded and would mix in the scheduler.

Equal budgets. ASHA stops weak trials early, so their best accuracy comes from fewer epochs
than a completed trial's. Comparisons *between architectures* (the per-block table) therefore
use every trial's best ``val_top1`` within the first E epochs, E = the fewest epochs any
trained trial ran; when every trial completed, that is simply each trial's ``val_top1``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from pathlib import Path
from typing import Any

from bnas.errors import BnasError
from bnas.pareto import pareto_front
from bnas.rank_agreement import kendall_tau
from bnas.reading import read_text
from bnas.run_record import SUPERNET_METRIC, is_trained

ACCURACY_VS_OPS = {"val_top1": "max", "ops": "min"}
THRESHOLD_GROUPS = ("static", "dynamic")
_COUNTER = re.compile(r"_(\d+)$")


def trained_trials(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Completed or ASHA-stopped trials that report a ``val_top1``."""
    return [
        t for t in trials
        if is_trained(t.get("status"))
        and (t.get("metrics") or {}).get("val_top1") is not None
    ]


def trial_number(trial_id: str) -> int | None:
    """Ray's trial counter: ``"a1b2c_00007"`` → 7 (None when the id has none)."""
    match = _COUNTER.search(str(trial_id))
    return int(match.group(1)) if match else None


def in_trial_order(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trials in the order they were suggested (see module docstring)."""

    def key(item: tuple[int, dict[str, Any]]) -> tuple[int, int, int]:
        index, trial = item
        number = trial.get("number")
        if isinstance(number, int):
            return (0, number, index)
        counter = trial_number(str(trial.get("trial_id", "")))
        return (1, counter, index) if counter is not None else (2, 0, index)

    return [trial for _, trial in sorted(enumerate(trials), key=key)]


def best_so_far(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per trial in trial order: its ``val_top1`` (None if untrained) and the best yet."""
    rows, best = [], None
    trained = {id(t) for t in trained_trials(trials)}
    for number, trial in enumerate(in_trial_order(trials), start=1):
        value = float(trial["metrics"]["val_top1"]) if id(trial) in trained else None
        if value is not None and (best is None or value > best):
            best = value
        rows.append({"number": number, "trial_id": trial.get("trial_id"),
                     "status": trial.get("status"), "val_top1": value, "best": best})
    return rows


def pareto_ids(trials: list[dict[str, Any]],
               objectives: dict[str, str] | None = None) -> list[str]:
    """Trial ids of the Pareto front of the trained trials (default: max val_top1, min OPs)."""
    trained = trained_trials(trials)
    front = pareto_front([t["metrics"] for t in trained], objectives or ACCURACY_VS_OPS)
    return [trained[i]["trial_id"] for i in front]


def equal_budget_accuracy(trials: list[dict[str, Any]]) -> tuple[int | None, dict[str, float]]:
    """(E, {trial id: best val_top1 within the first E epochs}) over the trained trials."""
    trained = trained_trials(trials)
    runs = [len(t["history"]) for t in trained if t.get("history")]
    budget = min(runs) if runs else None
    accuracy = {}
    for trial in trained:
        history = [row for row in trial.get("history") or []
                   if row.get("val_top1") is not None]
        if budget is not None and history:
            accuracy[trial["trial_id"]] = max(float(row["val_top1"]) for row in history[:budget])
        else:
            accuracy[trial["trial_id"]] = float(trial["metrics"]["val_top1"])
    return budget, accuracy


def _block_is_dynamic(block: Any) -> bool:
    """A block (``{site: "static" | {"kind": "dynamic", ...}}``) with DySign at any site."""
    if isinstance(block, str):
        return block == "dynamic"
    if isinstance(block, dict):
        if "kind" in block:
            return block["kind"] == "dynamic"
        return any(_block_is_dynamic(site) for site in block.values())
    return False


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else None


def block_threshold_stats(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Per block: accuracy of trials with a static vs a dynamic threshold there.

    A block counts as *dynamic* when any of its sites has DySign. Accuracy is the
    equal-budget one (module docstring). Returns ``{"epochs": E, "rows": [...]}`` with one row
    per (block, group): ``block``, ``group``, ``n``, ``mean``, ``sd`` (sample, None below 2),
    ``values`` and ``trial_ids``; and per block ``delta`` = mean(dynamic) − mean(static).
    """
    budget, accuracy = equal_budget_accuracy(trials)
    trained = trained_trials(trials)
    num_blocks = max((len((t.get("arch") or {}).get("blocks") or []) for t in trained),
                     default=0)
    rows, deltas = [], []
    for index in range(num_blocks):
        means = {}
        for group in THRESHOLD_GROUPS:
            members = [
                t for t in trained
                if index < len(t["arch"]["blocks"])
                and _block_is_dynamic(t["arch"]["blocks"][index]) == (group == "dynamic")
            ]
            values = [accuracy[t["trial_id"]] for t in members]
            mean, sd = _mean_sd(values)
            means[group] = mean
            rows.append({"block": index, "group": group, "n": len(values), "mean": mean,
                         "sd": sd, "values": values,
                         "trial_ids": [t["trial_id"] for t in members]})
        delta = None
        if means["static"] is not None and means["dynamic"] is not None:
            delta = means["dynamic"] - means["static"]
        deltas.append({"block": index, "delta": delta})
    return {"epochs": budget, "rows": rows, "deltas": deltas}


def trial_table(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for the report: trained trials ranked by val_top1 (then OPs), then the others."""

    def finite(value: Any) -> float | None:
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    trained = trained_trials(trials)
    trained.sort(key=lambda t: (-float(t["metrics"]["val_top1"]),
                                finite(t["metrics"].get("ops")) or math.inf,
                                str(t["trial_id"])))
    ranked_ids = {id(t) for t in trained}
    others = [t for t in in_trial_order(trials) if id(t) not in ranked_ids]
    rows = []
    for rank, trial in enumerate(trained + others, start=1):
        metrics = trial.get("metrics") or {}
        rows.append({
            "rank": rank if id(trial) in ranked_ids else None,
            "trial_id": trial.get("trial_id"),
            "arch_summary": trial.get("arch_summary", "?"),
            "val_top1": finite(metrics.get("val_top1")) if id(trial) in ranked_ids else None,
            "ops": finite(metrics.get("ops")),
            "size_mib": finite(metrics.get("size_mib")),
            "latency_ms": finite(metrics.get("latency_ms")),
            "epochs_run": trial.get("epochs_run"),
            "status": trial.get("status"),
            "error": trial.get("error"),
        })
    return rows


# -- one-shot runs ------------------------------------------------------------------------------

# A candidate's status in candidates.csv → the trial status the plots above understand.
_CANDIDATE_STATUS = {"scored": "completed", "repeated": "completed", "over_budget": "infeasible"}


def read_candidates(path: str | Path, repeats: bool = False) -> list[dict[str, Any]]:
    """A one-shot search's ``candidates.csv`` as trial-like dicts (``trial_id`` ``c<number>``,
    ``number``, ``status``, ``arch``, ``arch_summary``, ``metrics`` with the inherited-weight
    scores and costs), so the progress and per-block plots draw the candidate search.
    A repeated proposal of an architecture is left out (it has its first proposal's score)
    unless ``repeats``: then every candidate told is there."""
    rows = []
    text = read_text(path, "candidates file of a one-shot search")
    try:
        for line, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=2):
            if row.get("status") == "repeated" and not repeats:
                continue
            try:
                rows.append(_candidate_row(row))
            except (KeyError, TypeError, ValueError) as error:
                raise BnasError(f"{path}:{line}: not a candidates.csv row of a one-shot "
                                f"search ({type(error).__name__}: {error})") from None
    except csv.Error as error:
        raise BnasError(f"{path}: not CSV ({error})") from None
    return rows


def _candidate_row(row: dict[str, str]) -> dict[str, Any]:
    metrics = {}
    for key, value in row.items():
        if key in ("number", "arch", "arch_id", "status", "params", "architecture") or not value:
            continue  # empty: a score an over-budget candidate has not
        metrics[key] = float(value)
    return {"trial_id": f"c{row['number']}", "number": int(row["number"]),
            "status": _CANDIDATE_STATUS[row["status"]], "arch": json.loads(row["architecture"]),
            "arch_summary": row["arch"], "metrics": metrics, "history": []}


def supernet_vs_standalone(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The retrained trials of a one-shot run: ``points`` (trial id, architecture, supernet
    and stand-alone val top-1) and their rank agreement (:func:`kendall_tau`)."""
    points = [{"trial_id": t["trial_id"], "arch_summary": t.get("arch_summary", ""),
               "supernet": float(t["metrics"][SUPERNET_METRIC]),
               "standalone": float(t["metrics"]["val_top1"])}
              for t in trained_trials(trials) if t["metrics"].get(SUPERNET_METRIC) is not None]
    agreement = kendall_tau([p["supernet"] for p in points], [p["standalone"] for p in points])
    return {"points": points, **agreement}
