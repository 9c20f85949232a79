"""What a network costs, as plain data (no torch): the result of :mod:`bnas.profile`.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
    ``size_mib`` includes ``generator_size_mib``.
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
    def generator_size_share(self) -> float:
        """Fraction of ``size_mib`` taken by the generators' 32-bit parameters."""
        return self.generator_size_mib / self.size_mib if self.size_mib else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The totals as plain numbers (no per-layer rows): what search and training record."""
        return {
            "bops": self.bops,
            "flops": self.flops,
            "ops": self.ops,
            "params_binary": self.params_binary,
            "params_real": self.params_real,
            "size_mib": self.size_mib,
            "generator_flops": self.generator_flops,
            "generator_params": self.generator_params,
            "generator_size_mib": self.generator_size_mib,
        }


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "0.0 %"


def format_table(cost: Cost) -> str:
    """Per-layer rows (name, kind, MACs, parameters) and the totals, like larq's summary."""
    header = ("layer", "kind", "MACs", "params")
    rows = [(layer.name, layer.kind, f"{layer.macs:,}", f"{layer.params:,}")
            for layer in cost.layers]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def line(row: tuple[str, ...]) -> str:
        return (f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  "
                f"{row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}")

    rule = "-" * len(line(header))
    totals = [
        ("BOPs (binary MACs)", f"{cost.bops:,}  ({cost.bops:.3g})"),
        ("FLOPs (real MACs)", f"{cost.flops:,}  ({cost.flops:.3g}), generators "
         f"{cost.generator_flops:,} = {_share(cost.generator_flops, cost.flops)}"),
        ("OPs = FLOPs + BOPs/64", f"{cost.ops:.4g}"),
        ("params", f"{cost.params_binary:,} binary (1 bit) + {cost.params_real:,} real "
         f"(32 bit), generators {cost.generator_params:,}"),
        ("size", f"{cost.size_mib:.4g} MiB, generators {cost.generator_size_mib:.4g} MiB = "
         f"{_share(cost.generator_size_mib, cost.size_mib)}"),
    ]
    label = max(len(name) for name, _ in totals)
    lines = [line(header), rule, *map(line, rows), rule]
    lines += [f"{name:<{label}}  {value}" for name, value in totals]
    lines.append("per sample, MACs; not counted: elementwise ops (sign, BN, adds, pooling, "
                 "activations)")
    return "\n".join(lines)
