"""``bnas profile``'s tables: one row per module (name, kind, MACs, parameters), then the
totals of a :class:`~bnas.costs.Cost` with the generators' share, like larq's model summary;
with ``--latency`` a latency table's rows, and where a measured network's time went."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bnas.costs import Cost

if TYPE_CHECKING:
    from bnas.deploy.latency import OpTime
    from bnas.latency_table import LatencyTable, SiteExtra


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


def _settings(table_row: SiteExtra) -> str:
    data = table_row.threshold.to_data()
    text = ", ".join(f"{key}={value}" for key, value in data.items() if key != "kind")
    return text + (", dynamic RPReLU" if table_row.rprelu == "dynamic" else "")


def format_latency_table(table: LatencyTable) -> str:
    """The all-static latency, the shared cost and one row per site setting (µs)."""
    args = ", ".join(f"{key}={value}" for key, value in table.args.items())
    load = f"; load {table.load_average:g} while measured" if table.load_average is not None else ""
    lines = [f"{table.backbone} ({args})", f"{table.device.describe()}{load}", ""]
    for kind, value in table.static_ms.items():
        suffix = f" ({kind} RPReLU)" if len(table.static_ms) > 1 else ""
        lines.append(f"all-static network{suffix}: {value:.4g} ms; any dynamic site adds "
                     f"{1e3 * table.shared_ms.get(kind, 0.0):+.2f} µs once, then each its own:")
    rows = [(f"blocks[{extra.block}].{extra.site}", _settings(extra),
             f"{1e3 * extra.extra_ms:+.2f} µs")
            for extra in sorted(table.extras, key=lambda e: (e.rprelu, e.block, e.site))]
    if rows:
        header = ("site", "setting", "extra")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
        for row in [header, *rows]:
            lines.append(f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}")
    return "\n".join(lines)


def format_op_times(ops: list[OpTime]) -> str:
    """Where the time goes: OpenVINO's executed nodes grouped by type and kernel."""
    groups: dict[tuple[str, str], list[float]] = {}
    for op in ops:
        groups.setdefault((op.layer_type, op.kernel), []).append(op.median_ms)
    total = sum(op.median_ms for op in ops)
    rows = [(kind, kernel, str(len(times)), f"{sum(times):.4f}", _share(sum(times), total))
            for (kind, kernel), times in sorted(groups.items(), key=lambda item: -sum(item[1]))]
    rows.append(("total", "", str(len(ops)), f"{total:.4f}", "100.0 %"))
    header = ("op", "kernel", "nodes", "ms", "share")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    return "\n".join(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  "
                     f"{r[3]:>{widths[3]}}  {r[4]:>{widths[4]}}" for r in [header, *rows])
