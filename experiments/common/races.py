"""Search races: variants of one search (sampler, scheduler), run per seed, timed to the
reference variant's best validation accuracy of the same seed."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from experiments.common.frame import Experiment
from experiments.common.plots import pyplot
from experiments.common.searches import build_space, local_ray, run_one_search, scaled_space
from experiments.common.stats import median
from experiments.common.tables import markdown_table, pct


def reach(events: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """Trial-epochs and seconds a search spent until some trial's val_top1 ≥ ``target``.

    The count is every epoch any trial finished up to and including that one (what the search
    had paid by then). ``None`` when the target was never reached.
    """
    for index, event in enumerate(events, start=1):
        if event["val_top1"] >= target - 1e-12:
            return {"epochs": index, "seconds": event["seconds"]}
    return {"epochs": None, "seconds": None}


def search_race(exp: Experiment, variants: dict[str, dict[str, Any]],
                reference: str) -> dict[str, Any]:
    """Run the config's ``space`` once per variant and seed; time each to a common target.

    ``variants``: name → overrides of the ``search`` section (e.g. ``{"algorithm":
    "random"}``). For seed s every variant's sampler gets seed s; the target of seed s is the
    best val top-1 of the ``reference`` variant's search. Searches share one local Ray
    cluster, run one at a time, and alternate their order between seeds (the first search on a
    fresh cluster waits for worker processes). Returns per-search rows, per-variant medians
    and the epoch events.
    """
    sections = scaled_space(exp.config["space"], exp.scale)
    exp.seeds = list(range(exp.scale.count(int(exp.config.get("seeds", 3)), minimum=1)))
    names = list(variants)
    rows, events = [], []
    with tempfile.TemporaryDirectory(prefix="bnas-exp-") as storage, local_ray():
        for seed in exp.seeds:
            order = names if seed % 2 == 0 else names[::-1]
            results = {}
            for variant in order:
                data = json.loads(json.dumps(sections))
                data["search"] = {**data["search"], **variants[variant], "seed": seed}
                space = build_space(data, f"{exp.name}-{variant}-s{seed}")
                print(f"seed {seed}, {variant}: {space.search.num_samples} trials × ≤ "
                      f"{space.epochs} epochs", flush=True)
                results[variant] = run_one_search(space, Path(storage))
            target = max(e["val_top1"] for e in results[reference]["events"])
            for variant in names:
                result = results[variant]
                reached = reach(result["events"], target)
                best = max((e["val_top1"] for e in result["events"]), default=None)
                rows.append({
                    "seed": seed, "variant": variant,
                    "trials": len(result["summary"]["trials"]),
                    "stopped": sum(t["status"] == "stopped" for t in result["summary"]["trials"]),
                    "trial_epochs": result["trial_epochs"],
                    "wall_seconds": round(result["wall_seconds"], 1),
                    "best_val_top1": best, "target_val_top1": target,
                    "epochs_to_target": reached["epochs"],
                    "seconds_to_target": None if reached["seconds"] is None
                    else round(reached["seconds"], 1),
                    "best_arch": (result["summary"].get("best") or {}).get("arch_summary"),
                })
                events += [{"seed": seed, "variant": variant, **e} for e in result["events"]]
                print(f"  seed {seed} {variant:<8} best {best:.4f}  target {target:.4f}  "
                      f"reached after {reached['epochs']} trial-epochs / "
                      f"{reached['seconds'] and round(reached['seconds'])} s "
                      f"(total {result['trial_epochs']} epochs, "
                      f"{result['wall_seconds']:.0f} s)", flush=True)
    medians = []
    for variant in names:
        mine = [r for r in rows if r["variant"] == variant]
        medians.append({
            "variant": variant, "seeds": len(mine),
            "reached": sum(r["epochs_to_target"] is not None for r in mine),
            "median_epochs_to_target": median([r["epochs_to_target"] for r in mine]),
            "median_seconds_to_target": median([r["seconds_to_target"] for r in mine]),
            "median_trial_epochs": median([r["trial_epochs"] for r in mine]),
            "median_wall_seconds": median([r["wall_seconds"] for r in mine]),
            "median_best_val_top1": median([r["best_val_top1"] for r in mine]),
        })
    exp.meta["space"] = sections
    return {"rows": rows, "medians": medians, "events": events, "sections": sections}


def plot_race(race: dict[str, Any], path: Path, title: str) -> None:
    """Best-so-far val top-1 against trial-epochs spent (left) and wall time (right)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    variants = list(dict.fromkeys(r["variant"] for r in race["rows"]))
    styles = ["-", "--", ":", "-."]
    for k, variant in enumerate(variants):
        for seed in sorted({r["seed"] for r in race["rows"]}):
            events = [e for e in race["events"] if e["variant"] == variant and e["seed"] == seed]
            best, xs, ts, ys = 0.0, [], [], []
            for index, event in enumerate(events, start=1):
                best = max(best, event["val_top1"])
                xs.append(index)
                ts.append(event["seconds"])
                ys.append(100 * best)
            label = f"{variant}" if seed == 0 else None
            for ax, x in zip(axes, (xs, ts)):
                ax.step(x, ys, where="post", color=f"C{k}", ls=styles[seed % len(styles)],
                        alpha=0.85, label=label)
    targets = sorted({r["target_val_top1"] for r in race["rows"]})
    for ax, xlabel in zip(axes, ("trial-epochs spent", "wall seconds since the search started")):
        for target in targets:
            ax.axhline(100 * target, color="0.6", lw=0.6, ls=":")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("best val top-1 so far (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="line style = seed", title_fontsize=7)
    lows = [100 * e["val_top1"] for e in race["events"]]
    if lows:
        for ax in axes:
            ax.set_ylim(max(min(100 * t for t in targets) - 15, min(lows)), None)
    fig.suptitle(title + " (dotted: each seed's target)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def race_tables(race: dict[str, Any]) -> str:
    """Per-search rows and per-variant medians as Markdown."""
    rows = [{**r, "b": pct(r["best_val_top1"]), "t": pct(r["target_val_top1"]),
             "e": r["epochs_to_target"] if r["epochs_to_target"] is not None else "not reached",
             "s": "-" if r["seconds_to_target"] is None else f"{r['seconds_to_target']:.0f}",
             "w": f"{r['wall_seconds']:.0f}"} for r in race["rows"]]
    text = markdown_table(rows, {
        "seed": "seed", "variant": "search", "trials": "trials", "stopped": "stopped early",
        "trial_epochs": "trial-epochs", "w": "wall s", "b": "best val top-1 %",
        "t": "target %", "e": "trial-epochs to target", "s": "seconds to target",
        "best_arch": "best architecture"})
    medians = [{**m, "e": "-" if m["median_epochs_to_target"] is None
                else f"{m['median_epochs_to_target']:g}",
                "s": "-" if m["median_seconds_to_target"] is None
                else f"{m['median_seconds_to_target']:.0f}",
                "te": f"{m['median_trial_epochs']:g}", "w": f"{m['median_wall_seconds']:.0f}",
                "b": pct(m["median_best_val_top1"]), "r": f"{m['reached']}/{m['seeds']}"}
               for m in race["medians"]]
    text += "\nMedians over seeds (a search that never reached its target counts as ∞):\n\n"
    text += markdown_table(medians, {
        "variant": "search", "r": "reached target", "e": "median trial-epochs to target",
        "s": "median seconds to target", "te": "median trial-epochs (whole search)",
        "w": "median wall s (whole search)", "b": "median best val top-1 %"})
    return text
