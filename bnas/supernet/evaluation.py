"""Scoring a candidate with inherited weights: BatchNorm recalibration, then evaluation.

A BatchNorm after a binary conv sees ±1 inputs whose pattern depends on the thresholds in
front of it, so the running statistics a supernet accumulated over many candidates fit none
of them. Before a candidate is scored, its statistics are re-estimated on a few training
batches (Once-for-All, Cai et al., ICLR 2020; NAS-BNN, Lin et al., 2024): running statistics
are reset and every BatchNorm takes the cumulative average over the batches
(``momentum=None``),

.. math::
    \\hat\\mu = \\frac{1}{B} \\sum_{b=1}^{B} \\mu_b, \\qquad
    \\hat\\sigma^2 = \\frac{1}{B} \\sum_{b=1}^{B} \\sigma_b^2 \\ (\\text{unbiased per batch}),

from train-mode forwards under ``no_grad``; only the BatchNorms are in train mode, so dropout
and stochastic depth do not disturb the estimate. Weights are untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any

import torch
from torch import nn

from bnas.architecture import Architecture
from bnas.supernet.network import Supernet
from bnas.train.evaluation import evaluate


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, batches: Iterable[Any], num_batches: int, device: torch.device
) -> int:
    """Re-estimate every BatchNorm's running statistics on the first ``num_batches`` of
    ``batches`` (``(images, labels)`` pairs); returns how many batches were used."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:  # binary CCT normalises with LayerNorm: nothing to estimate
        return 0
    was_training, momenta = model.training, [norm.momentum for norm in norms]
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    used = 0
    try:
        for images, _ in islice(batches, num_batches):
            model(images.to(device))
            used += 1
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.train(was_training)
    return used


def evaluate_candidate(
    supernet: Supernet, arch: Architecture, calibration: Iterable[Any], loader: Iterable[Any],
    *, calibration_batches: int, device: torch.device,
) -> dict[str, float]:
    """Activate ``arch``, recalibrate BatchNorm on ``calibration`` (training batches) and
    evaluate on ``loader``: ``{"loss", "top1"[, "top5"]}`` as :func:`bnas.train` reports them.
    The supernet keeps ``arch`` active and its statistics (so :meth:`Supernet.extract` copies
    them too)."""
    supernet.set_active(arch)
    recalibrate_batchnorm(supernet, calibration, calibration_batches, device)
    return evaluate(supernet, loader, device, supernet.num_classes)
