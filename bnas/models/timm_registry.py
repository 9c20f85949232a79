"""The bnas backbones as timm models: ``timm.create_model("bnas_<backbone>", arch=..., **args)``.

``arch`` may be an :class:`~bnas.architecture.Architecture`, its dict, a path to an
``arch.yaml``, or ``None`` (every site static). Keyword arguments that are backbone arguments
(``num_classes``, ``in_chans``, ``img_size``, ``preset``, …) override ``arch.args``; the rest are
timm's: ``features_only`` (with ``out_indices``, ``feature_cls``, ``feature_cfg``),
``global_pool``, ``num_classes=0`` (no classifier), ``device``, ``dtype``,
``pretrained_cfg_overlay``, and for binary CCT ``dynamic_img_size``. Any other keyword raises
:class:`UnknownArgumentError`, a ``TypeError`` as timm's factory expects of a model. There are
no pretrained weights: ``pretrained=True`` is an error.

Registration is lazy. Importing timm costs ~2.3 s (it imports torchvision and
``torch._dynamo``), which every Ray trial worker and CLI call would pay without ever asking
for a timm model, and timm has no plugin entry point that would let it find us. So importing
:mod:`bnas.models` registers the ``bnas_*`` entry points at once only if timm is already
imported, and otherwise leaves a one-shot import hook that registers them as soon as ``timm``
has finished importing, whichever comes first.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import math
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from bnas.architecture import Architecture
from bnas.backbones import backbone_info
from bnas.errors import BnasError
from bnas.models._common import resolve_args
from bnas.models._registry import build_model

# What timm.create_model passes to every entry point; nothing to do with weights-free models.
_TIMM_ONLY = ("pretrained_cfg", "cache_dir")
# What timm's build_model_with_cfg takes and we pass through: feature extraction, cfg overlay.
_TIMM_FACTORY = ("features_only", "out_indices", "feature_cls", "pretrained_cfg_overlay")
# timm's model keywords that are not backbone arguments (they change the built module only).
_TIMM_MODEL = ("global_pool", "device", "dtype")


@dataclass(frozen=True)
class TimmFacts:
    """What timm's pretrained_cfg says of a backbone beyond its arguments: the first conv (for
    in_chans adaptation), whether the input size is fixed at build time (as for timm's ViTs),
    and the timm keywords only this backbone takes."""

    first_conv: str
    fixed_input_size: bool = False
    keywords: tuple[str, ...] = ()


TIMM_FACTS: dict[str, TimmFacts] = {
    "reactnet_a": TimmFacts(first_conv="stem.0"),
    "react_resnet18": TimmFacts(first_conv="stem.0"),
    "binary_cct": TimmFacts(
        first_conv="stem.convs.0.0", fixed_input_size=True, keywords=("dynamic_img_size",)
    ),
}


class UnknownArgumentError(BnasError, TypeError):
    """A keyword a bnas timm model does not take: one line for the user, and the ``TypeError``
    that timm's factory contract (and Python's own calls) use for an unexpected keyword."""


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


def pretrained_cfg(
    backbone: str, args: dict[str, Any], pool_size: Sequence[int] | None = None
) -> dict[str, Any]:
    """timm's pretrained_cfg of a backbone built with resolved ``args`` (no weights: it says what
    the model takes and where its first conv and classifier are)."""
    facts = TIMM_FACTS[backbone]
    return {
        "architecture": f"bnas_{backbone}",
        "num_classes": args["num_classes"],
        "input_size": (args["in_chans"], args["img_size"], args["img_size"]),
        "pool_size": tuple(pool_size) if pool_size else None,
        "fixed_input_size": facts.fixed_input_size,
        "first_conv": facts.first_conv,
        "classifier": "head",
        "license": "apache-2.0",
    }


def create(backbone: str, pretrained: bool = False, arch: Any = None, **kwargs: Any) -> nn.Module:
    """Build ``backbone`` for timm: ``arch`` coerced, backbone arguments merged into its args,
    timm's keywords applied to the built model, which timm's ``build_model_with_cfg`` then
    wraps for ``features_only``."""
    from timm.models import build_model_with_cfg  # only timm calls this: timm is imported

    if pretrained:
        raise BnasError(f"bnas_{backbone}: no pretrained weights exist; train with `bnas train`")
    for key in _TIMM_ONLY:
        kwargs.pop(key, None)
    factory = {key: kwargs.pop(key) for key in _TIMM_FACTORY if key in kwargs}
    feature_cfg = kwargs.pop("feature_cfg", {})
    timm_keywords = _TIMM_MODEL + TIMM_FACTS[backbone].keywords
    options = {key: kwargs.pop(key) for key in timm_keywords if key in kwargs}
    if kwargs.get("num_classes") == 0:  # timm's "no classifier"; a backbone needs ≥ 1 class
        options["num_classes"] = kwargs.pop("num_classes")
    catalog = backbone_info(backbone).args
    unknown = sorted(set(kwargs) - set(catalog))
    if unknown:
        raise UnknownArgumentError(
            f"bnas_{backbone}: {backbone} takes no {unknown[0]!r}; valid: "
            f"{', '.join(catalog)}; and timm's "
            f"{', '.join(('num_classes=0', *_TIMM_FACTORY, 'feature_cfg', *timm_keywords))}"
        )
    model = _build(as_architecture(arch, backbone, **kwargs), **options)
    pool_size = (math.ceil(model.args["img_size"] / model.feature_info[-1]["reduction"]),) * 2
    args = model.args | {"num_classes": model.num_classes}
    every_level = tuple(range(len(model.feature_info)))
    return build_model_with_cfg(
        # the model is built; what timm derives from the cfg (classes, channels, size) is its own
        lambda **cfg_defaults: model,
        f"bnas_{backbone}",
        pretrained=False,
        pretrained_cfg=pretrained_cfg(backbone, args, pool_size),
        feature_cfg={"feature_cls": "getter", "out_indices": every_level, **feature_cfg},
        **factory,
    )


def _build(
    arch: Architecture, num_classes: int | None = None, global_pool: str | None = None,
    dynamic_img_size: bool = False, device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """The model of ``arch`` on ``device`` / in ``dtype``, its classifier and pooling reset as
    timm's keywords say."""
    with torch.device(device) if device is not None else nullcontext():
        model = build_model(arch)
    if dtype is not None:
        model.to(dtype=dtype)
    if num_classes is not None or global_pool is not None:
        model.reset_classifier(model.num_classes if num_classes is None else num_classes,
                               global_pool)
    if dynamic_img_size:
        model.dynamic_img_size = True
    return model


def bnas_reactnet_a(pretrained: bool = False, arch: Any = None, **kwargs: Any) -> nn.Module:
    """ReActNet-A (bnas): ``arch`` = Architecture | dict | arch.yaml path | None."""
    return create("reactnet_a", pretrained, arch, **kwargs)


def bnas_react_resnet18(pretrained: bool = False, arch: Any = None, **kwargs: Any) -> nn.Module:
    """ReAct-ResNet18 (bnas): ``arch`` = Architecture | dict | arch.yaml path | None."""
    return create("react_resnet18", pretrained, arch, **kwargs)


def bnas_binary_cct(pretrained: bool = False, arch: Any = None, **kwargs: Any) -> nn.Module:
    """Binary CCT (bnas): ``arch`` = Architecture | dict | arch.yaml path | None."""
    return create("binary_cct", pretrained, arch, **kwargs)


ENTRY_POINTS = (bnas_reactnet_a, bnas_react_resnet18, bnas_binary_cct)

# timm's register_model reads the pretrained cfgs from the entry points' module, by model name:
# those of the default arguments (the full presets at 224 px).
default_cfgs: dict[str, dict[str, Any]] = {
    f"bnas_{backbone}": pretrained_cfg(backbone, resolve_args(Architecture.uniform(backbone)))
    for backbone in TIMM_FACTS
}


def register_with_timm() -> None:
    """Register the ``bnas_*`` entry points (and their pretrained cfgs) with timm; once."""
    from timm.models import is_model, register_model

    for entry_point in ENTRY_POINTS:
        if not is_model(entry_point.__name__):
            register_model(entry_point)


class _RegisterOnTimmImport(importlib.abc.MetaPathFinder):
    """A one-shot import hook: finds ``timm`` like the finders after it, and has its loader
    call :func:`register_with_timm` once timm's package has executed; then leaves
    ``sys.meta_path``."""

    def __init__(self) -> None:
        self.searching = False

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "timm" or self.searching:
            return None
        self.searching = True  # importlib.util.find_spec asks us again: let the others answer
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.searching = False
        if spec is None or spec.loader is None:
            return spec
        loader, exec_module = spec.loader, spec.loader.exec_module

        def exec_then_register(module: ModuleType) -> None:
            exec_module(module)
            del loader.exec_module  # the loader's own method again
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            register_with_timm()

        loader.exec_module = exec_then_register
        return spec


def register_when_timm_is_imported() -> None:
    """Register now if timm is imported, else when it is (see the module docstring)."""
    if "timm" in sys.modules:
        register_with_timm()
    elif not any(isinstance(finder, _RegisterOnTimmImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnTimmImport())


register_when_timm_is_imported()
