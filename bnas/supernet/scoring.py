"""Scoring many candidates of a one-shot search's supernets, fast: :class:`CandidateScorer`.

A one-shot search scores hundreds of candidates with inherited weights
(:func:`bnas.supernet.evaluate_candidates`: BatchNorm recalibrated on a few training batches,
then the ranking batches), with every supernet it trained (``supernet.seeds``): a candidate's
score is the mean over the seeds, and each seed's score is kept so that a report can say
whether they agree. What can be done once is done once:

- the supernets are loaded, and the calibration and ranking batches loaded, transformed and
  moved to the device, when the scorer is built;
- candidates scored together share the stem and their common leading blocks
  (:func:`~bnas.supernet.evaluate_candidates`);
- a candidate that computes what an earlier one computed (the same architecture, or one
  whose reduction ratios ``min_hidden`` clamps to the same generator widths) takes the earlier
  score: scoring is deterministic, every candidate is scored on the same batches.

Plain torch (a Ray actor of :mod:`bnas.search` wraps it).
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bnas.architecture import Architecture
from bnas.run_record import seed_metric
from bnas.space import SearchSpace
from bnas.supernet.evaluation import Batch, evaluate_candidate, evaluate_candidates
from bnas.supernet.network import Supernet
from bnas.supernet.training import (
    load_supernet,
    scoring_batches,
    supernet_config,
    supernet_data,
)
from bnas.train.checkpoint import save_model
from bnas.train.runtime import resolve_device


@dataclass(frozen=True)
class ScoringData:
    """The batches every candidate is scored on, already on the device."""

    calibration: list[Batch]  # training batches for BatchNorm recalibration
    ranking: list[Batch]  # the validation split, or its ranking subset
    train_images: int  # size of the training split: what a candidate-epoch passes over

    @property
    def images_per_candidate(self) -> int:
        """Images one scoring with one supernet runs forward: calibration and ranking."""
        return sum(len(labels) for _, labels in self.calibration + self.ranking)


def scoring_data(space: SearchSpace, device: torch.device) -> ScoringData:
    """The supernets' splits and the batches their training scored its ends on
    (:func:`bnas.supernet.training.scoring_batches`), so a candidate scores here what it
    scored there."""
    prepared = supernet_data(space)
    calibration, ranking = scoring_batches(space, prepared)

    def move(batches: list[Batch]) -> list[Batch]:
        return [(x.to(device), y.to(device)) for x, y in batches]

    return ScoringData(move(calibration), move(ranking), len(prepared.splits.train))


class CandidateScorer:
    """Scores candidates of one or more supernets (the seeds of one space) with inherited
    weights on fixed batches.

    >>> scorer = CandidateScorer.from_checkpoints(space, ["runs/x/supernet/epoch_0005/seed_0"])
    >>> scorer.score_many([arch])   # [{"val_top1": 0.87, "val_loss": 0.41, "val_top1_seed0": ...}]
    """

    def __init__(self, supernets: Sequence[Supernet], data: ScoringData,
                 device: torch.device) -> None:
        self.supernets = [supernet.to(device) for supernet in supernets]
        self.data = data
        self.device = device
        self.known: dict[Hashable, dict[str, float]] = {}  # function key → scores
        self.scored = 0  # candidates scored, not taken from ``known``
        # CPU seconds of this process spent scoring them: on a shared machine a wall clock
        # counts the other processes' turns too (10× on a loaded 2-core machine, measured).
        self.cpu_seconds = 0.0

    @classmethod
    def from_checkpoints(cls, space: SearchSpace, checkpoint_dirs: Sequence[str | Path], *,
                         device: str | None = None) -> CandidateScorer:
        """Load every seed's supernet (:func:`bnas.supernet.load_supernet`) and the scoring
        batches of ``space``. ``device``: as ``train.device`` (default: the space's)."""
        where = resolve_device(device or supernet_config(space).device)
        return cls([load_supernet(space, folder) for folder in checkpoint_dirs],
                   scoring_data(space, where), where)

    def key(self, arch: Architecture) -> Hashable:
        """What ``arch`` computes: equal keys, equal scores."""
        return tuple(self.supernets[0].stage_keys(arch))

    def score_many(self, archs: Sequence[Architecture]) -> list[dict[str, float]]:
        """Scores of ``archs`` in order: per metric (``val_top1``, ``val_loss``, and
        ``val_top5`` from 6 classes on) the mean over the supernets and, with two or more,
        each one's (``val_top1_seed0``, …); ``cpu_seconds``: this candidate's share of the
        scoring's CPU time (0 for one scored before)."""
        keys = [self.key(arch) for arch in archs]
        new: dict[Hashable, Architecture] = {}
        for key, arch in zip(keys, archs):
            if key not in self.known:
                new.setdefault(key, arch)
        share = 0.0
        if new:
            started = time.process_time()
            per_seed = [evaluate_candidates(supernet, list(new.values()), self.data.calibration,
                                            self.data.ranking, device=self.device)
                        for supernet in self.supernets]
            share = (time.process_time() - started) / len(new)
            for position, key in enumerate(new):
                self.known[key] = combine([seed[position] for seed in per_seed])
            self.scored += len(new)
            self.cpu_seconds += share * len(new)
        scores = []
        for key in keys:
            scores.append({**self.known[key], "cpu_seconds": share if key in new else 0.0})
            new.pop(key, None)  # a repeat within this call costs nothing more
        return scores

    def score(self, arch: Architecture) -> dict[str, float]:
        """One candidate's scores (:meth:`score_many`)."""
        return self.score_many([arch])[0]

    def extract(self, arch: Architecture, path: str | Path, seed: int = 0) -> dict[str, Any]:
        """Save ``arch``'s weights in supernet ``seed`` (BatchNorm recalibrated) as a
        stand-alone network's (safetensors): a warm start for :func:`bnas.train.train`."""
        supernet = self.supernets[seed]
        scores = evaluate_candidate(supernet, arch, self.data.calibration, self.data.ranking,
                                    device=self.device)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_model(supernet.extract(arch), path)
        return {f"val_{name}": value for name, value in scores.items()}


def combine(per_seed: Sequence[dict[str, float]]) -> dict[str, float]:
    """``val_<metric>``: the mean over the seeds' scores; with two or more seeds also each
    seed's (:func:`bnas.run_record.seed_metric`)."""
    out: dict[str, float] = {}
    for name in per_seed[0]:
        values = [scores[name] for scores in per_seed]
        out[f"val_{name}"] = sum(values) / len(values)
        if len(values) > 1:
            out.update({seed_metric(f"val_{name}", i): value for i, value in enumerate(values)})
    return out
