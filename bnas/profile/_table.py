"""``bnas profile``'s table: one row per module (name, kind, MACs, parameters), then the
totals of a :class:`~bnas.costs.Cost` with the generators' share, like larq's model summary."""

from __future__ import annotations

from bnas.costs import Cost


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
