"""Cost of a network before training: BOPs, FLOPs, OPs = FLOPs + BOPs/64, parameters, size.

Counted on shapes only (meta device / fake tensors), so any candidate can be filtered by its
cost before it is trained::

    from bnas import Architecture
    from bnas.profile import format_table, profile_architecture

    arch = Architecture.uniform("reactnet_a", "static", preset="full", num_classes=1000)
    cost = profile_architecture(arch, img_size=224)
    cost.to_dict()  # {'bops': 4816896000, 'flops': 11862016, 'ops': 87126016.0, ...}
    print(format_table(cost))

Three ways in, one measurement: :func:`profile_model` counts any module with
``torch.utils.flop_counter`` (:mod:`bnas.profile._counter`: how modules are classified);
:func:`measure_architecture` runs it over the network an Architecture describes (``bnas
profile``'s table); :func:`profile_architecture`, what search, training and export use,
composes the same numbers from cached parts in milliseconds per candidate
(:mod:`bnas.profile._composed`; :func:`cost_parts` and :func:`add_cost_parts` let a search
measure the parts once and share them with its trial workers). The record and its
conventions are :mod:`bnas.costs`.
**Latency**, measured rather than counted: :func:`latency_table` builds (or loads from its
cache, or reads from a file measured elsewhere) a backbone's latency table on this CPU, the
all-static network's bit-packed latency plus each dynamic site's measured extra
(:mod:`bnas.profile._latency`, :mod:`bnas.latency_table`); :func:`measure_networks` times
whole networks the same way, to check its predictions.
:func:`training_memory` estimates what training a candidate takes (parameters, optimizer
state, activations), so a search refuses candidates no machine of its can hold. The functions
import torch on first use, so importing this package (as ``bnas profile --help`` does) stays
fast.
"""

from __future__ import annotations

from bnas._lazy import lazy_exports
from bnas.costs import Cost, LayerCost
from bnas.profile._table import format_latency_table, format_op_times, format_table

__all__ = ["Cost", "CostParts", "LayerCost", "MemoryEstimate", "add_cost_parts", "cost_parts",
           "format_latency_table", "format_op_times", "format_table", "latency_table",
           "measure_architecture", "measure_networks", "profile_architecture", "profile_model",
           "training_memory"]

# name → the module that defines it (imports torch)
__getattr__, __dir__ = lazy_exports(__name__, {
    "measure_architecture": "bnas.profile._counter",
    "profile_model": "bnas.profile._counter",
    "profile_architecture": "bnas.profile._composed",
    "CostParts": "bnas.profile._composed",
    "cost_parts": "bnas.profile._composed",
    "add_cost_parts": "bnas.profile._composed",
    "MemoryEstimate": "bnas.profile._memory",
    "training_memory": "bnas.profile._memory",
    "latency_table": "bnas.profile._latency",
    "measure_networks": "bnas.profile._latency",
})
