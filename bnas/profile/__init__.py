"""Cost of a network before training: BOPs, FLOPs, OPs = FLOPs + BOPs/64, parameters, size.

Counted on shapes only (meta device / fake tensors), so any candidate can be filtered by its
cost before it is trained::

    from bnas import Architecture
    from bnas.profile import format_table, profile_architecture

    arch = Architecture.uniform("reactnet_a", "static", preset="full", num_classes=1000)
    cost = profile_architecture(arch, img_size=224)
    cost.to_dict()  # {'bops': 4816896000, 'flops': 11862016, 'ops': 87126016.0, ...}
    print(format_table(cost))

Conventions (multiply-accumulates per sample, elementwise ops not counted) are in
:mod:`bnas.profile._cost`; how modules are classified in :mod:`bnas.profile._counter`.
``profile_model`` and ``profile_architecture`` import torch on first use, so importing this
package (as ``bnas profile --help`` does) stays fast.
"""

from __future__ import annotations

from typing import Any

from bnas.profile._cost import Cost, LayerCost, format_table

__all__ = ["Cost", "LayerCost", "format_table", "profile_architecture", "profile_model"]

_TORCH_FUNCTIONS = ("profile_architecture", "profile_model")


def __getattr__(name: str) -> Any:
    if name in _TORCH_FUNCTIONS:
        from bnas.profile import _counter

        return getattr(_counter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
