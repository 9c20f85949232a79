"""PNG figures of a run, drawn from plain data (``summary.json``'s trial dicts).

Every function takes the trials (or plain numbers), writes one PNG with matplotlib's Agg
canvas (no pyplot, no global backend switch, no display needed) and returns the data it
plotted, so a test can check the figure's content without reading pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bnas.report.analysis import (
    THRESHOLD_GROUPS,
    best_so_far,
    block_threshold_stats,
    pareto_ids,
    supernet_vs_standalone,
    trained_trials,
)

DPI = 120
COLORS = {"static": "#4c72b0", "dynamic": "#dd8452", "front": "#c44e52", "best": "#f2b701",
          "point": "#4c72b0", "muted": "#9a9a9a"}


def _figure(width: float = 6.4, height: float = 4.4) -> tuple[Figure, Any]:
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


# The cost axes a run's accuracy is plotted against: x label and title.
COST_AXES = {
    "ops": ("OPs per image (FLOPs + BOPs/64)", "Accuracy vs OPs"),
    "latency_ms": ("latency per image (ms, bit-packed, predicted by the latency table)",
                   "Accuracy vs latency"),
}


def plot_accuracy_vs_cost(
    trials: list[dict[str, Any]], path: str | Path, *, cost: str = "ops",
    best_id: str | None = None
) -> dict[str, Any]:
    """Scatter of val top-1 against a cost (:data:`COST_AXES`: OPs, or latency where the run
    priced it); the Pareto front (max accuracy, min cost) as a step line.

    Completed trials are filled dots, ASHA-stopped ones hollow (fewer epochs), the best trial
    a star. Returns ``points`` (trial id, cost as ``x``, val_top1, status), ``pareto`` and
    ``best``.
    """
    points = [
        {"trial_id": t["trial_id"], "x": float(t["metrics"][cost]),
         "val_top1": float(t["metrics"]["val_top1"]), "status": t["status"],
         "arch_summary": t.get("arch_summary", "")}
        for t in trained_trials(trials) if t["metrics"].get(cost) is not None
    ]
    plotted = {p["trial_id"] for p in points}
    front_ids = pareto_ids([t for t in trials if t["trial_id"] in plotted],
                           {"val_top1": "max", cost: "min"})
    figure, ax = _figure()
    for status, filled in (("completed", True), ("stopped", False)):
        chosen = [p for p in points if p["status"] == status]
        if chosen:
            ax.scatter([p["x"] for p in chosen], [100 * p["val_top1"] for p in chosen],
                       s=36, zorder=3, label=f"{status} ({len(chosen)})",
                       facecolors=COLORS["point"] if filled else "none",
                       edgecolors=COLORS["point"])
    front = sorted((p for p in points if p["trial_id"] in front_ids),
                   key=lambda p: (p["x"], -p["val_top1"]))
    if front:
        ax.step([p["x"] for p in front], [100 * p["val_top1"] for p in front],
                where="post", color=COLORS["front"], linewidth=1.2, zorder=2)
        ax.scatter([p["x"] for p in front], [100 * p["val_top1"] for p in front], s=110,
                   facecolors="none", edgecolors=COLORS["front"], linewidths=1.4, zorder=4,
                   label=f"Pareto front ({len(front)})")
    best = next((p for p in points if p["trial_id"] == best_id), None)
    if best is not None:
        ax.scatter([best["x"]], [100 * best["val_top1"]], marker="*", s=260, zorder=5,
                   color=COLORS["best"], edgecolors="black", linewidths=0.6,
                   label=f"best: {best['arch_summary']}")
    if points:
        low, high = min(p["x"] for p in points), max(p["x"] for p in points)
        if low > 0 and high / low > 20:
            ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no trained trials", ha="center", va="center",
                transform=ax.transAxes, color=COLORS["muted"])
    label, title = COST_AXES[cost]
    ax.set_xlabel(label)
    ax.set_ylabel("val top-1 (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if points:
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    _save(figure, path)
    return {"path": Path(path), "points": points, "pareto": [p["trial_id"] for p in front],
            "best": best["trial_id"] if best else None}


def plot_best_so_far(trials: list[dict[str, Any]], path: str | Path, *,
                     unit: str = "trial") -> dict[str, Any]:
    """val top-1 per trial (dots) and the best so far (step line) against the trial number.

    Trial number = the order Optuna suggested the trials (see :mod:`bnas.report.analysis`);
    untrained trials (failed, over budget) are ticks on the x axis. ``unit``: what the points
    are (``trial``, or ``candidate`` for a one-shot search's candidates). Returns the ``rows``
    of :func:`bnas.report.analysis.best_so_far`.
    """
    rows = best_so_far(trials)
    trained = [r for r in rows if r["val_top1"] is not None]
    skipped = [r for r in rows if r["val_top1"] is None]
    figure, ax = _figure()
    if trained:
        ax.scatter([r["number"] for r in trained], [100 * r["val_top1"] for r in trained],
                   s=24 if len(trained) < 200 else 6, color=COLORS["muted"], zorder=3,
                   label=f"{unit} val top-1")
        curve = [r for r in rows if r["best"] is not None]
        ax.step([r["number"] for r in curve], [100 * r["best"] for r in curve], where="post",
                color=COLORS["front"], linewidth=1.6, zorder=4, label="best so far")
    if skipped:
        ax.plot([r["number"] for r in skipped], [0] * len(skipped), linestyle="none",
                marker="|", markersize=12, color="black",
                transform=ax.get_xaxis_transform(), label=f"not trained ({len(skipped)})")
    if not trained:
        ax.text(0.5, 0.5, "no trained trials", ha="center", va="center",
                transform=ax.transAxes, color=COLORS["muted"])
    ax.set_xlabel(f"{unit} number (order of suggestion)")
    ax.set_ylabel("val top-1 (%)" if unit == "trial" else "val top-1, inherited weights (%)")
    ax.set_title("Search progress")
    ax.set_xlim(0.5, max(len(rows), 1) + 0.5)
    ax.grid(True, alpha=0.3)
    if rows:
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    _save(figure, path)
    return {"path": Path(path), "rows": rows}


def plot_block_thresholds(trials: list[dict[str, Any]], path: str | Path, *,
                          unit: str = "trial") -> dict[str, Any]:
    """Per block: trials' accuracy with a static vs a dynamic threshold there.

    Dots are trials (spread horizontally by a fixed jitter), bars the mean ± sample sd.
    Accuracy is the equal-budget one of :func:`bnas.report.analysis.block_threshold_stats`,
    which this returns (plus the path).
    """
    import numpy as np

    stats = block_threshold_stats(trials)
    rows = stats["rows"]
    num_blocks = max((r["block"] for r in rows), default=-1) + 1
    figure, ax = _figure(max(6.4, 0.9 * num_blocks + 2.0), 4.4)
    jitter = np.random.default_rng(0)
    offsets = {"static": -0.18, "dynamic": 0.18}
    mean_labelled = False
    for group in THRESHOLD_GROUPS:
        labelled = False
        for row in (r for r in rows if r["group"] == group and r["n"]):
            x = row["block"] + offsets[group]
            spread = jitter.uniform(-0.06, 0.06, size=row["n"])
            ax.scatter(x + spread, [100 * v for v in row["values"]],
                       s=14 if row["n"] < 200 else 4, alpha=0.6, color=COLORS[group], zorder=3,
                       label=None if labelled else f"{group} ({unit}s)")
            ax.errorbar([x], [100 * row["mean"]],
                        yerr=[[100 * (row["sd"] or 0.0)], [100 * (row["sd"] or 0.0)]],
                        fmt="_", markersize=18, capsize=4, color="black", zorder=4,
                        label=None if mean_labelled else "mean ± sd")
            labelled = mean_labelled = True
    if num_blocks:
        ax.set_xticks(range(num_blocks))
        ax.set_xticklabels([str(i) for i in range(num_blocks)])
        # Below the axes: any place inside would cover some block's points.
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3,
                  frameon=False)
    else:
        ax.text(0.5, 0.5, "no trained trials", ha="center", va="center",
                transform=ax.transAxes, color=COLORS["muted"])
    budget = stats["epochs"]
    ax.set_xlabel("block")
    if unit != "trial":
        ax.set_ylabel("val top-1, inherited weights (%)")
    elif budget:
        ax.set_ylabel(f"val top-1 (%), best of first {budget} epoch" + ("s" if budget > 1 else ""))
    else:
        ax.set_ylabel("val top-1 (%)")
    ax.set_title("Which blocks want DySign: static vs dynamic threshold per block")
    ax.grid(True, axis="y", alpha=0.3)
    _save(figure, path)
    return {"path": Path(path), **stats}


def plot_importance(importances: dict[str, float], path: str | Path) -> dict[str, Any]:
    """Horizontal bars of fANOVA importances (largest on top)."""
    items = sorted(importances.items(), key=lambda item: item[1])
    figure, ax = _figure(6.4, max(2.4, 0.35 * len(items) + 1.2))
    ax.barh([name for name, _ in items], [value for _, value in items],
            color=COLORS["point"])
    ax.set_xlabel("importance (fANOVA, share of variance)")
    ax.set_title("Hyperparameter importance")
    ax.grid(True, axis="x", alpha=0.3)
    _save(figure, path)
    return {"path": Path(path), "importances": dict(reversed(items))}


def plot_supernet_vs_standalone(trials: list[dict[str, Any]], path: str | Path) -> dict[str, Any]:
    """A one-shot run's retrained candidates: val top-1 with inherited supernet weights (x)
    against stand-alone val top-1 (y), Kendall's τ of the two rankings in the title. Returns
    :func:`bnas.report.analysis.supernet_vs_standalone`'s points and τ."""
    data = supernet_vs_standalone(trials)
    points = data["points"]
    figure, ax = _figure()
    if points:
        ax.scatter([100 * p["supernet"] for p in points], [100 * p["standalone"] for p in points],
                   s=40, zorder=3, color=COLORS["point"])
        for p in points:
            ax.annotate(p["arch_summary"], (100 * p["supernet"], 100 * p["standalone"]),
                        fontsize=6, xytext=(4, 3), textcoords="offset points")
        ax.margins(x=0.25, y=0.15)  # room for the labels
    else:
        ax.text(0.5, 0.5, "no retrained candidate", ha="center", va="center",
                transform=ax.transAxes, color=COLORS["muted"])
    tau = "n/a" if data["tau"] != data["tau"] else f"{data['tau']:+.2f} (p {data['p']:.2g})"
    ax.set_title(f"Supernet vs stand-alone accuracy: Kendall τ {tau}, n = {data['n']}")
    ax.set_xlabel("val top-1 with inherited supernet weights (%)")
    ax.set_ylabel("val top-1 trained stand-alone (%)")
    ax.grid(True, alpha=0.3)
    _save(figure, path)
    return {"path": Path(path), **data}


def plot_site_effects(effects: list[dict[str, Any]], path: str | Path) -> dict[str, Any]:
    """A one-shot run's per-site effects (:class:`bnas.run_record.SiteEffectRecord` dicts):
    dynamic − static val top-1 at each site, fitted on the mean score over supernet seeds,
    with its 95 % interval over the candidates (bars), and each seed's effect (markers).
    Sites whose seeds disagree in sign are labelled in red. Returns the plotted ``sites``."""
    figure, ax = _figure(max(6.4, 0.75 * len(effects) + 2.0), 4.4)
    sites = [f"b{e['block']}.{e['site']}" for e in effects]
    xs = list(range(len(effects)))
    if effects:
        ys = [100 * e["effect"] for e in effects]
        low = [100 * (e["effect"] - e["low"]) if e.get("low") is not None else 0.0
               for e in effects]
        high = [100 * (e["high"] - e["effect"]) if e.get("high") is not None else 0.0
                for e in effects]
        ax.errorbar(xs, ys, yerr=[low, high], fmt="o", color="black", capsize=4, zorder=3,
                    label="mean over seeds, 95 % interval over candidates")
        seeds = max((len(e.get("per_seed") or []) for e in effects), default=0)
        for seed in range(seeds):
            ax.scatter([x + 0.12 * (seed + 1) for x in xs],
                       [100 * e["per_seed"][seed] for e in effects], marker="^v<>sD"[seed % 6],
                       s=28, color=f"C{seed}", zorder=4, label=f"supernet seed {seed}")
        ax.set_xticks(xs)
        ax.set_xticklabels(sites, rotation=30, ha="right", fontsize=8)
        for label, effect in zip(ax.get_xticklabels(), effects):
            if effect.get("seeds_agree") is False:
                label.set_color(COLORS["front"])
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    else:
        ax.text(0.5, 0.5, "no site varies among the scored candidates", ha="center",
                va="center", transform=ax.transAxes, color=COLORS["muted"])
    ax.axhline(0, color=COLORS["muted"], linewidth=1)
    ax.set_ylabel("dynamic − static, val top-1 (pt)")
    ax.set_title("Where DySign pays, by the supernet (red: seeds disagree)")
    ax.grid(True, axis="y", alpha=0.3)
    _save(figure, path)
    return {"path": Path(path), "sites": sites}
