"""Knowledge distillation: a frozen teacher and the loss term that pulls the student to it.

With student logits z, teacher logits t and temperature T (Hinton et al. 2015):

.. math::
    L_{kd} = w_{kd}\\, T^2\\, \\mathrm{KL}\\big(\\mathrm{softmax}(t/T) \\,\\|\\,
             \\mathrm{softmax}(z/T)\\big)

The T² keeps the gradients' scale independent of T. The teacher is any module that maps the
student's inputs to logits over the same classes: a trained bnas model, a timm model, or (in
in-place distillation) a larger network's detached logits.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bnas.architecture import Architecture
from bnas.errors import BnasError
from bnas.files import ARCH_FILE, BEST_DIR, MODEL_FILE
from bnas.models import load_model_weights

TIMM_PREFIX = "timm:"


def distillation_loss(
    logits: torch.Tensor, teacher_logits: torch.Tensor, weight: float, temperature: float
) -> torch.Tensor:
    """``weight · T² · KL(softmax(teacher_logits/T) ‖ softmax(logits/T))``, batch mean."""
    kl = F.kl_div(
        F.log_softmax(logits / temperature, dim=1),
        F.softmax(teacher_logits / temperature, dim=1),
        reduction="batchmean",
    )
    return weight * temperature**2 * kl


def load_teacher(
    spec: str, checkpoint: str | None, num_classes: int, in_chans: int
) -> tuple[nn.Module, str]:
    """A frozen teacher in eval mode: a bnas model folder, or ``timm:<name>`` (+ weights).

    A bnas folder holds ``arch.yaml`` and ``model.safetensors`` (an exported model, or a
    ``bnas train`` output folder, whose ``best/`` is used). ``checkpoint`` is a safetensors
    file for a timm teacher (without it the teacher has random weights: a warning). Returns
    (model, description); a teacher that does not fit the data is a ``BnasError``.
    """
    if spec.startswith(TIMM_PREFIX):
        model = _timm_teacher(spec, checkpoint, num_classes, in_chans)
        description = spec
    else:
        model, description = _bnas_teacher(Path(spec), num_classes, in_chans)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model, description


def _timm_teacher(spec: str, checkpoint: str | None, num_classes: int, in_chans: int) -> nn.Module:
    import timm

    name = spec.removeprefix(TIMM_PREFIX)
    if name not in timm.list_models() and not timm.is_model(name):
        raise BnasError(f"teacher: unknown timm model {name!r} (see timm.list_models())")
    model = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_chans)
    if checkpoint is None:
        warnings.warn(
            f"teacher {spec} has no teacher_checkpoint: distilling from random weights",
            stacklevel=4,
        )
    else:
        load_model_weights(model, checkpoint, what=f"teacher {spec}")
    return model


def _bnas_teacher(folder: Path, num_classes: int, in_chans: int) -> tuple[nn.Module, str]:
    from bnas.models import build_model

    if not folder.is_dir():
        raise BnasError(f"teacher: no such folder {folder} (a trained bnas model folder "
                        f"with arch.yaml + model.safetensors, or {TIMM_PREFIX}<name>)")
    weights = folder / MODEL_FILE
    if not weights.is_file() and (folder / BEST_DIR / MODEL_FILE).is_file():
        weights = folder / BEST_DIR / MODEL_FILE
    arch_file = folder / ARCH_FILE
    if not arch_file.is_file() or not weights.is_file():
        raise BnasError(
            f"teacher: {folder} holds no arch.yaml + model.safetensors "
            "(expected an exported model or a bnas train output folder)"
        )
    arch = Architecture.load(arch_file)
    for key, value in (("num_classes", num_classes), ("in_chans", in_chans)):
        if arch.args.get(key, value) != value:
            raise BnasError(f"teacher {folder}: {key}={arch.args[key]} but the data has {value}")
    model = build_model(arch)
    load_model_weights(model, weights, what=f"teacher {folder}")
    return model, f"{arch.summary()} from {folder}"
