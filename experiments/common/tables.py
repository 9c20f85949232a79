"""Tables: CSV files, Markdown tables and how numbers are printed in them."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import yaml

from experiments.common.stats import verdict


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """``rows`` as CSV, columns in order of first appearance; floats exactly (``repr``), NaN
    as an empty cell, lists and dicts as JSON."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return path


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def markdown_table(rows: list[dict[str, Any]], columns: dict[str, str]) -> str:
    """``columns``: row key → header. Values are printed as they are (format them first)."""
    lines = ["| " + " | ".join(columns.values()) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(key, "")) for key in columns) + " |")
    return "\n".join(lines) + "\n"


def flow(data: Any) -> str:
    """Plain data as one line of YAML flow style: ``{name: reactnet_a, preset: tiny}``."""
    return yaml.safe_dump(data, default_flow_style=True, sort_keys=False, width=10**6).strip()


def pct(value: float | None, digits: int = 2) -> str:
    """A fraction as percent (0.8734 → '87.34'); '-' for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.{digits}f}"


def pm(mean: float, sd: float, digits: int = 2) -> str:
    """'87.34 ± 0.52' (percent points)."""
    return f"{pct(mean, digits)} ± {pct(sd, digits)}"


def pvalue(p: float | None) -> str:
    """A p-value with three decimals, in scientific notation below 0.001; '-' if missing."""
    if p is None or math.isnan(p):
        return "-"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def comparison_line(comparison: dict[str, Any]) -> str:
    """'A − B: +0.52 pt (paired p 0.120): no significant difference …' (one results bullet)."""
    other, base = comparison["comparison"].split(" − ")
    return (f"{comparison['comparison']}: {100 * comparison['mean_diff']:+.2f} pt (paired p "
            f"{pvalue(comparison['p_paired'])}): {verdict(comparison, other, base)}.")


def count(value: float | int | None) -> str:
    """12345 → '12.3 k', 1.2e6 → '1.2 M' (three significant digits)."""
    if value is None:
        return "-"
    value = float(value)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f}"


def format_seconds(seconds: float) -> str:
    """Seconds below 90, minutes below 90 min, hours above: '42 s', '3.5 min', '1.20 h'."""
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


COMPARISON_COLUMNS = {
    "dataset": "dataset", "backbone": "backbone", "comparison": "comparison",
    "delta": "Δ mean ± sd (pt)", "tci": "t CI (pt)", "bci": "bootstrap CI (pt)",
    "pp": "p (paired)", "pw": "p (Welch)", "w": "wins"}


def comparison_rows(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Comparisons (:func:`experiments.common.stats.compare` plus ``wins``) formatted for
    :data:`COMPARISON_COLUMNS` (percentage points)."""

    def interval(low: float, high: float) -> str:
        return "-" if math.isnan(low) else f"[{100 * low:+.2f}, {100 * high:+.2f}]"

    return [{**c, "delta": f"{100 * c['mean_diff']:+.2f} ± {pct(c['sd_diff'])}",
             "tci": interval(c["t_low"], c["t_high"]),
             "bci": interval(c["ci_low"], c["ci_high"]),
             "pp": pvalue(c["p_paired"]), "pw": pvalue(c["p_welch"]),
             "w": f"{c['wins']}/{c['n']}"} for c in comparisons]
