"""One training run of an Architecture on a dataset: :func:`train`.

The same function serves ``bnas train`` and a search trial; it knows nothing of Ray. A trial
passes ``on_epoch`` to report metrics and hand over each epoch's checkpoint folder, and
``resume_from`` to continue from one.

Reproducibility: the run is a function of ``config.seed``. The model is initialised from
``epoch_seed(seed, "init")``; every epoch starts by reseeding torch, ``random`` and the data
order from ``epoch_seed(seed, epoch)``, and the learning rate is a pure function of the global
step. A resumed run therefore repeats exactly what the uninterrupted run would have done
(identical metrics on the CPU, timings aside).

Loss per batch (logits z, labels y, teacher logits t when distilling, temperature T):

.. math::
    L = \\mathrm{CE}_{\\varepsilon}(z, y)
        + w_{kd}\\, T^2\\, \\mathrm{KL}\\big(\\mathrm{softmax}(t/T) \\,\\|\\,
          \\mathrm{softmax}(z/T)\\big)

with ε the label smoothing (Hinton et al. 2015; the T² keeps the KD gradients' scale
independent of T).

Two-step recipe (Martinez et al. 2020; ReActNet): epochs 1..⌊E/2⌋ train real-valued weights
with binary activations, the remaining epochs binarize both, starting from step 1's weights.
The optimizer state is reset at the switch (Adam's moments of real weights say little about
the latent weights of a binary network); the learning-rate schedule runs on across it, one
sequence over all epochs. Only fully binary epochs compete for the best checkpoint.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from bnas.architecture import Architecture
from bnas.errors import BnasError
from bnas.train.checkpoint import (
    BEST_MODEL_FILE,
    MODEL_FILE,
    epoch_seed,
    find_checkpoint,
    load_model_weights,
    load_optimizer_state,
    read_checkpoint_state,
    save_model,
    write_checkpoint,
)
from bnas.train_config import TrainConfig

# Metrics that measure the machine, not the model: excluded when comparing runs.
TIMING_KEYS = ("epoch_seconds", "images_per_second")
# Config fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ("threads", "eval_test", "device")

OnEpoch = Callable[[dict[str, Any], Path | None], None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; ``result`` holds the run up to that point."""

    def __init__(self, message: str, result: TrainResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class TrainResult:
    """What one run produced, as plain data (``to_dict`` for JSON)."""

    status: str  # "completed" or "diverged"
    history: list[dict[str, Any]]
    best_val_top1: float | None
    best_epoch: int | None
    final: dict[str, Any]
    seconds: float
    cost: dict[str, Any]
    arch: Architecture
    config: TrainConfig
    test: dict[str, float] | None = None
    out_dir: Path | None = None
    dataset: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The summary ``bnas train`` writes: accuracy, time, cost keys at top level."""
        final = self.final or {}
        summary: dict[str, Any] = {
            "status": self.status,
            "val_top1": self.best_val_top1,
            "best_epoch": self.best_epoch,
            "final_val_top1": final.get("val_top1"),
            "final_val_top5": final.get("val_top5"),
            "epochs": len(self.history),
            "seconds": round(self.seconds, 3),
            "seed": self.config.seed,
            "dataset": self.dataset,
            "arch_summary": self.arch.summary(),
            "arch_id": self.arch.arch_id,
        }
        if self.test is not None:
            summary.update({f"test_{k}": v for k, v in self.test.items()})
        summary.update(self.cost)
        summary.update(self.extra)
        summary.update(
            {
                "arch": self.arch.to_dict(),
                "config": self.config.to_dict(),
                "history": self.history,
                "out_dir": str(self.out_dir) if self.out_dir is not None else None,
            }
        )
        return summary


# -- the pieces ---------------------------------------------------------------------------------


def learning_rate(config: TrainConfig, global_step: int, steps_per_epoch: int) -> float:
    """LR of step ``global_step`` (0-based over the whole run): linear warm-up, then decay.

    cosine: lr·½(1 + cos πt), linear: lr·(1 − t), constant: lr, with t ∈ [0, 1) the fraction
    of post-warm-up steps done. A pure function of the step: nothing to checkpoint.
    """
    total = config.epochs * steps_per_epoch
    warmup = round(config.warmup_epochs * steps_per_epoch)
    if global_step < warmup:
        return config.lr * (global_step + 1) / warmup
    if config.schedule == "constant":
        return config.lr
    t = (global_step - warmup) / max(1, total - warmup)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * t))
    return config.lr * (1.0 - t)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay only real-valued kernels and matrices (see :mod:`bnas.train_config`)."""
    from bnas.nn import BinaryConv2d, BinaryLinear

    binary = {
        id(module.weight)
        for module in model.modules()
        if isinstance(module, (BinaryConv2d, BinaryLinear))
    }
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        if param.ndim >= 2 and id(param) not in binary:
            decay.append(param)
        else:
            no_decay.append(param)
    groups = [{"params": no_decay, "weight_decay": 0.0}]
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    return groups


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    groups = parameter_groups(model, config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    if config.optimizer == "adam":  # Adam's L2 (coupled) decay, on the same groups
        return torch.optim.Adam(groups, lr=config.lr)
    return torch.optim.AdamW(groups, lr=config.lr)


def _topk_correct(logits: torch.Tensor, labels: torch.Tensor, k: int) -> int:
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return int((top == labels[:, None]).any(dim=1).sum())


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: Any, device: torch.device, num_classes: int
) -> dict[str, float]:
    """Mean cross-entropy (no smoothing), top-1 and (beyond 5 classes) top-5 as fractions."""
    model.eval()
    loss_sum, top1, top5, count = 0.0, 0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
        top1 += _topk_correct(logits, labels, 1)
        if num_classes > 5:
            top5 += _topk_correct(logits, labels, 5)
        count += len(labels)
    metrics = {"loss": loss_sum / max(count, 1), "top1": top1 / max(count, 1)}
    if num_classes > 5:
        metrics["top5"] = top5 / max(count, 1)
    return metrics


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy comes with torch
        pass


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BnasError(f"device: unknown device {name!r} (use auto, cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BnasError(f"device: {name!r} asked for but CUDA is not available here")
    return device


def fit_architecture(arch: Architecture, num_classes: int, in_chans: int, img_size: int,
                     dataset: str) -> Architecture:
    """Fill num_classes / in_chans / img_size from the data; a contradiction is a BnasError."""
    args = arch.args
    for key, value in (("num_classes", num_classes), ("in_chans", in_chans)):
        if key in args and args[key] != value:
            raise BnasError(
                f"architecture {arch.summary()}: {key}={args[key]} but dataset {dataset} "
                f"has {key}={value}; drop {key} from the architecture's args or fix it"
            )
    fill = {"num_classes": num_classes, "in_chans": in_chans, "img_size": img_size}
    return arch.with_args(**{k: v for k, v in fill.items() if k not in args})


def load_teacher(
    spec: str, checkpoint: str | None, num_classes: int, in_chans: int
) -> tuple[nn.Module, str]:
    """A frozen teacher: a bnas model folder, or ``timm:<name>`` (+ safetensors weights).

    A bnas folder holds ``arch.yaml`` and ``model.safetensors`` (an exported model, or a
    ``bnas train`` output folder, whose ``best/`` is used). Returns (model, description).
    """
    if spec.startswith("timm:"):
        import timm

        name = spec.removeprefix("timm:")
        if name not in timm.list_models() and not timm.is_model(name):
            raise BnasError(f"teacher: unknown timm model {name!r} (see timm.list_models())")
        model = timm.create_model(name, pretrained=False, num_classes=num_classes,
                                  in_chans=in_chans)
        if checkpoint is None:
            warnings.warn(
                f"teacher {spec} has no teacher_checkpoint: distilling from random weights",
                stacklevel=3,
            )
        else:
            load_model_weights(model, checkpoint, what=f"teacher {spec}")
        description = spec
    else:
        from bnas.models import build_model

        folder = Path(spec)
        if not folder.is_dir():
            raise BnasError(f"teacher: no such folder {folder} (a trained bnas model folder "
                            "with arch.yaml + model.safetensors, or timm:<name>)")
        weights = folder / MODEL_FILE
        if not weights.is_file() and (folder / "best" / MODEL_FILE).is_file():
            weights = folder / "best" / MODEL_FILE
        arch_file = folder / "arch.yaml"
        if not arch_file.is_file() or not weights.is_file():
            raise BnasError(
                f"teacher: {folder} holds no arch.yaml + model.safetensors "
                "(expected an exported model or a bnas train output folder)"
            )
        arch = Architecture.load(arch_file)
        for key, value in (("num_classes", num_classes), ("in_chans", in_chans)):
            if arch.args.get(key, value) != value:
                raise BnasError(
                    f"teacher {folder}: {key}={arch.args[key]} but the data has {value}"
                )
        model = build_model(arch)
        load_model_weights(model, weights, what=f"teacher {folder}")
        description = f"{arch.summary()} from {folder}"
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model, description


def _check_resumable(state: dict[str, Any], arch: Architecture, config: TrainConfig) -> None:
    where = state["folder"]
    if state.get("arch") != arch.to_dict():
        raise BnasError(
            f"resume: checkpoint {where} was trained with architecture "
            f"{Architecture.from_dict(state['arch']).summary()}, not {arch.summary()}"
        )
    old = _flatten(state.get("config", {}))
    new = _flatten(config.to_dict())
    for key in sorted(set(old) | set(new)):
        if key.split(".")[0] in RESUMABLE_CHANGES:
            continue
        if old.get(key) != new.get(key):
            raise BnasError(
                f"resume: checkpoint {where} was trained with {key}={old.get(key)!r}, "
                f"this run asks for {key}={new.get(key)!r}"
            )


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _write_config(out_dir: Path, config: TrainConfig) -> None:
    """``config.yaml`` in the config-file form of ``bnas train``: rerun with it directly."""
    import yaml

    text = "# bnas train config; rerun with: bnas train config.yaml --out NEW_FOLDER\n"
    text += yaml.safe_dump({"arch": "arch.yaml", **config.to_dict()}, sort_keys=False)
    (out_dir / "config.yaml").write_text(text)


class _Progress:
    """One tqdm bar over every step of the run, epoch metrics in the postfix."""

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

    def set_postfix(self, metrics: dict[str, Any]) -> None:
        """Show the last epoch's validation accuracy next to the running loss."""
        self.shown = {"val_top1": f"{metrics['val_top1']:.3f}"}

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- the run --------------------------------------------------------------------------------


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
    created, so bad input leaves no trace. ``out_dir`` receives ``arch.yaml``,
    ``config.yaml``, ``last/`` (the latest checkpoint), ``best/`` (``model.safetensors`` +
    ``arch.yaml`` of the best fully-binary epoch) and ``tb/`` (TensorBoard scalars).

    ``on_epoch(metrics, checkpoint_dir)`` runs after every epoch; ``checkpoint_dir`` holds
    that epoch's checkpoint (``out_dir/last``, or a temporary folder removed once
    ``on_epoch`` returns when there is no ``out_dir``) and is what ``resume_from`` takes.
    ``overwrite`` allows an ``out_dir`` holding a previous run (its checkpoints, best model,
    TensorBoard curves and summary are removed first).

    Raises :class:`TrainingDiverged` (with ``.result``) when the loss becomes NaN/inf.
    """
    from bnas.data import load_splits, make_loader
    from bnas.models import build_model
    from bnas.nn import set_binarization
    from bnas.profile import profile_architecture

    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(config)
    if not isinstance(arch, Architecture):
        arch = Architecture.from_dict(arch)
    out_path = Path(out_dir) if out_dir is not None else None

    # ---- validate everything before writing anything -------------------------------------
    data = config.data
    img_size = data.img_size
    if img_size is None and isinstance(arch.args.get("img_size"), int):
        img_size = arch.args["img_size"]
    elif img_size is not None and arch.args.get("img_size", img_size) != img_size:
        raise BnasError(
            f"architecture {arch.summary()}: img_size={arch.args['img_size']} but "
            f"data.img_size={img_size}; set one of them"
        )
    splits = load_splits(
        data.name, data.root, subset=data.subset, val_fraction=data.val_fraction,
        seed=config.seed, img_size=img_size, augment=data.augment,
    )
    info = splits.info
    if len(splits.val) == 0:
        raise BnasError(f"data: no validation images ({data.name}, val_fraction="
                        f"{data.val_fraction}, subset={data.subset}); raise one of them")
    if config.eval_test and splits.test is None:
        raise BnasError(f"eval_test: dataset {data.name} at {data.root} has no test split")
    arch = fit_architecture(arch, info.num_classes, info.in_chans, info.img_size, data.name)
    device = _resolve_device(config.device)

    state: dict[str, Any] | None = None
    if resume_from is not None:
        state = read_checkpoint_state(resume_from)
        _check_resumable(state, arch, config)
    if out_path is not None and state is None and not overwrite:
        previous = find_checkpoint(out_path / "last")
        if previous is not None:
            raise BnasError(
                f"{out_path} already holds a training run ({previous}); resume it "
                "(--resume), start over (--overwrite) or choose another output folder"
            )

    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(config.threads or _available_cpus())
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        _seed_everything(epoch_seed(config.seed, "init"))
        try:
            model = build_model(arch)
        except BnasError:
            raise
        except (ValueError, RuntimeError) as error:  # e.g. an image too small for the stem
            raise BnasError(f"architecture {arch.summary()}: cannot build ({error})") from None
        cost = profile_architecture(arch, info.img_size).to_dict()
        teacher, teacher_text = (None, None)
        if config.teacher is not None:
            teacher, teacher_text = load_teacher(
                config.teacher, config.teacher_checkpoint, info.num_classes, info.in_chans
            )
            teacher.to(device)
        if state is not None:
            load_model_weights(model, Path(state["folder"]) / MODEL_FILE, what="resume")
        model.to(device)

        return _run(
            model=model, arch=arch, config=config, splits=splits, device=device,
            teacher=teacher, cost=cost, state=state, out_path=out_path, on_epoch=on_epoch,
            progress=progress, make_loader=make_loader, set_binarization=set_binarization,
            extra={"teacher": teacher_text} if teacher_text else {},
            start_over=overwrite and state is None,
        )
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic, warn_only=previous_warn_only)


def _run(
    *, model: nn.Module, arch: Architecture, config: TrainConfig, splits: Any,
    device: torch.device, teacher: nn.Module | None, cost: dict[str, Any],
    state: dict[str, Any] | None, out_path: Path | None, on_epoch: OnEpoch | None,
    progress: bool, make_loader: Callable[..., Any], set_binarization: Callable[..., None],
    extra: dict[str, Any], start_over: bool,
) -> TrainResult:
    info = splits.info
    num_train = len(splits.train)
    drop_last = num_train > config.batch_size  # no lone 1-image batch for BatchNorm
    steps_per_epoch = (num_train // config.batch_size) if drop_last else 1
    step1 = config.step1_epochs

    def phase_of(epoch: int) -> str | None:
        return None if not config.two_step else ("1" if epoch <= step1 else "2")

    history: list[dict[str, Any]] = list(state["history"]) if state else []
    best_val = state.get("best_val_top1") if state else None
    best_epoch = state.get("best_epoch") if state else None
    seconds_before = float(state.get("seconds", 0.0)) if state else 0.0
    start_epoch = int(state["epoch"]) + 1 if state else 1
    best_weights = None  # the best epoch's state_dict, carried in every checkpoint
    if state is not None and (Path(state["folder"]) / BEST_MODEL_FILE).is_file():
        best_weights = load_file(str(Path(state["folder"]) / BEST_MODEL_FILE))

    optimizer = build_optimizer(model, config)
    if state is not None and phase_of(start_epoch) == state.get("phase"):
        load_optimizer_state(optimizer, state["folder"])  # at the step switch: fresh state

    def result(status: str, test: dict[str, float] | None = None) -> TrainResult:
        return TrainResult(
            status=status, history=history, best_val_top1=best_val, best_epoch=best_epoch,
            final=history[-1] if history else {}, seconds=seconds_before + time.perf_counter()
            - started, cost=cost, arch=arch, config=config, test=test, out_dir=out_path,
            dataset=splits.name, extra=extra,
        )

    # ---- from here on, the output folder exists ---------------------------------------------
    writer = None
    if out_path is not None:
        out_path.mkdir(parents=True, exist_ok=True)
        if start_over:  # a previous run's checkpoints, best model and curves would mislead
            for name in ("last", "last.old", "last.tmp", "best", "tb"):
                shutil.rmtree(out_path / name, ignore_errors=True)
            (out_path / "summary.json").unlink(missing_ok=True)
        arch.save(out_path / "arch.yaml")
        _write_config(out_path, config)
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(out_path / "tb"))

    val_loader = make_loader(splits.val, batch_size=config.batch_size, shuffle=False)
    bar = _Progress(progress, config.epochs * steps_per_epoch,
                    (start_epoch - 1) * steps_per_epoch)
    started = time.perf_counter()
    current_phase: object = object()  # "not set yet"
    try:
        for epoch in range(start_epoch, config.epochs + 1):
            phase = phase_of(epoch)
            if phase != current_phase:
                set_binarization(model, weights=phase != "1", activations=True)
                if phase == "2" and epoch != start_epoch:
                    optimizer = build_optimizer(model, config)  # step switch: reset state
                current_phase = phase
            if teacher is not None:
                teacher.eval()

            _seed_everything(epoch_seed(config.seed, epoch))
            train_loader = make_loader(
                splits.train, batch_size=config.batch_size, shuffle=True,
                seed=epoch_seed(config.seed, f"data:{epoch}"), drop_last=drop_last,
            )
            epoch_started = time.perf_counter()
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            lr = config.lr
            for step, (images, labels) in enumerate(train_loader, start=1):
                global_step = (epoch - 1) * steps_per_epoch + step - 1
                lr = learning_rate(config, global_step, steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images, labels = images.to(device), labels.to(device)
                logits = model(images)
                loss = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
                if teacher is not None and config.kd_weight > 0:
                    with torch.no_grad():
                        teacher_logits = teacher(images)
                    temperature = config.kd_temperature
                    kd = F.kl_div(
                        F.log_softmax(logits / temperature, dim=1),
                        F.softmax(teacher_logits / temperature, dim=1),
                        reduction="batchmean",
                    )
                    loss = loss + config.kd_weight * temperature**2 * kd
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    message = f"loss became {loss_value} at epoch {epoch}, step {step}"
                    raise TrainingDiverged(message, result("diverged"))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                loss_sum += loss_value * len(labels)
                correct += _topk_correct(logits.detach(), labels, 1)
                seen += len(labels)
                bar.step(epoch=epoch, loss=f"{loss_value:.3f}")
            train_seconds = time.perf_counter() - epoch_started

            val = evaluate(model, val_loader, device, info.num_classes)
            if not math.isfinite(val["loss"]):
                message = f"validation loss became {val['loss']} at epoch {epoch}"
                raise TrainingDiverged(message, result("diverged"))
            metrics: dict[str, Any] = {"epoch": epoch}
            if phase is not None:
                metrics["step"] = phase
            metrics.update(
                train_loss=loss_sum / max(seen, 1),
                train_top1=correct / max(seen, 1),
                val_loss=val["loss"],
                val_top1=val["top1"],
            )
            if "top5" in val:
                metrics["val_top5"] = val["top5"]
            metrics.update(
                lr=lr,
                epoch_seconds=time.perf_counter() - epoch_started,
                images_per_second=seen / max(train_seconds, 1e-9),
            )
            history.append(metrics)
            improved = phase != "1" and (best_val is None or metrics["val_top1"] > best_val)
            if improved:
                best_val, best_epoch = metrics["val_top1"], epoch
                best_weights = {
                    k: v.detach().cpu().clone() for k, v in model.state_dict().items()
                }
            bar.set_postfix(metrics)

            if writer is not None:
                for key, value in metrics.items():
                    if key not in ("epoch", "step"):
                        writer.add_scalar(key, value, epoch)
                writer.flush()
            if out_path is not None and improved:
                best = out_path / "best"
                best.mkdir(exist_ok=True)
                save_model(model, best / MODEL_FILE)
                arch.save(best / "arch.yaml")

            checkpoint_state = {
                "epoch": epoch,
                "phase": phase,
                "global_step": epoch * steps_per_epoch,
                "best_val_top1": best_val,
                "best_epoch": best_epoch,
                "seconds": seconds_before + time.perf_counter() - started,
                "history": history,
                "rng": {"scheme": "reseeded from (seed, epoch) at every epoch start",
                        "seed": config.seed, "next_epoch": epoch + 1},
                "arch": arch.to_dict(),
                "config": config.to_dict(),
            }
            if out_path is not None:
                folder = write_checkpoint(
                    out_path / "last", model, optimizer, checkpoint_state, best_weights
                )
                if on_epoch is not None:
                    on_epoch(dict(metrics), folder)
            elif on_epoch is not None:
                scratch = Path(tempfile.mkdtemp(prefix="bnas-ckpt-"))
                try:
                    folder = write_checkpoint(scratch / "checkpoint", model, optimizer,
                                              checkpoint_state, best_weights)
                    on_epoch(dict(metrics), folder)
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
    finally:
        bar.close()
        if writer is not None:
            writer.close()

    test = None
    if config.eval_test:
        test = evaluate(
            model, make_loader(splits.test, batch_size=config.batch_size, shuffle=False),
            device, info.num_classes,
        )
    return result("completed", test)


def comparable(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A history without the timing keys: equal for two runs of the same seed."""
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in history]
