"""Which trials of a run to export, and the folder each one goes to (plain Python, no torch).

A run's ``summary.json`` (see :mod:`bnas.search.summary`) is the only input. *Trained* trials
are those with status ``completed`` or ``stopped`` (by ASHA): they have weights. Rank among
them is by ``val_top1`` (higher first), ties broken by fewer OPs, then by trial id, so the
same summary always gives the same folders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bnas.errors import BnasError
from bnas.search.pareto import pareto_front

MODES = ("best", "top-k", "pareto")
TRAINED_STATUSES = ("completed", "stopped")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Choice:
    """One trial to export: the folder name it gets and why it was chosen."""

    name: str
    trial: dict[str, Any]
    reason: str


def safe_name(text: str) -> str:
    """A folder name that cannot leave its parent: ``[A-Za-z0-9._-]``, no leading dot."""
    name = _UNSAFE.sub("_", str(text)).strip("._-")
    return name[:80] or "trial"


def trained_trials(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Trials that trained (completed or stopped early) and report a ``val_top1``."""
    return [
        trial for trial in summary.get("trials", [])
        if trial.get("status") in TRAINED_STATUSES
        and (trial.get("metrics") or {}).get("val_top1") is not None
    ]


def rank_trials(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Trained trials, best ``val_top1`` first (ties: fewer OPs, then trial id)."""

    def key(trial: dict[str, Any]) -> tuple[float, float, str]:
        metrics = trial["metrics"]
        ops = metrics.get("ops")
        return (-float(metrics["val_top1"]), float("inf") if ops is None else float(ops),
                str(trial["trial_id"]))

    return sorted(trained_trials(summary), key=key)


def _status_counts(summary: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for trial in summary.get("trials", []):
        status = str(trial.get("status"))
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no trials"


def select_trials(summary: dict[str, Any], mode: str = "best", k: int = 1) -> list[Choice]:
    """The trials ``bnas export`` writes for ``mode`` (``best`` | ``top-k`` | ``pareto``).

    Folders: ``best``; ``top1``, ``top2``, … by rank; ``pareto1``, … along the run's Pareto
    set (``summary["pareto"]``) ordered by OPs, cheapest first.
    """
    if mode not in MODES:
        raise BnasError(f"export: unknown selection {mode!r}; valid: {', '.join(MODES)}")
    ranked = rank_trials(summary)
    if not ranked:
        raise BnasError(
            f"run {summary.get('name', '?')}: no finished trial to export "
            f"({_status_counts(summary)}); see the 'error' fields in summary.json"
        )
    if mode == "best":
        best_id = (summary.get("best") or {}).get("trial_id")
        trial = next((t for t in ranked if t["trial_id"] == best_id), ranked[0])
        return [Choice("best", trial, "the run's best trial")]
    if mode == "top-k":
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise BnasError(f"--top-k: expected a positive number of trials, got {k!r}")
        return [
            Choice(safe_name(f"top{rank}"), trial, f"rank {rank} of {len(ranked)} by val_top1")
            for rank, trial in enumerate(ranked[:k], start=1)
        ]
    ids = summary.get("pareto")
    objectives = summary.get("pareto_objectives") or {"val_top1": "max", "ops": "min"}
    if ids is None:  # an older summary: compute the front here
        ids = [ranked[i]["trial_id"] for i in pareto_front([t["metrics"] for t in ranked],
                                                             objectives)]
    front = [t for t in ranked if t["trial_id"] in set(ids)]
    if not front:
        raise BnasError(
            f"run {summary.get('name', '?')}: the Pareto set is empty (no trained trial reports "
            f"{' and '.join(objectives)})"
        )
    front.sort(key=lambda t: (float(t["metrics"].get("ops") or 0.0), str(t["trial_id"])))
    label = ", ".join(f"{metric} {mode}" for metric, mode in objectives.items())
    return [
        Choice(safe_name(f"pareto{i}"), trial,
               f"Pareto set ({label}): {i} of {len(front)}, ordered by OPs")
        for i, trial in enumerate(front, start=1)
    ]
