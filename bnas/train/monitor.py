"""What a person watches during a run: a progress bar on the terminal, TensorBoard curves."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# Metrics that label an epoch rather than measure it: not plotted.
LABEL_KEYS = ("epoch", "step")


class ProgressBar:
    """One tqdm bar over every step of the run, the last epoch's val top-1 in the postfix.

    Shown only when ``enabled`` and stderr is a terminal (a log file gets no bar).
    """

    def __init__(self, enabled: bool, total: int, initial: int) -> None:
        self.bar = None
        self.shown: dict[str, str] = {}
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True,
                            leave=False)

    def step(self, **postfix: Any) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({**postfix, **self.shown}, refresh=False)

    def end_epoch(self, metrics: dict[str, Any]) -> None:
        """Show the epoch's validation accuracy next to the running loss from now on."""
        self.shown = {"val_top1": f"{metrics['val_top1']:.3f}"}

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class TensorBoardLog:
    """Every numeric metric of every epoch as a TensorBoard scalar under ``folder``.

    ``folder=None`` logs nothing (a run without an output folder).
    """

    def __init__(self, folder: Path | None) -> None:
        self.writer = None
        if folder is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(folder))

    def log(self, metrics: dict[str, Any], epoch: int) -> None:
        """Write the epoch's scalars and flush, so a killed run keeps its curves."""
        if self.writer is None:
            return
        for key, value in metrics.items():
            if key not in LABEL_KEYS:
                self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
