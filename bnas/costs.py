"""What a network costs, and the budgets a search holds it to: plain data, no torch.

Conventions of the BNN literature (Bi-Real Net, Liu et al. 2018; ReActNet, Liu et al. 2020),
everything per input sample and counted in multiply-accumulates (MACs):

.. math::
    \\mathrm{BOPs} = \\sum_{\\text{binary conv/linear}} \\mathrm{MACs}, \\qquad
    \\mathrm{FLOPs} = \\sum_{\\text{real-valued layers}} \\mathrm{MACs}, \\qquad
    \\mathrm{OPs} = \\mathrm{FLOPs} + \\mathrm{BOPs} / 64,

    \\mathrm{size} = (1 \\cdot P_{\\text{binary}} + 32 \\cdot P_{\\text{real}}) / 8 / 2^{20}
    \\ \\mathrm{MiB}.

The dynamic-threshold generators (DySign's τ, DyRPReLU's γ/ζ) are real-valued layers: their
MACs are part of ``flops`` and their parameters part of ``params_real``; ``generator_*``
repeats that share on its own, because in a BNN the 32-bit generators cost most in size.

``latency_ms`` is the one cost that is measured, not counted: the milliseconds of one
inference of the bit-packed model on a given CPU, as the latency model predicts it
(:class:`bnas.latency_table.LatencyTable`). It is known only where a latency table is (a
search space that uses latency); elsewhere it is ``None`` and left out of :meth:`Cost.to_dict`.

:mod:`bnas.profile` measures a :class:`Cost`; search, training, export and reports read it
through :data:`COST_KEYS` and check budgets with :func:`excess`, so every room agrees on the
names. A budget is ``max_<metric>`` in a search space (``search.constraints``)::

    >>> cost = Cost.from_layers((LayerCost("head", "real", 1000, 1010),), 0, 1010, 0)
    >>> excess(cost, {"max_ops": 800, "max_params": 2020})
    {'max_ops': 0.25, 'max_params': -0.5}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from bnas.errors import BnasError

LayerKind = Literal["binary", "real", "generator"]

BITS_BINARY = 1
BITS_REAL = 32
BOPS_PER_OP = 64  # a 64-bit CPU does 64 binary MACs (XNOR + popcount) per instruction


def size_mib(params_binary: int, params_real: int) -> float:
    """Storage in MiB: 1 bit per binary weight, 32 bits per real parameter."""
    return (BITS_BINARY * params_binary + BITS_REAL * params_real) / 8 / 2**20


@dataclass(frozen=True)
class LayerCost:
    """One module's own cost (its children are rows of their own).

    ``kind``: ``binary`` (a BinaryConv2d / BinaryLinear: its MACs are BOPs), ``generator``
    (inside a dynamic-threshold generator) or ``real``. ``params`` are the parameters the
    module holds itself; a binary layer's bias, if any, is among them but is 32-bit.
    """

    name: str
    kind: LayerKind
    macs: int
    params: int


@dataclass(frozen=True)
class Cost:
    """Cost of one network per input sample (see the module docstring for the formulas).

    ``flops`` includes ``generator_flops``; ``params_real`` includes ``generator_params``;
    ``size_mib`` includes ``generator_size_mib``. ``layers`` are the per-module rows (empty
    when only the totals are known).
    """

    bops: int
    flops: int
    ops: float
    params_binary: int
    params_real: int
    size_mib: float
    generator_flops: int
    generator_params: int
    generator_size_mib: float
    latency_ms: float | None = None
    layers: tuple[LayerCost, ...] = ()

    @classmethod
    def from_layers(
        cls, layers: tuple[LayerCost, ...], params_binary: int, params_real: int,
        generator_params: int,
    ) -> Cost:
        """Totals from per-layer MACs and the parameter counts (split by bit width)."""
        bops = sum(layer.macs for layer in layers if layer.kind == "binary")
        flops = sum(layer.macs for layer in layers if layer.kind != "binary")
        generator_flops = sum(layer.macs for layer in layers if layer.kind == "generator")
        return cls(
            bops=bops,
            flops=flops,
            ops=flops + bops / BOPS_PER_OP,
            params_binary=params_binary,
            params_real=params_real,
            size_mib=size_mib(params_binary, params_real),
            generator_flops=generator_flops,
            generator_params=generator_params,
            generator_size_mib=size_mib(0, generator_params),
            layers=layers,
        )

    @property
    def params(self) -> int:
        """Every parameter, binary and real."""
        return self.params_binary + self.params_real

    def to_dict(self) -> dict[str, Any]:
        """The totals as plain numbers (no per-layer rows): what search and training record;
        ``latency_ms`` only when it is known."""
        return {key: getattr(self, key) for key in COST_KEYS if getattr(self, key) is not None}


# The totals every room records (summary.json metrics, trial reports, `bnas profile --json`)
# and a search may use as objectives.
COST_KEYS: tuple[str, ...] = tuple(field.name for field in fields(Cost) if field.name != "layers")

# Budget (the key under a search space's ``search.constraints``) → the Cost attribute it bounds.
CONSTRAINTS: dict[str, str] = {
    "max_ops": "ops",
    "max_bops": "bops",
    "max_flops": "flops",
    "max_size_mib": "size_mib",
    "max_params": "params",
    "max_latency_ms": "latency_ms",
}
# The cost keys only a latency table knows (a space using one of them, or its budget, needs one).
LATENCY_KEYS: tuple[str, ...] = ("latency_ms",)


def format_count(value: float) -> str:
    """OPs, parameters and the like, three significant digits: ``9.92 k``, ``87.1 M``."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g}"


def excess(cost: Cost, budgets: Mapping[str, float]) -> dict[str, float]:
    """Relative excess per budget, cost / limit − 1: ≤ 0 when met (Optuna's convention for
    constraints), > 0 by how much it is over. ``budgets`` maps names of :data:`CONSTRAINTS`
    to positive limits (a search space's ``search.constraints``)."""
    over = {}
    for name, limit in budgets.items():
        value = getattr(cost, CONSTRAINTS[name])
        if value is None:
            raise BnasError(f"{name}: the cost has no {CONSTRAINTS[name]} (it needs a latency "
                            "table: bnas.profile.latency_table)")
        over[name] = float(value) / float(limit) - 1.0
    return over
