"""Scoring a model on a labelled split: cross-entropy, top-1 and top-5 accuracy."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

# Below this many classes top-5 says nothing (with 5 classes it is always 1).
TOP5_MIN_CLASSES = 6


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, k: int) -> int:
    """How many rows of ``logits`` rank their label among their ``k`` largest entries."""
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return int((top == labels[:, None]).any(dim=1).sum())


class Tally:
    """Cross-entropy (no smoothing), top-1 and (from 6 classes on) top-5 of logits added batch
    by batch, as fractions: what :func:`evaluate` reports."""

    def __init__(self, num_classes: int) -> None:
        self.with_top5 = num_classes >= TOP5_MIN_CLASSES
        self.loss_sum, self.top1, self.top5, self.count = 0.0, 0, 0, 0

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
        self.top1 += topk_correct(logits, labels, 1)
        if self.with_top5:
            self.top5 += topk_correct(logits, labels, 5)
        self.count += len(labels)

    def metrics(self) -> dict[str, float]:
        count = max(self.count, 1)
        metrics = {"loss": self.loss_sum / count, "top1": self.top1 / count}
        if self.with_top5:
            metrics["top5"] = self.top5 / count
        return metrics


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    num_classes: int,
) -> dict[str, float]:
    """Mean cross-entropy (no smoothing), top-1 and (from 6 classes on) top-5, as fractions.

    Puts ``model`` in eval mode (BN running statistics, no dropout) and leaves it there.
    """
    model.eval()
    tally = Tally(num_classes)
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        tally.add(model(images), labels)
    return tally.metrics()
