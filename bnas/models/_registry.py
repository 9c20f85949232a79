"""The one backbone registry: catalog name → builder ``(arch) -> nn.Module``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from bnas.architecture import Architecture
from bnas.backbones import backbone_info
from bnas.errors import BnasError

Builder = Callable[[Architecture], nn.Module]
B = TypeVar("B", bound=Builder)

_BUILDERS: dict[str, Builder] = {}


def register_backbone(name: str) -> Callable[[B], B]:
    """Register a builder (a function or an ``nn.Module`` class taking an Architecture).

    ``name`` must be in the catalog (:data:`bnas.backbones.BACKBONES`): that is where its sites
    and layouts are declared, so Architectures for it can be validated without torch.
    """
    backbone_info(name)  # unknown names fail here, listing the catalog

    def decorator(builder: B) -> B:
        _BUILDERS[name] = builder
        return builder

    return decorator


def build_model(arch: Architecture) -> nn.Module:
    """The ``nn.Module`` an Architecture describes (weights freshly initialised).

    >>> from bnas import Architecture
    >>> model = build_model(Architecture.uniform("reactnet_a", preset="tiny", num_classes=10))
    >>> model.arch.summary()
    'reactnet_a[S S S S]'
    """
    if not isinstance(arch, Architecture):
        raise TypeError(f"build_model expects an Architecture, got {type(arch).__name__}")
    try:
        builder = _BUILDERS[arch.backbone]
    except KeyError:
        raise BnasError(
            f"no model registered for backbone {arch.backbone!r}; "
            f"registered: {', '.join(sorted(_BUILDERS))}"
        ) from None
    return builder(arch)


def registered_backbones() -> tuple[str, ...]:
    return tuple(sorted(_BUILDERS))
