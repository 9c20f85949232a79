"""A search over per-block threshold placement and reduction ratio vs all-static and
all-dynamic networks, at equal training budgets.

1. **Search** (``bnas.search.run_search``, the config's ``space``): T trials of up to E epochs,
   ASHA stops weak ones; the winner is the trial with the best validation top-1. Its cost is
   B = Σ trial epochs actually trained (from summary.json).
2. **Retrain from scratch**, same recipe, same K seeds (never the search's own seed, so the
   winner's search luck does not carry over), test split of the final model:
   - ``searched``, ``static``, ``dynamic``: E epochs each — the architectures compared at an
     equal per-model budget; the search's B is paid on top by the searched route;
   - ``static_long``, ``dynamic_long``: E' = E + round(B / K) epochs each — equal *total*
     budget: the fixed route spends the search's B on training its K models longer, so
     K·E' ≈ B + K·E, which is what the searched route spends in all.

The unit of budget is one epoch over the same training subset. Reported: accuracy (mean ± sd,
paired differences by seed), OPs, and whether the searched Architecture is on the
accuracy-vs-OPs front of the arms and of the search's trials.

    python -m experiments.search_vs_fixed              # ≤ 45 min on 2 cores
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from experiments.common import (
    COMPARISON_COLUMNS,
    Experiment,
    build_space,
    compare,
    comparison_line,
    comparison_rows,
    count,
    flow,
    local_ray,
    markdown_table,
    mean_sd,
    pct,
    pm,
    pyplot,
    run_one_search,
    run_training,
    scaled_space,
    write_csv,
)

NAME = "search_vs_fixed"
TITLE = "Searched threshold placement vs all-static / all-dynamic at equal training budget"
ARMS = ("searched", "static", "dynamic", "static_long", "dynamic_long")
COMPARISONS = (("static", "searched"), ("dynamic", "searched"), ("static_long", "searched"),
               ("dynamic_long", "searched"), ("static", "dynamic"))


def retrain_jobs(seeds: list[int], archs: dict[str, Any], train: dict[str, Any],
                 epochs: dict[str, int]) -> list[dict[str, Any]]:
    """Every arm (``archs``) with every seed, ``epochs[arm]`` epochs, scored on the test split."""
    jobs = []
    for seed in seeds:
        for arm, arch in archs.items():
            jobs.append({"arm": arm, "seed": seed, "epochs_budget": epochs[arm],
                         "arch": arch.to_dict(),
                         "config": {**train, "epochs": epochs[arm], "seed": seed, "threads": 1,
                                    "eval_test": True, "device": "cpu"}})
    return jobs


def summarize(rows: list[dict[str, Any]], epochs: dict[str, int],
              cost: str = "ops") -> tuple[list, list]:
    """Per arm: mean ± sd of test top-1 and whether it is on the front of (mean test top-1,
    ``cost``) among the equal-epoch arms and among all; per comparison: paired differences."""
    from bnas.search import pareto_front

    by_arm: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        if row.get("test_top1") is not None:
            by_arm.setdefault(row["arm"], {})[row["seed"]] = row
    arm_rows = []
    for arm in ARMS:
        if arm not in by_arm:
            continue
        runs = by_arm[arm]
        first = next(iter(runs.values()))
        mean, sd = mean_sd([r["test_top1"] for r in runs.values()])
        arm_rows.append({"arm": arm, "arch": first["arch_summary"], "n": len(runs),
                         "epochs": epochs[arm], "budget_epochs": epochs[arm] * len(runs),
                         "test_top1_mean": mean, "test_top1_sd": sd, "ops": first["ops"],
                         "params": first["params"], "size_mib": first["size_mib"]})
    def front(rows: list[dict[str, Any]]) -> set[str]:
        points = [{"acc": r["test_top1_mean"], cost: r[cost]} for r in rows]
        return {rows[i]["arm"] for i in pareto_front(points, {"acc": "max", cost: "min"})}

    # Fronts of mean test top-1 vs cost: among the arms trained for E epochs, and among all.
    same_epochs = front([r for r in arm_rows if not r["arm"].endswith("_long")])
    every = front(arm_rows)
    for row in arm_rows:
        row["on_front_same_epochs"] = row["arm"] in same_epochs
        row["on_front_all"] = row["arm"] in every
    comparisons = []
    for base, other in COMPARISONS:
        if base in by_arm and other in by_arm:
            seeds = sorted(set(by_arm[base]) & set(by_arm[other]))
            a = [by_arm[base][s]["test_top1"] for s in seeds]
            b = [by_arm[other][s]["test_top1"] for s in seeds]
            comparisons.append({"comparison": f"{other} − {base}", **compare(a, b),
                                "wins": sum(y > x for x, y in zip(a, b))})
    return arm_rows, comparisons


def plot(trials: list[dict[str, Any]], rows: list[dict[str, Any]],
         arm_rows: list[dict[str, Any]], path: Path) -> None:
    """Left: the search's trials, val top-1 vs OPs, with the front and the winner. Right: the
    retrained arms, per-seed test top-1 (joined by seed) and mean ± sd."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2),
                                      gridspec_kw={"width_ratios": [1, 1.2]})
    for status, marker in (("completed", "o"), ("stopped", "x")):
        points = [(t["ops"], 100 * t["val_top1"]) for t in trials
                  if t["status"] == status and t.get("val_top1") is not None]
        if points:
            left.scatter(*zip(*points), marker=marker, color="0.4", s=28,
                         label=f"trial ({'stopped by ASHA' if status == 'stopped' else status})")
    front = sorted((t["ops"], 100 * t["val_top1"]) for t in trials if t.get("on_front"))
    if front:
        left.plot(*zip(*front), color="C2", lw=1, marker=".", label="front (val top-1 vs OPs)")
    for t in trials:
        if t.get("winner"):
            left.scatter([t["ops"]], [100 * t["val_top1"]], marker="*", s=180, color="C3",
                         zorder=3, label=f"winner {t['arch']}")
    left.set_xlabel("OPs per image")
    left.set_ylabel("best val top-1 (%)")
    left.set_title("the search's trials", fontsize=10)
    left.legend(fontsize=7)
    arms = [r["arm"] for r in arm_rows]
    for seed in sorted({r["seed"] for r in rows}):
        points = sorted((arms.index(r["arm"]), 100 * r["test_top1"]) for r in rows
                        if r["seed"] == seed and r.get("test_top1") is not None)
        if points:
            right.plot(*zip(*points), color="0.75", lw=0.8, marker=".", ms=6, mfc="0.45",
                       mec="0.45", zorder=1)
    for k, row in enumerate(arm_rows):
        right.errorbar([k + 0.15], [100 * row["test_top1_mean"]],
                       yerr=[100 * (row["test_top1_sd"] or 0)], capsize=4, fmt="o",
                       color="C3" if row["arm"] == "searched" else "C0", zorder=3)
    right.set_xticks(range(len(arms)), [
        f"{r['arm']}\n{r['epochs']} ep · {count(r['ops'])} OPs" for r in arm_rows], fontsize=7)
    right.set_ylabel("test top-1 (%)")
    right.set_title("retrained from scratch: seeds (gray, joined), mean ± sd", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bnas.architecture import Architecture

    exp = Experiment.start(NAME, argv, __doc__)
    config, scale = exp.config, exp.scale
    exp.seeds = list(range(scale.count(int(config.get("seeds", 5)), minimum=2)))
    sections = scaled_space(config["space"], scale)
    space = build_space(sections, f"{NAME}-search")
    epochs = space.epochs

    print(f"search: {space.search.num_samples} trials × ≤ {epochs} epochs", flush=True)
    with tempfile.TemporaryDirectory(prefix="bnas-exp-") as storage, local_ray():
        search = run_one_search(space, Path(storage))
    summary = search["summary"]
    if summary.get("best") is None:
        raise SystemExit(f"{NAME}: no trial finished; see the errors above")
    best = summary["best"]
    spent = search["trial_epochs"]
    long_epochs = epochs + round(spent / len(exp.seeds))

    train = dict(best["config"]["train"])  # data + every fixed training setting of the space
    args = {k: v for k, v in sections["backbone"].items() if k != "name"}
    backbone = sections["backbone"]["name"]
    dynamic = {"kind": "dynamic", **(config.get("dynamic") or {})}
    archs = {
        "searched": Architecture.from_dict(best["arch"]),
        "static": Architecture.uniform(backbone, "static", **args),
        "dynamic": Architecture.uniform(backbone, dynamic, **args),
    }
    archs |= {"static_long": archs["static"], "dynamic_long": archs["dynamic"]}
    arm_epochs = {arm: long_epochs if arm.endswith("_long") else epochs for arm in ARMS}
    print(f"search done: {len(summary['trials'])} trials, B = {spent} trial-epochs, "
          f"{search['wall_seconds']:.0f} s; winner {best['arch_summary']} "
          f"(val top-1 {best['metrics']['val_top1']:.4f}); long arms train {long_epochs} "
          "epochs", flush=True)

    jobs = retrain_jobs(exp.seeds, archs, train, arm_epochs)
    rows = run_training(jobs, exp.workers,
                        lambda j: f"{j['arm']:<13} seed {j['seed']} ({j['epochs_budget']} ep)")
    arm_rows, comparisons = summarize(rows, arm_epochs)

    pareto = set(summary["pareto"])
    trials = [{"trial_id": t["trial_id"], "arch": t["arch_summary"], "status": t["status"],
               "epochs_run": t["epochs_run"], "val_top1": t["metrics"].get("val_top1"),
               "ops": t["metrics"].get("ops"), "size_mib": t["metrics"].get("size_mib"),
               "lr": t["config"]["train"].get("lr"), "on_front": t["trial_id"] in pareto,
               "winner": t["trial_id"] == best["trial_id"]} for t in summary["trials"]]
    write_csv(exp.out / "trials.csv", trials)
    (exp.out / "search_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_csv(exp.out / "comparisons.csv", comparisons)
    plot(trials, rows, arm_rows, exp.out / f"{NAME}.png")

    exp.meta.update(search={"trials": len(trials), "trial_epochs": spent,
                            "wall_seconds": round(search["wall_seconds"], 1),
                            "winner": best["arch_summary"], "winner_arch": best["arch"],
                            "winner_val_top1": best["metrics"]["val_top1"]},
                    epochs=arm_epochs, space=sections)
    body = report(exp, sections, search, arm_rows, comparisons, trials, arm_epochs, rows)
    return exp.finish(TITLE, body, rows, arm_rows)


def report(exp: Experiment, sections: dict[str, Any], search: dict[str, Any],
           arm_rows: list[dict[str, Any]], comparisons: list[dict[str, Any]],
           trials: list[dict[str, Any]], epochs: dict[str, int], rows: list[dict]) -> str:
    s, data, train = sections["search"], sections["data"], sections["train"]
    k, e = len(exp.seeds), epochs["searched"]
    spent = search["trial_epochs"]
    winner = next(t for t in trials if t["winner"])
    stopped = sum(t["status"] == "stopped" for t in trials)
    lines = [
        f"**Search.** `{flow(sections['backbone'])}`; per block: "
        f"`{flow(sections['space']['blocks'])}`. {s['algorithm']} sampler (seed "
        f"{s.get('seed', 0)}), {len(trials)} trials of ≤ {e} epochs, "
        f"{s.get('max_concurrent', 1)} at a time, scheduler "
        f"`{flow(s.get('scheduler', 'none'))}` ({stopped} trials stopped early), selection "
        f"on val top-1 (data seed {train.get('seed', 0)}: `{flow(data)}`)."
        f" Cost **B = {spent} trial-epochs**, {search['wall_seconds'] / 60:.1f} min wall. "
        f"Winner: `{winner['arch']}` (val top-1 {pct(winner['val_top1'])} %).",
        "",
        f"**Budget.** Unit: one epoch over the same training subset. Every arm is retrained "
        f"from scratch with the same recipe on seeds {exp.seeds} (not the search's data seed) "
        f"and scored on the test split (final model). Equal per-model budget: `searched`, "
        f"`static`, `dynamic` train {e} epochs each ({k}·{e} = {k * e} epochs per arm; the "
        f"searched route also paid B = {spent}). Equal total budget: `static_long`, "
        f"`dynamic_long` train E' = {e} + round({spent}/{k}) = {epochs['static_long']} epochs "
        f"each, {k * epochs['static_long']} epochs per arm ≈ B + {k}·{e} = {spent + k * e}.",
        "",
        "## Retrained arms",
        "",
    ]
    per_seed: dict[str, list[str]] = {}
    for r in rows:
        if r.get("test_top1") is not None:
            per_seed.setdefault(r["arm"], []).append(pct(r["test_top1"]))
    def yes(flag: bool | None) -> str:
        return "-" if flag is None else "yes" if flag else "no"

    table = [{**r, "acc": pm(r["test_top1_mean"], r["test_top1_sd"]), "o": f"{r['ops']:,.0f}",
              "p": f"{r['params']:,}", "sz": f"{r['size_mib']:.3f}",
              "f1": yes(None if r["arm"].endswith("_long") else r["on_front_same_epochs"]),
              "f2": yes(r["on_front_all"]), "seeds": " ".join(per_seed[r["arm"]])}
             for r in arm_rows]
    lines.append(markdown_table(table, {
        "arm": "arm", "arch": "architecture", "epochs": "epochs/run", "budget_epochs":
        "epochs (all seeds)", "o": "OPs", "p": "params", "sz": "size MiB",
        "acc": "test top-1 %", "seeds": "per seed", "f1": f"front ({e}-epoch arms)",
        "f2": "front (all arms)"}))
    lines.append("Front: not dominated in (mean test top-1 ↑, OPs ↓) within the set named.\n")
    lines += ["## Paired differences (by seed)", "",
              "Δ in percentage points, paired by seed; t CI: 95 % CI of the mean paired "
              "difference (paired t); bootstrap CI: 95 % percentile bootstrap of that mean; "
              "p: paired t-test and Welch's t-test; wins: seeds where the first arm is better.",
              ""]
    columns = {k: v for k, v in COMPARISON_COLUMNS.items() if k not in ("dataset", "backbone")}
    lines.append(markdown_table(comparison_rows(comparisons), columns))
    searched = next((r for r in arm_rows if r["arm"] == "searched"), None)
    lines += ["## Reading", ""]
    if searched is not None:
        on = {True: "on", False: "not on"}
        lines.append(
            f"- The searched architecture is {on[searched['on_front_same_epochs']]}"
            f" the accuracy-vs-OPs front of the {e}-epoch arms (searched, static, dynamic), "
            f"{on[searched['on_front_all']]} the front of all arms (with the "
            f"longer-trained ones), and {on[winner['on_front']]} the "
            "val-top-1-vs-OPs front of the search's trials.")
    lines += [f"- {comparison_line(c)}" for c in comparisons]
    lines += ["", f"![search and retrained arms]({NAME}.png)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
