"""Static (RSign) vs dynamic (DySign) thresholds on the same backbone and budget, with controls.

Per dataset and backbone, four arms train with the same recipe and the same seeds:

- ``static``: every binarized site thresholds with RSign (learned per-channel bias);
- ``dynamic``: every site with DySign (``dynamic:`` in the config, r = 16 by default);
- ``static_wide``: RSign, widened (``width`` arg) to the dynamic arm's parameter count: the
  width is the candidate whose parameter count is closest to the dynamic arm's (a gain of
  ``dynamic`` over it is not just "more parameters"); CNN channels round to
  ``widen.channel_multiple`` (1 in the config: the finest steps) instead of the usual 8;
- ``dynamic_const``: DySign fed ones instead of the input's statistics (``pool: constant``):
  the same parameters and generator, but τ cannot depend on the input.

Seed s fixes the data subset, validation split, data order, augmentation and initialisation
of every arm, so arms are compared paired by seed. The metric is top-1 on the dataset's test
split of the model after the last epoch (no selection on validation accuracy).

    python -m experiments.dysign_vs_rsign              # ≤ 45 min on 2 cores
    python -m experiments.dysign_vs_rsign --scale 0.05 --out /tmp/smoke
"""

from __future__ import annotations

import sys
from typing import Any

from experiments.common import (
    COMPARISON_COLUMNS,
    Experiment,
    compare,
    comparison_rows,
    count,
    markdown_table,
    mean_sd,
    pct,
    pm,
    pvalue,
    pyplot,
    resolve_root,
    run_training,
    verdict,
    write_csv,
)

NAME = "dysign_vs_rsign"
TITLE = "Static (RSign) vs dynamic (DySign) thresholds at an identical budget"
ARMS = ("static", "dynamic", "static_wide", "dynamic_const")
# (base, other): the table shows other − base, paired by seed.
COMPARISONS = (("static", "dynamic"), ("static_wide", "dynamic"), ("dynamic_const", "dynamic"))
PAPER = {"reactnet_a": "+1.5 pt (ReActNet-A, ImageNet)", "react_resnet18":
         "+1.8 pt (ReAct-ResNet18, ImageNet)", "binary_cct": "≈ +9 pt (binary CCT)"}
TEST_SPLITS = {"fashion_mnist": "10,000 images", "mnist": "10,000 images",
               "cifar10": "10,000 images", "cifar100": "10,000 images",
               "imagefolder": "the images of its val/ folder", "digits": "359 images"}


def data_config(spec: dict[str, Any], scale: Any) -> dict[str, Any]:
    data = dict(spec)
    data["root"] = resolve_root(data.get("root"))
    if data.get("subset") is not None:
        data["subset"] = scale.count(int(data["subset"]), minimum=5)
    return data


def fitted_args(backbone_args: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Backbone args completed with the dataset's classes, channels and image size."""
    from bnas.data import dataset_info

    info = dataset_info(data["name"], data.get("root"), img_size=data.get("img_size"))
    return {**backbone_args, "num_classes": info.num_classes, "in_chans": info.in_chans,
            "img_size": info.img_size}


def param_count(arch: Any) -> int:
    """Parameters of the built model (on the meta device: no memory, no time)."""
    import torch

    from bnas.models import build_model

    with torch.device("meta"):
        model = build_model(arch)
    return sum(p.numel() for p in model.parameters())


def match_width(backbone: str, args: dict[str, Any], target: int,
                widths: dict[str, float]) -> dict[str, Any]:
    """The width whose static network's parameter count is closest to ``target``.

    Candidates run from ``min`` to ``max`` in ``step``; widths that round back to the
    unwidened network (same parameter count) are skipped. Parameters grow with width, so the
    scan stops at the first candidate at or above ``target``. ``args`` of the result: the
    backbone arguments that widen (``width``, and ``channel_multiple`` where the backbone
    has it and ``widths`` sets it).
    """
    from bnas.architecture import Architecture
    from bnas.backbones import backbone_info

    base = param_count(Architecture.uniform(backbone, "static", **args))
    rounding = ({"channel_multiple": int(widths["channel_multiple"])}
                if "channel_multiple" in widths
                and "channel_multiple" in backbone_info(backbone).args else {})
    best: dict[str, Any] | None = None
    steps = int(round((widths["max"] - widths["min"]) / widths["step"]))
    for i in range(1, steps + 1):
        wide_args = {"width": round(widths["min"] + i * widths["step"], 6), **rounding}
        params = param_count(Architecture.uniform(backbone, "static", **args, **wide_args))
        if params == base:
            continue
        gap = abs(params / target - 1)
        if best is None or gap < best["gap"]:
            best = {"width": wide_args["width"], "args": wide_args, "params": params,
                    "gap": gap}
        if params >= target:
            break
    if best is None:
        raise SystemExit(f"{backbone}: no width in {widths} changes the parameter count")
    return {**best, "static_params": base, "target": target}


def arms(backbone: str, args: dict[str, Any], dynamic: dict[str, Any],
         wide: dict[str, Any]) -> dict[str, Any]:
    from bnas.architecture import Architecture

    return {
        "static": Architecture.uniform(backbone, "static", **args),
        "dynamic": Architecture.uniform(backbone, dynamic, **args),
        "static_wide": Architecture.uniform(backbone, "static", **args, **wide["args"]),
        "dynamic_const": Architecture.uniform(backbone, {**dynamic, "pool": "constant"}, **args),
    }


def plan(exp: Experiment) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The training jobs (seed-major, so any stretch of the run mixes every kind) and the
    width matches of the static_wide arms."""
    config, scale = exp.config, exp.scale
    exp.seeds = list(range(scale.count(int(config.get("seeds", 5)), minimum=2)))
    train = dict(config.get("train") or {})
    train["epochs"] = scale.count(int(train.get("epochs", 8)))
    dynamic = {"kind": "dynamic", **(config.get("dynamic") or {})}
    widths = {"min": 1.0, "max": 2.0, "step": 0.01, **(config.get("widen") or {})}
    chosen = [a for a in config.get("arms", ARMS) if a in ARMS]
    matches, cells = [], []
    for label, spec in config["datasets"].items():
        data = data_config(spec, scale)
        for backbone, backbone_args in config["backbones"].items():
            args = fitted_args(dict(backbone_args or {}), data)
            from bnas.architecture import Architecture

            target = param_count(Architecture.uniform(backbone, dynamic, **args))
            wide = match_width(backbone, args, target, widths)
            matches.append({"dataset": label, "backbone": backbone, **wide})
            cells.append((label, backbone, data, arms(backbone, args, dynamic, wide), wide))
    jobs = []
    for seed in exp.seeds:
        for label, backbone, data, archs, wide in cells:
            for arm in chosen:
                jobs.append({
                    "dataset": label, "backbone": backbone, "arm": arm, "seed": seed,
                    "width": wide["width"] if arm == "static_wide" else 1.0,
                    "arch": archs[arm].to_dict(),
                    "config": {**train, "data": data, "seed": seed, "threads": 1,
                               "eval_test": True, "device": "cpu"},
                })
    exp.meta.update(train=train, dynamic=dynamic, width_matches=matches, config_widen=widths,
                    data={label: data_config(spec, scale)
                          for label, spec in config["datasets"].items()})
    return jobs, matches


def summarize(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per arm: mean ± sd; per comparison: paired differences and tests (by seed)."""
    cells = list(dict.fromkeys((r["dataset"], r["backbone"]) for r in rows))  # config order
    arm_rows, comparisons = [], []
    for dataset, backbone in cells:
        by_arm: dict[str, dict[int, dict[str, Any]]] = {}
        for row in rows:
            if (row["dataset"], row["backbone"]) == (dataset, backbone) and row.get(
                    "test_top1") is not None:
                by_arm.setdefault(row["arm"], {})[row["seed"]] = row
        for arm, runs in by_arm.items():
            first = next(iter(runs.values()))
            mean, sd = mean_sd([r["test_top1"] for r in runs.values()])
            arm_rows.append({"dataset": dataset, "backbone": backbone, "arm": arm,
                             "n": len(runs), "test_top1_mean": mean, "test_top1_sd": sd,
                             "params": first["params"], "size_mib": first["size_mib"],
                             "ops": first["ops"], "width": first["width"],
                             "arch": first["arch_summary"]})
        for base, other in COMPARISONS:
            if base not in by_arm or other not in by_arm:
                continue
            seeds = sorted(set(by_arm[base]) & set(by_arm[other]))
            a = [by_arm[base][s]["test_top1"] for s in seeds]
            b = [by_arm[other][s]["test_top1"] for s in seeds]
            stats = compare(a, b)
            comparisons.append({"dataset": dataset, "backbone": backbone,
                                "comparison": f"{other} − {base}", **stats,
                                "wins": sum(y > x for x, y in zip(a, b)), "seeds": seeds})
    return arm_rows, comparisons


def plot(rows: list[dict[str, Any]], arm_rows: list[dict[str, Any]], path: Any) -> None:
    """Per dataset (rows) and backbone (columns): per-seed dots joined across arms by seed,
    mean ± sd per arm."""
    plt = pyplot()
    datasets = list(dict.fromkeys(r["dataset"] for r in arm_rows))
    backbones = list(dict.fromkeys(r["backbone"] for r in arm_rows))
    fig, axes = plt.subplots(len(datasets), len(backbones), squeeze=False,
                             figsize=(4.2 * len(backbones), 3.4 * len(datasets)))
    for i, dataset in enumerate(datasets):
        for j, backbone in enumerate(backbones):
            ax = axes[i][j]
            cell = [r for r in rows if (r["dataset"], r["backbone"]) == (dataset, backbone)
                    and r.get("test_top1") is not None]
            present = [a for a in ARMS if any(r["arm"] == a for r in cell)]
            for seed in sorted({r["seed"] for r in cell}):
                points = [(present.index(r["arm"]), 100 * r["test_top1"]) for r in cell
                          if r["seed"] == seed]
                points.sort()
                ax.plot(*zip(*points), color="0.75", lw=0.8, zorder=1)
                ax.scatter(*zip(*points), s=14, color="0.45", zorder=2)
            for k, arm in enumerate(present):
                stats = next(r for r in arm_rows if (r["dataset"], r["backbone"], r["arm"])
                             == (dataset, backbone, arm))
                ax.errorbar(k + 0.18, 100 * stats["test_top1_mean"],
                            yerr=100 * (stats["test_top1_sd"] or 0), fmt="o",
                            color="C3" if arm.startswith("dynamic") else "C0", capsize=4,
                            zorder=3)
            ax.set_xticks(range(len(present)), [a.replace("_", "\n") for a in present],
                          fontsize=8)
            ax.set_title(f"{backbone} · {dataset}", fontsize=10)
            if j == 0:
                ax.set_ylabel("test top-1 (%)")
            ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Static vs dynamic thresholds: per-seed runs (gray, joined by seed), "
                 "mean ± sd", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(exp: Experiment, rows: list[dict[str, Any]], arm_rows: list[dict[str, Any]],
           comparisons: list[dict[str, Any]], matches: list[dict[str, Any]]) -> str:
    train, meta = exp.meta["train"], exp.meta
    data_lines = []
    for label, data in meta["data"].items():
        size = f", {data['img_size']}×{data['img_size']}" if data.get("img_size") else ""
        data_lines.append(f"`{label}` ({data['name']}, {data.get('subset')} training images "
                          f"per class before a {data.get('val_fraction', 0.1):g} val split{size})")
    lines = [
        "Same backbone, same recipe, same seeds; only the thresholds differ. "
        f"Budget per run: {train['epochs']} epochs, batch {train.get('batch_size', 128)}, "
        f"{train.get('optimizer', 'adamw')} lr {train.get('lr', 2e-3):g} "
        f"({train.get('schedule', 'cosine')}), two_step {train.get('two_step', False)}. "
        f"Data: {'; '.join(data_lines)}. Metric: top-1 (%) of the final model on the "
        "dataset's test split, never used for training or selection ("
        + "; ".join(f"`{label}`: {TEST_SPLITS.get(data['name'], 'test split')}"
                    for label, data in meta["data"].items())
        + f"). Dynamic arm: `{meta['dynamic']}` on every site of every block.",
        "",
        "## Accuracy per arm (mean ± sd over seeds)",
        "",
    ]
    by_seed: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        if row.get("test_top1") is not None:
            key = (row["dataset"], row["backbone"], row["arm"])
            by_seed.setdefault(key, []).append(pct(row["test_top1"]))
    table = [{**r, "acc": pm(r["test_top1_mean"], r["test_top1_sd"]),
              "params_k": count(r["params"]), "size": f"{r['size_mib']:.3f}",
              "ops_f": count(r["ops"]), "width_f": f"{r['width']:g}",
              "per_seed": " ".join(by_seed[(r["dataset"], r["backbone"], r["arm"])])}
             for r in arm_rows]
    lines.append(markdown_table(table, {
        "dataset": "dataset", "backbone": "backbone", "arm": "arm", "width_f": "width",
        "params_k": "params", "size": "size MiB", "ops_f": "OPs", "n": "n",
        "acc": "test top-1 %", "per_seed": "per seed (seed 0, 1, …)"}))
    lines += ["## Paired differences (by seed)", "",
              "Δ = other − base in percentage points, paired by seed; t CI: 95 % CI of the "
              "mean paired difference from the paired t distribution; bootstrap CI: 95 % "
              "percentile bootstrap of the same mean (10,000 resamples; optimistic with 5 "
              "seeds); p (paired): paired t-test; p (Welch): "
              "scipy.stats.ttest_ind(equal_var=False); wins: seeds where other > base.", ""]
    lines.append(markdown_table(comparison_rows(comparisons), COMPARISON_COLUMNS))
    lines += ["## Parameter-matched control (static_wide)", "",
              "The static network's `width` was searched over "
              f"{exp.meta['config_widen']} for the parameter count closest to the dynamic "
              "network's.", ""]
    table = [{**m, "s": count(m["static_params"]), "t": count(m["target"]),
              "p": count(m["params"]), "g": f"{100 * (m['params'] / m['target'] - 1):+.1f} %"}
             for m in matches]
    lines.append(markdown_table(table, {
        "dataset": "dataset", "backbone": "backbone", "s": "static params",
        "t": "dynamic params", "width": "chosen width", "p": "widened params",
        "g": "widened vs dynamic"}))
    lines += ["## Reading", ""]
    for c in comparisons:
        base = c["comparison"].split(" − ")[1]
        lines.append(f"- {c['backbone']} on {c['dataset']}: {c['comparison']} = "
                     f"{100 * c['mean_diff']:+.2f} pt (t CI [{100 * c['t_low']:+.2f}, "
                     f"{100 * c['t_high']:+.2f}], paired p {pvalue(c['p_paired'])}, "
                     f"{c['wins']}/{c['n']} seeds): {verdict(c, 'dynamic', base)}"
                     + (f". Paper: {PAPER.get(c['backbone'], '-')}." if base == "static"
                        else "."))
    lines += ["", f"![per-seed accuracy]({NAME}.png)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    exp = Experiment.start(NAME, argv, __doc__)
    jobs, matches = plan(exp)
    tolerance = float((exp.config.get("widen") or {}).get("tolerance", 0.05))
    for m in matches:
        if m["gap"] > tolerance:
            exp.notes.append(
                f"{m['backbone']} on {m['dataset']}: no width gives a static network within "
                f"{100 * tolerance:g} % of the dynamic one's {m['target']:,} parameters; the "
                f"closest, width {m['width']:g}, has {m['params']:,} "
                f"({100 * (m['params'] / m['target'] - 1):+.1f} %): the smallest widening "
                "that changes the network already overshoots, so static_wide is a slightly "
                "more generous control than a matched one.")
        print(f"  {m['backbone']} on {m['dataset']}: static_wide width {m['width']:g} → "
              f"{m['params']:,} params (dynamic {m['target']:,}, static "
              f"{m['static_params']:,})", flush=True)
    print(f"{len(jobs)} training runs, seeds {exp.seeds}", flush=True)
    rows = run_training(
        jobs, exp.workers,
        lambda j: f"{j['dataset']:<16} {j['backbone']:<10} {j['arm']:<13} seed {j['seed']}")
    rows = [{k: v for k, v in r.items() if k not in ("arch", "config")} for r in rows]
    arm_rows, comparisons = summarize(rows)
    plot(rows, arm_rows, exp.out / f"{NAME}.png")
    write_csv(exp.out / "comparisons.csv", comparisons)
    body = report(exp, rows, arm_rows, comparisons, matches)
    return exp.finish(TITLE, body, rows, arm_rows)


if __name__ == "__main__":
    main(sys.argv[1:])
