"""Scoring candidates with inherited weights: BatchNorm recalibration, then evaluation, with
what candidates share computed once.

A BatchNorm after a binary conv sees ±1 inputs whose pattern depends on the thresholds in
front of it, so the running statistics a supernet accumulated over many candidates fit none
of them. Before a candidate is scored, its statistics are re-estimated on a few training
batches (Once-for-All, Cai et al., ICLR 2020; NAS-BNN, Lin et al., 2024): running statistics
are reset and every BatchNorm takes the cumulative average over the B batches,

.. math::
    \\hat\\mu = \\frac{1}{B} \\sum_{b=1}^{B} \\mu_b, \\qquad
    \\hat\\sigma^2 = \\frac{1}{B} \\sum_{b=1}^{B} \\sigma_b^2 \\ (\\text{unbiased per batch}),

from train-mode forwards under ``no_grad`` (each batch normalized by its own statistics, as
in training); only the BatchNorms are in train mode, so dropout and stochastic depth do not
disturb the estimate. Weights are untouched. Then the candidate is evaluated on the ranking
batches with those statistics.

**Shared prefixes.** The statistics of a BatchNorm in block k, and block k's output, depend
only on the stem and blocks 0..k (:meth:`~bnas.supernet.Supernet.stage_keys`). Candidates are
sorted by their stage keys, and each stage runs once per distinct prefix: a candidate that
agrees with the previous one up to block k reuses that output and those statistics and
computes from block k + 1 on. Per batch, every stage keeps one output per depth; per
distinct prefix, its BatchNorms' statistics. The numbers are exactly those of scoring each
candidate alone (the same operations in the same order); what is saved is the stem and the
shared leading blocks, most of a tiny CNN's forward pass when many candidates are scored
together (``bench/scoring_cost.py``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import islice
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from bnas.architecture import Architecture
from bnas.data import make_loader
from bnas.supernet.network import Stage, Supernet
from bnas.train.evaluation import Tally

Batch = tuple[torch.Tensor, torch.Tensor]
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def calibration_batches(
    dataset: Dataset, *, batch_size: int, count: int, seed: int
) -> list[Batch]:
    """The first ``count`` batches of ``dataset`` shuffled by ``seed``, kept in memory, so every
    candidate is recalibrated on the same images.

    Random augmentation (training transforms draw from torch's global generator) is seeded by
    ``seed`` too, inside :func:`torch.random.fork_rng`: the caller's random state is untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        loader = make_loader(dataset, batch_size=batch_size, shuffle=True, seed=seed,
                             num_workers=0)
        return list(islice(loader, count))


def _norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


class _Prefixes:
    """The candidates sorted by stage keys, and the BatchNorm statistics of every distinct
    prefix (stage index, keys up to it) once calibrated."""

    def __init__(self, supernet: Supernet, archs: Sequence[Architecture]) -> None:
        self.supernet = supernet
        self.stages: list[Stage] = supernet.stages()
        self.norms = [_norms(stage.module) for stage in self.stages]
        keyed = [(tuple(supernet.stage_keys(arch)), arch) for arch in archs]
        order = sorted(range(len(keyed)), key=lambda i: repr(keyed[i][0]))
        self.keys = [keyed[i][0] for i in order]
        self.archs = [keyed[i][1] for i in order]
        self.order = order  # position in the sorted list → index in ``archs``
        self.statistics: dict[tuple[Hashable, ...], list[dict[str, torch.Tensor]]] = {}

    def walk(self, images: torch.Tensor, calibrate: bool) -> list[torch.Tensor]:
        """Every candidate's output on ``images``, in sorted order; each stage runs once per
        distinct prefix. ``calibrate``: BatchNorms in train mode, their statistics added to
        each prefix's cumulative average; else eval mode with each prefix's statistics."""
        outputs: list[Any] = [images] + [None] * len(self.stages)
        previous: tuple[Hashable, ...] | None = None
        results = []
        for keys, arch in zip(self.keys, self.archs):
            start = 0 if previous is None else next(
                (i for i, (a, b) in enumerate(zip(previous, keys)) if a != b), len(keys))
            if start < len(self.stages):
                self.supernet.set_active(arch)
            for index in range(start, len(self.stages)):
                prefix = keys[:index + 1]
                norms = self.norms[index]
                if calibrate:
                    self._load(prefix, norms, fresh=prefix not in self.statistics)
                    for norm in norms:
                        norm.train()
                else:
                    self._load(prefix, norms, fresh=False)
                outputs[index + 1] = self.stages[index].run(outputs[index])
                if calibrate:
                    self.statistics[prefix] = [
                        {name: getattr(norm, name).clone() for name in _BUFFERS}
                        for norm in norms]
                    for norm in norms:
                        norm.eval()
            previous = keys
            results.append(outputs[-1])
        return results

    def _load(self, prefix: tuple[Hashable, ...], norms: list[Any], fresh: bool) -> None:
        if fresh:
            for norm in norms:
                norm.reset_running_stats()
            return
        for norm, saved in zip(norms, self.statistics[prefix]):
            for name, value in saved.items():
                getattr(norm, name).copy_(value)

    def load_all(self, position: int) -> None:
        """Activate the candidate at sorted ``position`` with its calibrated statistics."""
        keys = self.keys[position]
        self.supernet.set_active(self.archs[position])
        for index, norms in enumerate(self.norms):
            self._load(keys[:index + 1], norms, fresh=keys[:index + 1] not in self.statistics)


@torch.no_grad()
def evaluate_candidates(
    supernet: Supernet, archs: Sequence[Architecture], calibration: Sequence[Batch],
    ranking: Sequence[Batch], *, device: torch.device,
) -> list[dict[str, float]]:
    """Every candidate's ``{"loss", "top1"[, "top5"]}`` (as :func:`bnas.train.evaluate`
    reports them) on ``ranking``, after recalibrating its BatchNorms on ``calibration``
    (training batches); see the module docstring for what candidates share.

    Leaves the supernet in eval mode with the last of ``archs`` active and its recalibrated
    statistics loaded (so :meth:`Supernet.extract` copies them)."""
    if not archs:
        return []
    prefixes = _Prefixes(supernet, archs)
    norms = [norm for stage_norms in prefixes.norms for norm in stage_norms]
    momenta = [norm.momentum for norm in norms]
    supernet.eval()
    try:
        for norm in norms:
            norm.momentum = None  # cumulative average over the calibration batches
        for images, _ in calibration:
            prefixes.walk(images.to(device), calibrate=True)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
    tallies = [Tally(supernet.num_classes) for _ in prefixes.archs]
    for images, labels in ranking:
        labels = labels.to(device)
        for tally, logits in zip(tallies, prefixes.walk(images.to(device), calibrate=False)):
            tally.add(logits, labels)
    scores: list[dict[str, float]] = [{} for _ in archs]
    for position, tally in enumerate(tallies):
        scores[prefixes.order[position]] = tally.metrics()
    prefixes.load_all(prefixes.order.index(len(archs) - 1))
    return scores


def evaluate_candidate(
    supernet: Supernet, arch: Architecture, calibration: Sequence[Batch],
    ranking: Sequence[Batch], *, device: torch.device,
) -> dict[str, float]:
    """One candidate's scores (:func:`evaluate_candidates`); the supernet keeps ``arch``
    active with its recalibrated statistics."""
    return evaluate_candidates(supernet, [arch], calibration, ranking, device=device)[0]
