"""Scoring many candidates of one trained supernet, fast: :class:`CandidateScorer`.

A one-shot search scores thousands of candidates with inherited weights
(:func:`bnas.supernet.evaluate_candidate`: BatchNorm recalibrated on a few training batches,
then the validation split). What can be done once is done once: the supernet is loaded, and
the calibration and validation batches are loaded, transformed and moved to the device when
the scorer is built, so scoring a candidate is only its forward passes. Every candidate is
calibrated on the *same* training batches, drawn by the run's seed, so scores are comparable
and a candidate scores the same wherever and whenever it is scored.

Plain torch (a Ray actor of :mod:`bnas.search` wraps it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bnas.architecture import Architecture
from bnas.space import SearchSpace
from bnas.supernet.evaluation import calibration_batches, evaluate_candidate
from bnas.supernet.network import Supernet
from bnas.supernet.training import load_supernet, supernet_config
from bnas.train.checkpoint import epoch_seed, save_model
from bnas.train.loop import eval_loader
from bnas.train.prepare import prepare_data
from bnas.train.runtime import resolve_device

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ScoringData:
    """The batches every candidate is scored on, already on the device."""

    calibration: list[Batch]  # training batches for BatchNorm recalibration
    validation: list[Batch]  # the whole validation split
    train_images: int  # size of the training split: what a candidate-epoch passes over

    @property
    def images_per_candidate(self) -> int:
        """Images one scoring runs forward: calibration and validation together."""
        return sum(len(labels) for _, labels in self.calibration + self.validation)


def scoring_data(space: SearchSpace, bn_batches: int, device: torch.device) -> ScoringData:
    """The splits the supernet trained on (same subset, held-out split and seed) and the
    calibration batches its training scored the largest and smallest candidate with
    (:func:`bnas.supernet.training.train_supernet`), so a candidate scores here what it
    scored there."""
    config = supernet_config(space)
    splits = prepare_data(space.extremes()[1], config).splits
    calibration = calibration_batches(splits.train, batch_size=config.batch_size,
                                      count=bn_batches,
                                      seed=epoch_seed(config.seed, "calibration"))
    move = [(x.to(device), y.to(device)) for x, y in calibration]
    validation = [(x.to(device), y.to(device)) for x, y in eval_loader(splits.val, config)]
    return ScoringData(move, validation, len(splits.train))


class CandidateScorer:
    """Scores candidates of one supernet with inherited weights on fixed batches.

    >>> scorer = CandidateScorer.from_checkpoint(space, "runs/x/supernet/last", bn_batches=4)
    >>> scorer.score(arch)       # {"val_top1": 0.87, "val_loss": 0.41, "seconds": 0.02}
    """

    def __init__(self, supernet: Supernet, data: ScoringData, device: torch.device) -> None:
        self.supernet = supernet.to(device)
        self.data = data
        self.device = device

    @classmethod
    def from_checkpoint(cls, space: SearchSpace, checkpoint_dir: str | Path, *,
                        bn_batches: int, device: str | None = None) -> CandidateScorer:
        """Load the supernet of ``checkpoint_dir`` and the scoring batches of ``space``.

        ``device``: as ``train.device`` (default: the space's).
        """
        where = resolve_device(device or supernet_config(space).device)
        return cls(load_supernet(space, checkpoint_dir), scoring_data(space, bn_batches, where),
                   where)

    def score(self, arch: Architecture) -> dict[str, float]:
        """``val_top1``, ``val_loss`` (and ``val_top5`` from 6 classes on) of ``arch`` with
        inherited weights, and the ``seconds`` it took. The supernet keeps ``arch`` active."""
        started = time.perf_counter()
        metrics = evaluate_candidate(self.supernet, arch, self.data.calibration,
                                     self.data.validation,
                                     calibration_batches=len(self.data.calibration),
                                     device=self.device)
        scores = {f"val_{name}": value for name, value in metrics.items()}
        return {**scores, "seconds": time.perf_counter() - started}

    def extract(self, arch: Architecture, path: str | Path) -> dict[str, Any]:
        """Score ``arch`` (which recalibrates its BatchNorm) and save it as a stand-alone
        network's weights (safetensors): a warm start for :func:`bnas.train.train`."""
        scores = self.score(arch)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_model(self.supernet.extract(arch), path)
        return scores
