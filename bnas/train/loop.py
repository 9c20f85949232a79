"""The pieces of the epoch loop: one training epoch, validation, metrics, best and checkpoints.

:func:`bnas.train.train` strings them together; each is usable alone, e.g. by a loop that
trains a model whose forward depends on a sampled candidate. Reproducibility: every epoch
starts by reseeding torch, ``random``, numpy and the data order from (seed, epoch)
(:func:`epoch_loader`), and the learning rate is a pure function of the global step, so a
resumed run repeats exactly what the uninterrupted run would have done (identical metrics on
the CPU, timings aside).

Loss per batch (logits z, labels y, label smoothing ε; plus the distillation term of
:mod:`bnas.train.distillation` when a teacher is given):

.. math::
    L = \\mathrm{CE}_{\\varepsilon}(z, y) + L_{kd}

Data parallel: the loaders take ``shard=(rank, world_size)``; ``config.batch_size`` stays the
images of one optimizer step over all processes, each of which takes its share of every batch.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import DataLoader, Dataset

from bnas.architecture import Architecture
from bnas.data import make_loader
from bnas.errors import BnasError
from bnas.files import BEST_MODEL_FILE
from bnas.nn import set_binarization
from bnas.train.checkpoint import epoch_seed, load_optimizer_state, write_checkpoint
from bnas.train.distillation import distillation_loss
from bnas.train.evaluation import evaluate, topk_correct
from bnas.train.monitor import ProgressBar
from bnas.train.optimizer import build_optimizer
from bnas.train.result import TrainingDiverged
from bnas.train.runtime import seed_everything
from bnas.train.schedule import REAL_WEIGHTS_PHASE, learning_rate, phase_of
from bnas.train_config import TrainConfig

# on_epoch(metrics, checkpoint folder): called after every epoch (see bnas.train.train); the
# folder is None in a data-parallel process that writes no checkpoint (bnas.supernet).
OnEpoch = Callable[[dict[str, Any], Path | None], None]
Logits = Callable[[torch.Tensor], torch.Tensor]


# (rank, world_size) of a data-parallel process; None: a single process.
Shard = tuple[int, int] | None


def local_batch_size(config: TrainConfig, shard: Shard) -> int:
    """Images per step of one data-parallel process: ``batch_size / world_size``."""
    if shard is None:
        return config.batch_size
    world_size = shard[1]
    if config.batch_size % world_size:
        raise BnasError(f"batch_size {config.batch_size} does not split evenly over "
                        f"{world_size} data-parallel workers")
    return config.batch_size // world_size


def batches_per_epoch(num_train: int, batch_size: int, shard: Shard = None) -> tuple[int, bool]:
    """(optimizer steps per epoch, drop_last) for ``num_train`` training images.

    An incomplete last batch is dropped (no lone 1-image batch for BatchNorm) unless it is the
    only batch. With a ``shard``, of a process's ⌈num_train / world_size⌉ images in batches of
    ``batch_size / world_size`` (see :func:`bnas.data.make_loader`): the same in every process.
    """
    if shard is not None:
        num_train = -(-num_train // shard[1])
        batch_size //= shard[1]
    drop_last = num_train > batch_size
    return (num_train // batch_size if drop_last else 1), drop_last


def epoch_loader(dataset: Dataset, config: TrainConfig, epoch: int, drop_last: bool,
                 shard: Shard = None) -> DataLoader:
    """Reseed torch, ``random`` and numpy from (seed, epoch); the epoch's shuffled batches
    (this process's share of each, with a ``shard``)."""
    seed_everything(epoch_seed(config.seed, epoch))
    return make_loader(dataset, batch_size=local_batch_size(config, shard), shuffle=True,
                       seed=epoch_seed(config.seed, f"data:{epoch}"), drop_last=drop_last,
                       shard=shard)


def eval_loader(dataset: Dataset, config: TrainConfig) -> DataLoader:
    """``dataset`` in order, in batches of ``config.batch_size``: for evaluation."""
    return make_loader(dataset, batch_size=config.batch_size, shuffle=False)


def enter_phase(model: nn.Module, phase: str | None) -> None:
    """Binary activations always; binary weights except in the two-step recipe's first phase."""
    set_binarization(model, weights=phase != REAL_WEIGHTS_PHASE, activations=True)


def resume_optimizer(model: nn.Module, config: TrainConfig, state: dict[str, Any] | None,
                     start_epoch: int) -> torch.optim.Optimizer:
    """The optimizer of a run that starts at ``start_epoch``: with the checkpoint ``state``'s
    moments, unless ``start_epoch`` begins a new two-step phase (see :func:`begin_epoch`)."""
    optimizer = build_optimizer(model, config)
    if state is not None and phase_of(config, start_epoch) == state.get("phase"):
        load_optimizer_state(optimizer, state["folder"])
    return optimizer


def begin_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig,
                epoch: int, start_epoch: int) -> torch.optim.Optimizer:
    """Binarize as ``epoch``'s phase says; returns the optimizer to train the epoch with.

    At the two-step switch the optimizer starts afresh: Adam's moments of real weights say
    little about latent binary ones.
    """
    phase = phase_of(config, epoch)
    if epoch == start_epoch:
        enter_phase(model, phase)
    elif phase != phase_of(config, epoch - 1):
        enter_phase(model, phase)
        return build_optimizer(model, config)
    return optimizer


def batch_loss(
    model: Logits, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig,
    teacher: Logits | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, logits) of one batch: label-smoothed CE, plus distillation from ``teacher``
    (run without gradients) when one is given and ``kd_weight`` > 0."""
    logits = model(images)
    loss = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
    if teacher is not None and config.kd_weight > 0:
        with torch.no_grad():
            teacher_logits = teacher(images)
        loss = loss + distillation_loss(logits, teacher_logits, config.kd_weight,
                                        config.kd_temperature)
    return loss, logits


def apply_gradients(model: nn.Module, optimizer: torch.optim.Optimizer,
                    grad_clip: float | None) -> None:
    """Clip the gradients' global norm to ``grad_clip`` (None: no clipping), then step."""
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


@dataclass(frozen=True)
class BatchResult:
    """What the forward and backward passes of one step did, summed over its passes (one for
    a plain network; one per candidate for a supernet): Σ loss × images, top-1 hits, images."""

    loss_sum: float
    correct: int
    seen: int

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.seen, 1)


# backward(images, labels, global_step): forward and backward passes of one step, gradients
# accumulated into the model's .grad (cleared before, applied after by train_epoch).
BatchBackward = Callable[[torch.Tensor, torch.Tensor, int], BatchResult]


def plain_backward(model: Logits, config: TrainConfig,
                   teacher: Logits | None = None) -> BatchBackward:
    """The step of one network: :func:`batch_loss`, then its backward pass."""

    def backward(images: torch.Tensor, labels: torch.Tensor, global_step: int) -> BatchResult:
        loss, logits = batch_loss(model, images, labels, config, teacher)
        loss.backward()
        return BatchResult(float(loss.detach()) * len(labels),
                           topk_correct(logits.detach(), labels, 1), len(labels))

    return backward


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


@dataclass(frozen=True)
class EpochStats:
    """Training-side figures of one epoch."""

    loss_sum: float  # Σ batch loss × batch size
    correct: int  # top-1 hits, counted on the training batches as they were trained
    seen: int  # images trained on
    lr: float  # the learning rate of the epoch's last step
    seconds: float  # training time (no validation)

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.seen, 1)

    @property
    def top1(self) -> float:
        return self.correct / max(self.seen, 1)


def train_epoch(
    model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, config: TrainConfig,
    *, device: torch.device, epoch: int, steps_per_epoch: int, teacher: Logits | None = None,
    progress: ProgressBar | None = None, backward: BatchBackward | None = None,
) -> EpochStats:
    """One pass over ``loader``: per batch the step's learning rate, cleared gradients,
    ``backward`` (default: :func:`plain_backward` of ``model`` and ``teacher``), clipping, step.

    Raises :class:`TrainingDiverged` (without a result) at the first NaN/inf loss, before it
    reaches the weights.
    """
    started = time.perf_counter()
    model.train()
    backward = backward or plain_backward(model, config, teacher)
    loss_sum, correct, seen = 0.0, 0, 0
    lr = config.lr
    for step, (images, labels) in enumerate(loader, start=1):
        global_step = (epoch - 1) * steps_per_epoch + step - 1
        lr = learning_rate(config, global_step, steps_per_epoch)
        set_learning_rate(optimizer, lr)
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        batch = backward(images, labels, global_step)
        if not math.isfinite(batch.loss):
            raise TrainingDiverged(f"loss became {batch.loss} at epoch {epoch}, step {step}")
        apply_gradients(model, optimizer, config.grad_clip)
        loss_sum += batch.loss_sum
        correct += batch.correct
        seen += batch.seen
        if progress is not None:
            progress.step(epoch=epoch, loss=f"{batch.loss:.3f}")
    return EpochStats(loss_sum, correct, seen, lr, time.perf_counter() - started)


def validate(model: nn.Module, loader: DataLoader, device: torch.device, num_classes: int,
             epoch: int) -> dict[str, float]:
    """:func:`evaluate` on the validation split; a NaN/inf loss raises TrainingDiverged."""
    val = evaluate(model, loader, device, num_classes)
    if not math.isfinite(val["loss"]):
        raise TrainingDiverged(f"validation loss became {val['loss']} at epoch {epoch}")
    return val


def epoch_metrics(epoch: int, phase: str | None, stats: EpochStats, val: dict[str, float],
                  seconds: float) -> dict[str, Any]:
    """The history row of an epoch (``seconds``: training and validation together)."""
    metrics: dict[str, Any] = {"epoch": epoch}
    if phase is not None:
        metrics["step"] = phase
    metrics.update(train_loss=stats.loss, train_top1=stats.top1, val_loss=val["loss"],
                   val_top1=val["top1"])
    if "top5" in val:
        metrics["val_top5"] = val["top5"]
    metrics.update(lr=stats.lr, epoch_seconds=seconds,
                   images_per_second=stats.seen / max(stats.seconds, 1e-9))
    return metrics


@dataclass
class TrainingProgress:
    """A training run's history and best epoch so far: what every checkpoint carries forward."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_val_top1: float | None = None
    best_epoch: int | None = None
    # The best epoch's state_dict (CPU copies): a search trial's checkpoint ships it.
    best_weights: dict[str, torch.Tensor] | None = None
    seconds_before: float = 0.0  # time spent by the processes that ran it before this one
    started: float = field(default_factory=time.perf_counter)  # when this process took over

    @classmethod
    def resume(cls, state: dict[str, Any] | None) -> TrainingProgress:
        """The record saved in a checkpoint's state (see :func:`read_checkpoint_state`);
        a fresh one for None."""
        if state is None:
            return cls()
        best_file = Path(state["folder"]) / BEST_MODEL_FILE
        return cls(
            history=list(state["history"]),
            best_val_top1=state.get("best_val_top1"),
            best_epoch=state.get("best_epoch"),
            best_weights=load_file(str(best_file)) if best_file.is_file() else None,
            seconds_before=float(state.get("seconds", 0.0)),
        )

    def seconds(self) -> float:
        """The run's time so far, over every process that ran it."""
        return self.seconds_before + time.perf_counter() - self.started

    def add_epoch(self, metrics: dict[str, Any], model: nn.Module, competes: bool) -> bool:
        """Append ``metrics``; if the epoch ``competes`` for best and beats the best val
        top-1, copy ``model``'s weights as the best. Returns whether it did."""
        self.history.append(metrics)
        improved = competes and (self.best_val_top1 is None
                                 or metrics["val_top1"] > self.best_val_top1)
        if improved:
            self.best_val_top1, self.best_epoch = metrics["val_top1"], metrics["epoch"]
            self.best_weights = {
                k: v.detach().cpu().clone() for k, v in model.state_dict().items()
            }
        return improved

    def checkpoint_state(self, *, epoch: int, phase: str | None, steps_per_epoch: int,
                         arch: Architecture, config: TrainConfig) -> dict[str, Any]:
        """The JSON part of the checkpoint after ``epoch``: enough to resume from it."""
        return {
            "epoch": epoch,
            "phase": phase,
            "global_step": epoch * steps_per_epoch,
            "best_val_top1": self.best_val_top1,
            "best_epoch": self.best_epoch,
            "seconds": self.seconds(),
            "history": self.history,
            "rng": {"scheme": "reseeded from (seed, epoch) at every epoch start",
                    "seed": config.seed, "next_epoch": epoch + 1},
            "arch": arch.to_dict(),
            "config": config.to_dict(),
        }


def checkpoint_epoch(
    folder: Path | None, model: nn.Module, optimizer: torch.optim.Optimizer,
    state: dict[str, Any], best_weights: dict[str, torch.Tensor] | None,
    on_epoch: OnEpoch | None, metrics: dict[str, Any], scratch_dir: Path | None = None,
) -> None:
    """Write the epoch's checkpoint into ``folder`` and hand it to ``on_epoch``.

    Without a ``folder`` a checkpoint is written only for ``on_epoch``, into a temporary
    folder (in ``scratch_dir``, default the system's) removed once it returns.
    """
    if folder is not None:
        written = write_checkpoint(folder, model, optimizer, state, best_weights)
        if on_epoch is not None:
            on_epoch(dict(metrics), written)
    elif on_epoch is not None:
        scratch = Path(tempfile.mkdtemp(prefix="bnas-ckpt-", dir=scratch_dir))
        try:
            written = write_checkpoint(scratch / "checkpoint", model, optimizer, state,
                                       best_weights)
            on_epoch(dict(metrics), written)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
