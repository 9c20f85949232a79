"""Which trials of a run to export, and the folder each one goes to (plain Python, no torch).

A run's record (:class:`bnas.run_record.RunRecord`) is the only input. *Trained* trials are
those with status ``completed`` or ``stopped`` (by ASHA): they have weights. Rank among them
is by ``val_top1`` (higher first), ties broken by fewer OPs, then by trial id, so the same
record always gives the same folders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bnas.errors import BnasError
from bnas.run_record import RunRecord, TrialRecord

MODES = ("best", "top-k", "pareto")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Choice:
    """One trial to export: the folder name it gets and why it was chosen."""

    name: str
    trial: TrialRecord
    reason: str


def safe_name(text: str) -> str:
    """A folder name that cannot leave its parent: ``[A-Za-z0-9._-]``, no leading dot."""
    name = _UNSAFE.sub("_", str(text)).strip("._-")
    return name[:80] or "trial"


def _as_record(summary: RunRecord | dict[str, Any]) -> RunRecord:
    if isinstance(summary, RunRecord):
        return summary
    return RunRecord.from_dict(summary, source="summary")


def rank_trials(summary: RunRecord | dict[str, Any]) -> list[TrialRecord]:
    """Trained trials reporting ``val_top1``, best first (ties: fewer OPs, then trial id)."""

    def key(trial: TrialRecord) -> tuple[float, float, str]:
        ops = trial.metrics.get("ops")
        return (-float(trial.metrics["val_top1"]), float("inf") if ops is None else float(ops),
                trial.trial_id)

    record = _as_record(summary)
    return sorted((t for t in record.trained() if t.metrics.get("val_top1") is not None), key=key)


def select_trials(
    summary: RunRecord | dict[str, Any], mode: str = "best", k: int = 1
) -> list[Choice]:
    """The trials ``bnas export`` writes for ``mode`` (``best`` | ``top-k`` | ``pareto``).

    Folders: ``best``; ``top1``, ``top2``, … by rank; ``pareto1``, … along the run's Pareto
    set ordered by OPs, cheapest first.
    """
    if mode not in MODES:
        raise BnasError(f"export: unknown selection {mode!r}; valid: {', '.join(MODES)}")
    record = _as_record(summary)
    ranked = rank_trials(record)
    if not ranked:
        raise BnasError(
            f"run {record.name}: no finished trial to export ({record.describe_counts()}); "
            "see the 'error' fields in summary.json"
        )
    if mode == "best":
        best_id = record.best.trial_id if record.best is not None else None
        trial = next((t for t in ranked if t.trial_id == best_id), ranked[0])
        return [Choice("best", trial, "the run's best trial")]
    if mode == "top-k":
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise BnasError(f"--top-k: expected a positive number of trials, got {k!r}")
        return [
            Choice(safe_name(f"top{rank}"), trial, f"rank {rank} of {len(ranked)} by val_top1")
            for rank, trial in enumerate(ranked[:k], start=1)
        ]
    front = [t for t in ranked if t.trial_id in set(record.pareto)]
    objectives = record.pareto_objectives
    if not front:
        raise BnasError(
            f"run {record.name}: the Pareto set is empty (no trained trial reports "
            f"{' and '.join(objectives)})"
        )
    front.sort(key=lambda t: (float(t.metrics.get("ops") or 0.0), t.trial_id))
    label = ", ".join(f"{metric} {mode}" for metric, mode in objectives.items())
    return [
        Choice(safe_name(f"pareto{i}"), trial,
               f"Pareto set ({label}): {i} of {len(front)}, ordered by OPs")
        for i, trial in enumerate(front, start=1)
    ]
