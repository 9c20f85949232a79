"""A search's progress lines: one per reported epoch, failure and retry, trials numbered 1, 2, …
in the order they first report.

The printer is a Ray Tune callback, so Tune saves its state (the trial numbers and the elapsed
time) with every experiment snapshot and hands it back on ``--resume``: a resumed search goes
on numbering trials and counting seconds where the interrupted one stopped. (Tune also keeps
the callback itself in the run's pickled state; its class is found by name in this module.)
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune import Callback

from bnas.search.trainable import FAILURE_KEY, FEASIBLE_KEY


class ProgressPrinter(Callback):
    """``[  12.3s] trial   2/8 reactnet_a[S D4 S S]  epoch 3/5  val_top1 0.812  OPs 3.2e+04``."""

    def __init__(self, epochs: int, num_samples: int, max_failures: int) -> None:
        self.epochs = epochs
        self.num_samples = num_samples
        self.max_failures = max_failures
        self.numbers: dict[str, int] = {}
        self._elapsed_before = 0.0  # seconds the search ran before a resume
        self._started: float | None = None  # time.monotonic() when Tune started this run

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_started"] = None  # a monotonic time means nothing in another process
        return state

    # -- Tune's experiment snapshots ----------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return {"numbers": dict(self.numbers), "elapsed": self.elapsed()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.numbers = {str(trial): int(number) for trial, number in state["numbers"].items()}
        self._elapsed_before = float(state["elapsed"])
        self._started = None

    def setup(self, **info: Any) -> None:
        self._started = time.monotonic()

    # -- lines --------------------------------------------------------------------------------

    def elapsed(self) -> float:
        running = time.monotonic() - self._started if self._started is not None else 0.0
        return self._elapsed_before + running

    def number(self, trial: Any) -> int:
        return self.numbers.setdefault(trial.trial_id, len(self.numbers) + 1)

    def line(self, trial: Any, text: str) -> None:
        print(
            f"[{self.elapsed():6.1f}s] trial {self.number(trial):>3}/{self.num_samples} {text}",
            flush=True,
        )

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict[str, Any],
                        **info: Any) -> None:
        if result.get(FAILURE_KEY):
            self.line(trial, f"{result.get('arch', '')}  failed: {result[FAILURE_KEY]}".strip())
            return
        if not result.get(FEASIBLE_KEY, True):
            self.line(trial, f"{result.get('arch', '?')}  over budget, not trained")
            return
        if "val_top1" not in result:
            return
        self.line(
            trial,
            f"{result.get('arch', '?')}  epoch {result.get('epoch', '?')}/{self.epochs}  "
            f"val_top1 {result['val_top1']:.3f}  OPs {result.get('ops', float('nan')):.3g}",
        )

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.line(
            trial,
            f"lost its worker or node: retry {trial.num_failures}/{self.max_failures} from its "
            "last checkpoint",
        )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.line(trial, "failed (reason in summary.json)")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = trial.last_result
        if last.get(FAILURE_KEY) or not last.get(FEASIBLE_KEY, True):
            return
        epochs = last.get("epoch", last.get("training_iteration", 0))
        if epochs < self.epochs:
            self.line(trial, f"stopped early by ASHA after {epochs} epochs")
