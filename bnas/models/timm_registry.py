"""The bnas backbones as timm models: ``timm.create_model("bnas_<backbone>", arch=..., **args)``.

``arch`` may be an :class:`~bnas.architecture.Architecture`, its dict, a path to an
``arch.yaml``, or ``None`` (every site static). timm keyword arguments (``num_classes``,
``in_chans``, ``img_size``, or any other catalog argument such as ``preset``) override
``arch.args``. There are no pretrained weights: ``pretrained=True`` is an error.
The entry points register when :mod:`bnas.models` is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from timm.models import register_model
from torch import nn

from bnas.architecture import Architecture
from bnas.errors import BnasError
from bnas.models._registry import build_model

# What timm.create_model passes to every entry point; none of it means anything here.
_TIMM_ONLY = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def as_architecture(
    arch: Architecture | dict[str, Any] | str | Path | None, backbone: str, **args: Any
) -> Architecture:
    """Coerce what a user may pass as ``arch`` to an Architecture of ``backbone``; ``args``
    override its backbone arguments (``None``: every site static, built with ``args``)."""
    if arch is None:
        return Architecture.uniform(backbone, "static", **args)
    elif isinstance(arch, dict):
        arch = Architecture.from_dict({"backbone": backbone, **arch})
    elif isinstance(arch, (str, Path)):
        arch = Architecture.load(arch)
    elif not isinstance(arch, Architecture):
        raise BnasError(
            f"bnas_{backbone}: arch must be an Architecture, a dict, a path to arch.yaml or "
            f"None, got {type(arch).__name__}"
        )
    if arch.backbone != backbone:
        raise BnasError(
            f"bnas_{backbone}: arch is for backbone {arch.backbone!r}; "
            f"use timm.create_model('bnas_{arch.backbone}', ...)"
        )
    return arch.with_args(**args) if args else arch


def create(backbone: str, pretrained: bool = False, arch: Any = None, **kwargs: Any) -> nn.Module:
    """Build ``backbone`` for timm: ``arch`` coerced, keyword arguments merged into its args."""
    for key in _TIMM_ONLY:
        kwargs.pop(key, None)
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    if pretrained:
        raise BnasError(f"bnas_{backbone}: no pretrained weights exist; train with `bnas train`")
    model = build_model(as_architecture(arch, backbone, **kwargs))
    args = model.args
    model.pretrained_cfg = model.default_cfg = {
        "architecture": f"bnas_{backbone}",
        "num_classes": args["num_classes"],
        "input_size": (args["in_chans"], args["img_size"], args["img_size"]),
    }
    return model.to(device=device, dtype=dtype) if device or dtype else model


@register_model
def bnas_reactnet_a(pretrained: bool = False, arch: Any = None, **kwargs: Any) -> nn.Module:
    """ReActNet-A (bnas): ``arch`` = Architecture | dict | arch.yaml path | None."""
    return create("reactnet_a", pretrained, arch, **kwargs)


@register_model
def bnas_react_resnet18(pretrained: bool = False, arch: Any = None, **kwargs: Any) -> nn.Module:
    """ReAct-ResNet18 (bnas): ``arch`` = Architecture | dict | arch.yaml path | None."""
    return create("react_resnet18", pretrained, arch, **kwargs)


@register_model
def bnas_binary_cct(pretrained: bool = False, arch: Any = None, **kwargs: Any) -> nn.Module:
    """Binary CCT (bnas): ``arch`` = Architecture | dict | arch.yaml path | None."""
    return create("binary_cct", pretrained, arch, **kwargs)
