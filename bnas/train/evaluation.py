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
    with_top5 = num_classes >= TOP5_MIN_CLASSES
    loss_sum, top1, top5, count = 0.0, 0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
        top1 += topk_correct(logits, labels, 1)
        if with_top5:
            top5 += topk_correct(logits, labels, 5)
        count += len(labels)
    metrics = {"loss": loss_sum / max(count, 1), "top1": top1 / max(count, 1)}
    if with_top5:
        metrics["top5"] = top5 / max(count, 1)
    return metrics
