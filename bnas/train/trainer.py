"""One training run of an Architecture on a dataset: :func:`train`.

The same function serves ``bnas train`` and a search trial; it knows nothing of Ray. A trial
passes ``on_epoch`` to report metrics and hand over each epoch's checkpoint folder, and
``resume_from`` to continue from one.

Reproducibility: the run is a function of ``config.seed``. The model is initialised from
``epoch_seed(seed, "init")``, every epoch reseeds from (seed, epoch) and the learning rate is
a pure function of the step (:mod:`bnas.train.loop`), so a resumed run ends exactly where the
uninterrupted run does.

Two-step recipe (Martinez et al. 2020; ReActNet; :func:`bnas.train.schedule.phase_of`): the
optimizer state is reset at the switch (Adam's moments of real weights say little about the
latent weights of a binary network); the learning-rate schedule runs on across it, one
sequence over all epochs. Only fully binary epochs compete for the best checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bnas.architecture import Architecture
from bnas.errors import BnasError
from bnas.train.checkpoint import (
    MODEL_FILE,
    check_resumable,
    epoch_seed,
    load_model_weights,
    load_optimizer_state,
    read_checkpoint_state,
)
from bnas.train.config import TrainConfig
from bnas.train.distillation import load_teacher
from bnas.train.evaluation import evaluate
from bnas.train.loop import (
    OnEpoch,
    RunRecord,
    batches_per_epoch,
    checkpoint_epoch,
    enter_phase,
    epoch_loader,
    epoch_metrics,
    eval_loader,
    train_epoch,
    validate,
)
from bnas.train.monitor import ProgressBar, TensorBoardLog
from bnas.train.optimizer import build_optimizer
from bnas.train.prepare import PreparedData, prepare_data
from bnas.train.result import TrainingDiverged, TrainResult
from bnas.train.run_folder import (
    LAST_DIR,
    TENSORBOARD_DIR,
    open_run_folder,
    refuse_existing_run,
    save_best,
)
from bnas.train.runtime import resolve_device, seed_everything, torch_runtime
from bnas.train.schedule import REAL_WEIGHTS_PHASE, phase_of


def train(
    arch: Architecture,
    config: TrainConfig | dict[str, Any],
    *,
    out_dir: str | Path | None = None,
    on_epoch: OnEpoch | None = None,
    resume_from: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> TrainResult:
    """Train ``arch`` as ``config`` says; return the history, best val top-1 and cost.

    Everything that can be wrong with the input (architecture vs. data, data root, teacher,
    resume checkpoint, an ``out_dir`` already holding a run) is checked before ``out_dir`` is
    created, so bad input leaves no trace. ``out_dir`` receives what
    :mod:`bnas.train.run_folder` lists.

    ``on_epoch(metrics, checkpoint_dir)`` runs after every epoch; ``checkpoint_dir`` holds
    that epoch's checkpoint (``out_dir/last``, or a temporary folder removed once
    ``on_epoch`` returns when there is no ``out_dir``) and is what ``resume_from`` takes.
    ``overwrite`` allows an ``out_dir`` holding a previous run (its checkpoints, best model,
    TensorBoard curves and summary are removed first).

    Raises :class:`TrainingDiverged` (with ``.result``) when the loss becomes NaN/inf.
    """
    from bnas.profile import profile_architecture

    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(config)
    if not isinstance(arch, Architecture):
        arch = Architecture.from_dict(arch)
    out_path = Path(out_dir) if out_dir is not None else None

    prepared = prepare_data(arch, config)
    if config.eval_test and prepared.splits.test is None:
        raise BnasError(f"eval_test: dataset {config.data.name} at {config.data.root} has no "
                        "test split")
    device = resolve_device(config.device)
    state: dict[str, Any] | None = None
    if resume_from is not None:
        state = read_checkpoint_state(resume_from)
        check_resumable(state, prepared.arch, config)
    if out_path is not None and state is None and not overwrite:
        refuse_existing_run(out_path)

    with torch_runtime(config.threads, device):
        seed_everything(epoch_seed(config.seed, "init"))
        model = _build_model(prepared.arch)
        cost = profile_architecture(prepared.arch, prepared.info.img_size).to_dict()
        teacher, extra = None, {}
        if config.teacher is not None:
            teacher, extra["teacher"] = load_teacher(
                config.teacher, config.teacher_checkpoint, prepared.info.num_classes,
                prepared.info.in_chans,
            )
            teacher.to(device)
        if state is not None:
            load_model_weights(model, Path(state["folder"]) / MODEL_FILE, what="resume")
        model.to(device)
        run = _Run(model, prepared, config, device, cost, out_path, extra)
        return run.epochs(teacher, state, on_epoch, progress,
                          start_over=overwrite and state is None)


def _build_model(arch: Architecture) -> nn.Module:
    from bnas.models import build_model

    try:
        return build_model(arch)
    except (ValueError, RuntimeError) as error:  # e.g. an image too small for the stem
        raise BnasError(f"architecture {arch.summary()}: cannot build ({error})") from None


class _Run:
    """The epoch loop of :func:`train` over a built model, on validated input."""

    def __init__(self, model: nn.Module, prepared: PreparedData, config: TrainConfig,
                 device: torch.device, cost: dict[str, Any], out_dir: Path | None,
                 extra: dict[str, Any]) -> None:
        self.model, self.prepared, self.config, self.device = model, prepared, config, device
        self.cost, self.out_dir, self.extra = cost, out_dir, extra

    def epochs(self, teacher: nn.Module | None, state: dict[str, Any] | None,
               on_epoch: OnEpoch | None, progress: bool, start_over: bool) -> TrainResult:
        """Epochs after the checkpoint ``state`` (all without one) to ``config.epochs``."""
        model, config, splits = self.model, self.config, self.prepared.splits
        steps_per_epoch, drop_last = batches_per_epoch(len(splits.train), config.batch_size)
        start_epoch = int(state["epoch"]) + 1 if state else 1
        record = RunRecord.resume(state)
        optimizer = build_optimizer(model, config)
        if state is not None and phase_of(config, start_epoch) == state.get("phase"):
            load_optimizer_state(optimizer, state["folder"])  # at the step switch: fresh state

        if self.out_dir is not None:  # from here on, the output folder exists
            open_run_folder(self.out_dir, self.prepared.arch, config, start_over)
        board = TensorBoardLog(self.out_dir / TENSORBOARD_DIR if self.out_dir else None)
        val_loader = eval_loader(splits.val, config)
        bar = ProgressBar(progress, config.epochs * steps_per_epoch,
                          (start_epoch - 1) * steps_per_epoch)
        started = time.perf_counter()
        try:
            for epoch in range(start_epoch, config.epochs + 1):
                phase = phase_of(config, epoch)
                if epoch == start_epoch:
                    enter_phase(model, phase)
                elif phase != phase_of(config, epoch - 1):  # the step switch: reset state
                    enter_phase(model, phase)
                    optimizer = build_optimizer(model, config)
                epoch_started = time.perf_counter()
                stats = train_epoch(
                    model, epoch_loader(splits.train, config, epoch, drop_last), optimizer,
                    config, device=self.device, epoch=epoch, steps_per_epoch=steps_per_epoch,
                    teacher=teacher, progress=bar,
                )
                val = validate(model, val_loader, self.device, splits.info.num_classes, epoch)
                metrics = epoch_metrics(epoch, phase, stats, val,
                                        time.perf_counter() - epoch_started)
                improved = record.add_epoch(metrics, model,
                                            competes=phase != REAL_WEIGHTS_PHASE)
                bar.end_epoch(metrics)
                board.log(metrics, epoch)
                if self.out_dir is not None and improved:
                    save_best(self.out_dir, model, self.prepared.arch)
                checkpoint_state = record.checkpoint_state(
                    epoch=epoch, phase=phase, steps_per_epoch=steps_per_epoch,
                    seconds=record.seconds(started), arch=self.prepared.arch, config=config,
                )
                checkpoint_epoch(self.out_dir / LAST_DIR if self.out_dir else None, model,
                                 optimizer, checkpoint_state, record.best_weights, on_epoch,
                                 metrics)
        except TrainingDiverged as diverged:
            diverged.result = self.result(record, "diverged", record.seconds(started))
            raise
        finally:
            bar.close()
            board.close()

        test = None
        if config.eval_test:
            test = evaluate(model, eval_loader(splits.test, config), self.device,
                            splits.info.num_classes)
        return self.result(record, "completed", record.seconds(started), test)

    def result(self, record: RunRecord, status: str, seconds: float,
               test: dict[str, float] | None = None) -> TrainResult:
        return TrainResult(
            status=status, history=record.history, best_val_top1=record.best_val_top1,
            best_epoch=record.best_epoch, final=record.history[-1] if record.history else {},
            seconds=seconds, cost=self.cost, arch=self.prepared.arch, config=self.config,
            test=test, out_dir=self.out_dir, dataset=self.prepared.splits.name, extra=self.extra,
        )
