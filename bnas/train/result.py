"""What a run produced, as plain data: :class:`TrainResult`, and how two runs compare."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnas.architecture import Architecture
from bnas.train_config import TrainConfig

# Metrics that measure the machine, not the model: excluded when comparing runs.
TIMING_KEYS = ("epoch_seconds", "images_per_second")


@dataclass
class TrainResult:
    """What one run produced, as plain data (``to_dict`` for JSON)."""

    status: str  # "completed" or "diverged"
    history: list[dict[str, Any]]
    best_val_top1: float | None
    best_epoch: int | None
    final: dict[str, Any]
    seconds: float
    cost: dict[str, Any]
    arch: Architecture
    config: TrainConfig
    test: dict[str, float] | None = None
    out_dir: Path | None = None
    dataset: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The summary ``bnas train`` writes: accuracy, time, cost keys at top level."""
        final = self.final or {}
        summary: dict[str, Any] = {
            "status": self.status,
            "val_top1": self.best_val_top1,
            "best_epoch": self.best_epoch,
            "final_val_top1": final.get("val_top1"),
            "final_val_top5": final.get("val_top5"),
            "epochs": len(self.history),
            "seconds": round(self.seconds, 3),
            "seed": self.config.seed,
            "dataset": self.dataset,
            "arch_summary": self.arch.summary(),
            "arch_id": self.arch.arch_id,
        }
        if self.test is not None:
            summary.update({f"test_{k}": v for k, v in self.test.items()})
        summary.update(self.cost)
        summary.update(self.extra)
        summary.update(
            {
                "arch": self.arch.to_dict(),
                "config": self.config.to_dict(),
                "history": self.history,
                "out_dir": str(self.out_dir) if self.out_dir is not None else None,
            }
        )
        return summary


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; ``result`` holds the run up to that point.

    The training loop raises it without a result; :func:`bnas.train.train` attaches the run's
    before it reaches the caller.
    """

    def __init__(self, message: str, result: TrainResult | None = None) -> None:
        super().__init__(message)
        self.result = result


def comparable(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A history without the timing keys: equal for two runs of the same seed."""
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in history]
