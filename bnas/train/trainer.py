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
from bnas.files import LAST_DIR, MODEL_FILE, TENSORBOARD_DIR
from bnas.models import load_model_weights
from bnas.train.checkpoint import (
    check_resumable,
    epoch_seed,
    read_checkpoint_state,
)
from bnas.train.distillation import load_teacher
from bnas.train.evaluation import evaluate
from bnas.train.loop import (
    OnEpoch,
    TrainingProgress,
    batches_per_epoch,
    begin_epoch,
    checkpoint_epoch,
    epoch_loader,
    epoch_metrics,
    eval_loader,
    resume_optimizer,
    train_epoch,
    validate,
)
from bnas.train.monitor import ProgressBar, TensorBoardLog
from bnas.train.prepare import PreparedData, prepare_data
from bnas.train.result import TrainingDiverged, TrainResult
from bnas.train.run_folder import (
    abandon_run_folder,
    open_run_folder,
    refuse_existing_run,
    save_best,
)
from bnas.train.runtime import resolve_device, seed_everything, torch_runtime
from bnas.train.schedule import REAL_WEIGHTS_PHASE, phase_of
from bnas.train_config import TrainConfig


def train(
    arch: Architecture,
    config: TrainConfig | dict[str, Any],
    *,
    out_dir: str | Path | None = None,
    on_epoch: OnEpoch | None = None,
    resume_from: str | Path | None = None,
    init_weights: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    scratch_dir: str | Path | None = None,
) -> TrainResult:
    """Train ``arch`` as ``config`` says; return the history, best val top-1 and cost.

    Everything that can be wrong with the input (architecture vs. data, data root, teacher,
    resume checkpoint, an ``out_dir`` already holding a run) is checked before ``out_dir`` is
    created, so bad input leaves no trace. ``out_dir`` receives what
    :mod:`bnas.train.run_folder` lists.

    ``on_epoch(metrics, checkpoint_dir)`` runs after every epoch; ``checkpoint_dir`` holds
    that epoch's checkpoint (``out_dir/last``, or a temporary folder removed once
    ``on_epoch`` returns when there is no ``out_dir``, made in ``scratch_dir``, default the
    system's temporary folder) and is what ``resume_from`` takes.
    ``overwrite`` allows an ``out_dir`` holding a previous run (its checkpoints, best model,
    TensorBoard curves and summary are removed first).

    ``init_weights``: a safetensors state_dict of ``arch`` (e.g. a candidate extracted from a
    one-shot supernet) to start from instead of the seeded initialisation (warm start); the
    rest of the run is unchanged. A resumed run ignores it: its checkpoint holds the weights.

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
        elif init_weights is not None:
            load_model_weights(model, init_weights, what="init_weights")
            extra["init_weights"] = str(init_weights)
        model.to(device)
        run = _Run(model, prepared, config, device=device, teacher=teacher, state=state,
                   cost=cost, out_dir=out_path, on_epoch=on_epoch, extra=extra,
                   scratch_dir=Path(scratch_dir) if scratch_dir is not None else None)
        created = ([] if out_path is None else
                   [folder for folder in (out_path, *out_path.parents) if not folder.exists()])
        try:
            return run.epochs(progress, start_over=overwrite and state is None)
        except OSError as error:  # e.g. a full disk: say what is left, as one line
            if out_path is None:
                raise
            raise abandon_run_folder(out_path, created, error) from None


def _build_model(arch: Architecture) -> nn.Module:
    from bnas.models import build_model

    try:
        return build_model(arch)
    except (ValueError, RuntimeError) as error:  # e.g. an image too small for the stem
        raise BnasError(f"architecture {arch.summary()}: cannot build ({error})") from None


class _Run:
    """The epoch loop of :func:`train`: a built model on validated input, its record so far."""

    def __init__(self, model: nn.Module, prepared: PreparedData, config: TrainConfig, *,
                 device: torch.device, teacher: nn.Module | None, state: dict[str, Any] | None,
                 cost: dict[str, Any], out_dir: Path | None, on_epoch: OnEpoch | None,
                 extra: dict[str, Any], scratch_dir: Path | None = None) -> None:
        self.model, self.prepared, self.config, self.device = model, prepared, config, device
        self.teacher, self.cost, self.out_dir, self.on_epoch = teacher, cost, out_dir, on_epoch
        self.extra, self.scratch_dir = extra, scratch_dir
        splits = prepared.splits
        self.steps_per_epoch, self.drop_last = batches_per_epoch(len(splits.train),
                                                                 config.batch_size)
        self.val_loader = eval_loader(splits.val, config)
        self.start_epoch = int(state["epoch"]) + 1 if state else 1
        self.optimizer = resume_optimizer(model, config, state, self.start_epoch)
        self.record = TrainingProgress.resume(state)

    def epochs(self, progress: bool, start_over: bool) -> TrainResult:
        """Train from ``start_epoch`` to the last epoch; test if asked; the result."""
        config, steps = self.config, self.steps_per_epoch
        if self.out_dir is not None:  # from here on, the output folder exists
            open_run_folder(self.out_dir, self.prepared.arch, config, start_over)
        board = TensorBoardLog(self.out_dir / TENSORBOARD_DIR if self.out_dir else None)
        bar = ProgressBar(progress, config.epochs * steps, (self.start_epoch - 1) * steps)
        try:
            for epoch in range(self.start_epoch, config.epochs + 1):
                self.optimizer = begin_epoch(self.model, self.optimizer, config, epoch,
                                             self.start_epoch)
                metrics = self._train_and_validate(epoch, bar)
                bar.end_epoch(metrics)
                board.log(metrics, epoch)
                self._keep(metrics)
        except TrainingDiverged as diverged:
            diverged.result = self.result("diverged")
            raise
        finally:
            bar.close()
            board.close()
        test = None
        if config.eval_test:
            test = evaluate(self.model, eval_loader(self.prepared.splits.test, config),
                            self.device, self.prepared.info.num_classes)
        return self.result("completed", test)

    def _train_and_validate(self, epoch: int, bar: ProgressBar) -> dict[str, Any]:
        started = time.perf_counter()
        splits = self.prepared.splits
        stats = train_epoch(
            self.model, epoch_loader(splits.train, self.config, epoch, self.drop_last),
            self.optimizer, self.config, device=self.device, epoch=epoch,
            steps_per_epoch=self.steps_per_epoch, teacher=self.teacher, progress=bar,
        )
        val = validate(self.model, self.val_loader, self.device, splits.info.num_classes, epoch)
        return epoch_metrics(epoch, phase_of(self.config, epoch), stats, val,
                             time.perf_counter() - started)

    def _keep(self, metrics: dict[str, Any]) -> None:
        """Record the epoch, save ``best/`` when it improved, checkpoint, call ``on_epoch``."""
        epoch = metrics["epoch"]
        phase = phase_of(self.config, epoch)
        improved = self.record.add_epoch(metrics, self.model, competes=phase != REAL_WEIGHTS_PHASE)
        if improved and self.out_dir is not None:
            save_best(self.out_dir, self.model, self.prepared.arch)
        state = self.record.checkpoint_state(epoch=epoch, phase=phase,
                                             steps_per_epoch=self.steps_per_epoch,
                                             arch=self.prepared.arch, config=self.config)
        checkpoint_epoch(self.out_dir / LAST_DIR if self.out_dir else None, self.model,
                         self.optimizer, state, self.record.best_weights, self.on_epoch, metrics,
                         scratch_dir=self.scratch_dir)

    def result(self, status: str, test: dict[str, float] | None = None) -> TrainResult:
        record = self.record
        return TrainResult(
            status=status, history=record.history, best_val_top1=record.best_val_top1,
            best_epoch=record.best_epoch, final=record.history[-1] if record.history else {},
            seconds=record.seconds(), cost=self.cost, arch=self.prepared.arch,
            config=self.config, test=test, out_dir=self.out_dir,
            dataset=self.prepared.splits.name, extra=self.extra,
        )
