"""One-shot search vs multi-trial search: rank agreement of the supernet, cost, and its winner.

Per dataset (the config's ``datasets``, each the ``data:`` of the config's one-shot ``space``):

0. **One-shot search** (``bnas.search.run_search``, ``strategy: oneshot``): a supernet trains
   once, ``evaluate.candidates`` candidates are scored with its weights, the best
   (``top_k: 1``) retrains stand-alone. Its cost B (candidate-epochs: supernet + scoring, the
   latter counted as forward-and-backward passes, an upper bound, + retraining the winner)
   and wall time come from its run record.
a. **Rank agreement**: ``candidates`` architectures spread over the space, in this order (a
   smaller scale keeps the first ones): all-static; all-dynamic at the smallest and the
   largest reduction ratio; dynamic on one site only (conv3x3 at the largest ratio, conv1x1
   at the smallest); all-dynamic at the other ratios; the remaining one-site variants; then
   random candidates of the space (seeded). Each is scored with the search's supernet
   (inherited weights, BatchNorm recalibrated: :class:`bnas.supernet.scoring.CandidateScorer`)
   and trained stand-alone with ``seeds`` seeds (test top-1 of the final model). Reported:
   Kendall's τ (with p) between the supernet score and the stand-alone mean, and its noise
   ceiling: τ between the means of two disjoint halves of the seeds
   (:func:`experiments.common.noise_ceiling`).
b. **Cost**: B and the one-shot wall time next to the multi-trial search of
   ``search_vs_fixed`` (its committed results: trial-epochs and search wall time), each also
   in units of one stand-alone training of the space's largest candidate (epochs: ``train.
   epochs``; wall: the mean time of its stand-alone runs in (a), and for the multi-trial
   search its own all-dynamic runs). Target: B ≤ 3 trainings.
c. **The winner**: the one-shot winner retrained with ``final_seeds`` seeds for
   ``train.epochs`` epochs, against all-static and all-dynamic trained with the same total
   budget, E' = E + round(B / K) epochs each (K seeds: K·E' ≈ B + K·E, what the one-shot route
   spends in all), as in ``search_vs_fixed``. Test top-1, size, and whether the winner is on
   the (mean test top-1, size) front of the three.

    python -m experiments.oneshot_vs_multitrial          # ≤ 45 min on 2 cores
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from experiments.common import (
    COMPARISON_COLUMNS,
    CONFIGS,
    Experiment,
    build_space,
    comparison_line,
    comparison_rows,
    flow,
    kendall_tau,
    local_ray,
    markdown_table,
    mean_sd,
    noise_ceiling,
    pct,
    pm,
    pvalue,
    pyplot,
    run_one_search,
    run_training,
    write_csv,
)
from experiments.common.frame import RESULTS, load_config, relative_paths
from experiments.dysign_vs_rsign import data_config, fitted_args
from experiments.search_vs_fixed import retrain_jobs
from experiments.search_vs_fixed import summarize as summarize_arms

NAME = "oneshot_vs_multitrial"
TITLE = "One-shot search vs multi-trial search: rank agreement, cost and the winner"
ARMS = ("searched", "static_long", "dynamic_long")  # (c); "searched" = the one-shot winner
TAU_TARGET, CEILING_SHARE, COST_TARGET = 0.5, 0.8, 3.0


# -- configuration ------------------------------------------------------------------------------


def dataset_sections(config: dict[str, Any], exp: Experiment) -> dict[str, dict[str, Any]]:
    """label → the space's ``data:`` (``from: EXPERIMENT`` resolved, root resolved, subset
    scaled)."""
    out = {}
    for label, spec in config["datasets"].items():
        spec = dict(spec)
        source = spec.pop("from", None)
        if source is not None:
            spec = {**load_config(CONFIGS / f"{source}.yaml")["datasets"][label], **spec}
        out[label] = data_config(spec, exp.scale)
    return out


def scaled_sections(config: dict[str, Any], data: dict[str, Any], exp: Experiment
                    ) -> dict[str, Any]:
    """The one-shot space's sections for one dataset (the backbone fitted to it), epochs and
    candidates scaled."""
    sections = json.loads(json.dumps(config["space"]))  # a deep copy of plain data
    scale = exp.scale
    sections["data"] = data
    backbone = sections["backbone"]
    args = fitted_args({k: v for k, v in backbone.items() if k != "name"}, data)
    backbone["num_classes"] = args["num_classes"]  # an image folder has as many as folders
    train, search = sections.setdefault("train", {}), sections["search"]
    train["epochs"] = scale.count(int(train.get("epochs", 8)))
    supernet, evaluate = search.setdefault("supernet", {}), search.setdefault("evaluate", {})
    supernet["epochs"] = scale.count(int(supernet.get("epochs", train["epochs"])))
    evaluate["candidates"] = scale.count(int(evaluate.get("candidates", 500)), minimum=4)
    return sections


def spread(space: Any, count: int) -> list[tuple[str, Any]]:
    """``count`` (label, Architecture) pairs spread over ``space`` (module docstring, a)."""
    from bnas.architecture import Architecture
    from bnas.backbones import backbone_info
    from bnas.space.blocks import SITE_JOIN
    from bnas.supernet import CandidateSampler

    block = space.blocks[-1]
    ratios = sorted(block.rd_ratio)
    sites = [s for s in block.sites if SITE_JOIN not in s]  # the one-site choices
    both = max(block.sites, key=lambda s: s.count(SITE_JOIN))
    args = dict(space.backbone.args)
    backbone_sites = backbone_info(space.backbone.name).sites

    def uniform(ratio: int, where: str) -> Architecture:
        threshold = {"kind": "dynamic", "rd_ratio": ratio}
        blocks = [{site: threshold if site in where.split(SITE_JOIN) else "static"
                   for site in backbone_sites} for _ in space.blocks]
        return Architecture.from_dict({"backbone": space.backbone.name, "args": args,
                                       "blocks": blocks})

    low, high = ratios[0], ratios[-1]
    named = [("all-static", Architecture.uniform(space.backbone.name, "static", **args)),
             (f"all-dynamic r={low}", uniform(low, both)),
             (f"all-dynamic r={high}", uniform(high, both))]
    if sites:
        named += [(f"{sites[0]} only r={high}", uniform(high, sites[0])),
                  (f"{sites[-1]} only r={low}", uniform(low, sites[-1]))]
    named += [(f"all-dynamic r={r}", uniform(r, both)) for r in ratios[1:-1]]
    if sites:
        named += [(f"{sites[-1]} only r={high}", uniform(high, sites[-1])),
                  (f"{sites[0]} only r={low}", uniform(low, sites[0]))]
    seen = {arch.arch_id for _, arch in named}
    sampler, rng = CandidateSampler(space, seed=0), random.Random(0)
    for _ in range(1000):  # random candidates until the count is reached
        if len(named) >= count:
            break
        arch = sampler.random(rng)
        if arch.arch_id not in seen:
            seen.add(arch.arch_id)
            named.append((f"random {len(named)}", arch))
    for _, arch in named:
        space.params_of(arch)  # every one is a candidate of the space
    return named[:count]


# -- one dataset --------------------------------------------------------------------------------


def train_config(space: Any, seed: int, epochs: int | None = None) -> dict[str, Any]:
    """The space's recipe (sampled settings at their central value) for one stand-alone run."""
    settings = space.train_settings(space.train.central_params())
    return {**settings, "epochs": epochs or settings["epochs"], "seed": seed, "threads": 1,
            "eval_test": True, "device": "cpu"}


def supernet_scores(space: Any, run_dir: Path, archs: list[Any]) -> list[dict[str, float]]:
    """Each architecture's scores with the run's supernet (as its candidate search scores)."""
    import torch

    from bnas.files import SEED_DIR_PREFIX
    from bnas.run_record import RunRecord
    from bnas.supernet.scoring import CandidateScorer

    torch.set_num_threads(1)
    record = RunRecord.load(run_dir).oneshot
    checkpoint = run_dir / record.supernet_checkpoint
    scorer = CandidateScorer.from_checkpoints(
        space, [checkpoint / f"{SEED_DIR_PREFIX}{i}" for i in range(record.seeds)])
    return scorer.score_many(archs)


def oneshot_search(exp: Experiment, label: str, sections: dict[str, Any], count: int
                   ) -> dict[str, Any]:
    """Part 0 and the supernet side of (a): the search, and the spread's supernet scores."""
    space = build_space(sections, f"{NAME}-{label}")
    with tempfile.TemporaryDirectory(prefix="bnas-exp-") as storage:
        search = run_one_search(space, Path(storage))
        run_dir = Path(storage) / space.name
        named = spread(space, count)
        scores = supernet_scores(space, run_dir, [arch for _, arch in named])
        shutil.copyfile(run_dir / "candidates.csv", exp.out / f"{label}_candidates.csv")
        record = relative_paths(json.loads((run_dir / "summary.json").read_text()))
        (exp.out / f"{label}_summary.json").write_text(json.dumps(record, indent=2) + "\n")
    summary = search["summary"]
    if summary.get("best") is None:
        raise SystemExit(f"{NAME}: the one-shot search on {label} retrained no candidate")
    return {"space": space, "summary": summary, "wall_seconds": search["wall_seconds"],
            "spread": [{"dataset": label, "candidate": name, "arch": arch,
                        "supernet_val_top1": score["val_top1"]}
                       for (name, arch), score in zip(named, scores)]}


def agreement(label: str, spread_rows: list[dict[str, Any]], rows: list[dict[str, Any]],
              seeds: list[int]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per candidate its supernet score and stand-alone mean; τ, p and the noise ceiling."""
    by_candidate: dict[str, dict[int, float]] = {}
    for row in rows:
        if row.get("part") == "a" and row["dataset"] == label and row.get("test_top1") is not None:
            by_candidate.setdefault(row["candidate"], {})[row["seed"]] = row["test_top1"]
    table = []
    for entry in spread_rows:
        runs = by_candidate.get(entry["candidate"], {})
        mean, sd = mean_sd([runs[s] for s in seeds if s in runs])
        table.append({"dataset": label, "candidate": entry["candidate"],
                      "arch": entry["arch"].summary(),
                      "supernet_val_top1": entry["supernet_val_top1"],
                      "standalone_test_mean": mean, "standalone_test_sd": sd,
                      "seeds": len(runs), "per_seed": [runs.get(s) for s in seeds]})
    complete = [t for t in table if t["seeds"] == len(seeds)]
    tau = kendall_tau([t["supernet_val_top1"] for t in complete],
                      [t["standalone_test_mean"] for t in complete])
    ceiling = noise_ceiling([t["per_seed"] for t in complete]) if len(seeds) >= 2 else {
        "tau": float("nan"), "p": float("nan"), "n": 0, "seeds_per_set": 0}
    return table, {"tau": tau, "ceiling": ceiling}


def costs(label: str, search: dict[str, Any], rows: list[dict[str, Any]], largest: str,
          epochs: int, multitrial: dict[str, Any] | None) -> list[dict[str, Any]]:
    """(b): the one-shot route's phases and total, and the multi-trial search, each in
    candidate-epochs, wall seconds and units of one stand-alone training."""
    oneshot = search["summary"]["oneshot"]
    runs = [r["seconds"] for r in rows if r.get("part") == "a" and r["dataset"] == label
            and r["candidate"] == largest and r.get("seconds")]
    one_training = mean_sd(runs)[0] if runs else float("nan")
    out = []
    for phase, cost in oneshot["phases"].items():
        out.append({"dataset": label, "route": "one-shot", "part": phase,
                    "candidate_epochs": cost["candidate_epochs"], "seconds": cost["seconds"]})
    total_epochs = sum(p["candidate_epochs"] for p in oneshot["phases"].values())
    out.append({"dataset": label, "route": "one-shot", "part": "total",
                "candidate_epochs": total_epochs, "seconds": search["wall_seconds"]})
    for row in out:
        row["trainings_by_epochs"] = row["candidate_epochs"] / epochs
        row["trainings_by_wall"] = row["seconds"] / one_training
    if multitrial is not None and multitrial["dataset"] == label:
        out.append({"dataset": label, "route": "multi-trial (search_vs_fixed)", "part": "total",
                    "candidate_epochs": multitrial["trial_epochs"],
                    "seconds": multitrial["wall_seconds"],
                    "trainings_by_epochs": multitrial["trial_epochs"] / multitrial["epochs"],
                    "trainings_by_wall": multitrial["wall_seconds"]
                    / multitrial["one_training_seconds"]})
    return out


def multitrial_reference(name: str) -> dict[str, Any] | None:
    """The committed results of the multi-trial experiment ``name`` (None if absent)."""
    folder = RESULTS / name
    if not (folder / "meta.json").is_file():
        return None
    import csv

    meta = json.loads((folder / "meta.json").read_text())
    with (folder / "results.csv").open() as handle:
        dynamic = [float(r["seconds"]) for r in csv.DictReader(handle)
                   if r["arm"] == "dynamic" and r["seconds"]]
    data = meta["space"]["data"]
    return {"experiment": name, "dataset": data["name"], "data": data,
            "trial_epochs": meta["search"]["trial_epochs"],
            "wall_seconds": meta["search"]["wall_seconds"], "trials": meta["search"]["trials"],
            "epochs": meta["epochs"]["searched"], "commit": meta["code"]["commit"],
            "one_training_seconds": mean_sd(dynamic)[0] if dynamic else float("nan")}


# -- the whole experiment -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bnas.architecture import Architecture

    exp = Experiment.start(NAME, argv, __doc__)
    config, scale = exp.config, exp.scale
    seeds = list(range(scale.count(int(config.get("seeds", 4)), minimum=2)))
    final_seeds = list(range(scale.count(int(config.get("final_seeds", 5)), minimum=2)))
    exp.seeds = sorted(set(seeds) | set(final_seeds))
    count = scale.count(int(config.get("candidates", 12)), minimum=4)
    datasets = dataset_sections(config, exp)
    multitrial = multitrial_reference(config.get("multitrial", "search_vs_fixed"))

    sections = {label: scaled_sections(config, data, exp) for label, data in datasets.items()}
    for label, section in sections.items():  # every space valid before any search runs
        build_space(section, f"{NAME}-{label}")
    searches: dict[str, dict[str, Any]] = {}
    with local_ray():  # one cluster for every dataset's search
        for label, section in sections.items():
            print(f"\n== {label}: one-shot search ({flow(section['data'])})", flush=True)
            searches[label] = oneshot_search(exp, label, section, count)

    jobs, arm_epochs, budgets = [], {}, {}
    dynamic = {"kind": "dynamic", **(config.get("dynamic") or {})}
    for label, search in searches.items():
        space, summary = search["space"], search["summary"]
        epochs = space.epochs
        for entry in search["spread"]:
            for seed in seeds:
                jobs.append({"part": "a", "dataset": label, "candidate": entry["candidate"],
                             "arm": entry["candidate"], "seed": seed,
                             "arch": entry["arch"].to_dict(),
                             "config": train_config(space, seed)})
        oneshot = summary["oneshot"]
        budget = round(sum(p["candidate_epochs"] for p in oneshot["phases"].values()))
        budgets[label] = budget
        long_epochs = epochs + round(budget / len(final_seeds))
        arm_epochs[label] = {"searched": epochs, "static_long": long_epochs,
                             "dynamic_long": long_epochs}
        args = dict(space.backbone.args)
        archs = {"searched": Architecture.from_dict(summary["best"]["arch"]),
                 "static_long": Architecture.uniform(space.backbone.name, "static", **args),
                 "dynamic_long": Architecture.uniform(space.backbone.name, dynamic, **args)}
        jobs += [{**job, "part": "c", "dataset": label, "candidate": job["arm"]}
                 for job in retrain_jobs(final_seeds, archs, train_config(space, 0),
                                         arm_epochs[label])]
    print(f"\n== stand-alone training: {len(jobs)} runs", flush=True)
    rows = run_training(jobs, exp.workers,
                        lambda j: f"{j['dataset']:<16} {j['part']} {j['candidate']:<22} "
                                  f"seed {j['seed']}")
    for row in rows:
        row.pop("config", None)

    agreements, candidate_rows, cost_rows, arm_tables, comparisons = {}, [], [], {}, []
    for label, search in searches.items():
        space = search["space"]
        table, agree = agreement(label, search["spread"], rows, seeds)
        candidate_rows += table
        agreements[label] = agree
        largest = search["spread"][1]["candidate"]  # all-dynamic at the smallest ratio
        cost_rows += costs(label, search, rows, largest, space.epochs, multitrial)
        arm_rows, compared = summarize_arms([r for r in rows if r["part"] == "c"
                                             and r["dataset"] == label], arm_epochs[label],
                                            cost="size_mib")
        arm_tables[label] = arm_rows
        comparisons += [{**c, "dataset": label} for c in compared]
    write_csv(exp.out / "candidates.csv", [{k: v for k, v in r.items() if k != "per_seed"}
                                           for r in candidate_rows])
    write_csv(exp.out / "costs.csv", cost_rows)
    write_csv(exp.out / "comparisons.csv", comparisons)
    plot(searches, candidate_rows, agreements, arm_tables, rows, exp.out / f"{NAME}.png")
    summary_rows = [{
        "dataset": label, "tau": a["tau"]["tau"], "tau_p": a["tau"]["p"], "n": a["tau"]["n"],
        "ceiling_tau": a["ceiling"]["tau"], "ceiling_p": a["ceiling"]["p"],
        "oneshot_candidate_epochs": next(c["candidate_epochs"] for c in cost_rows
                                         if c["dataset"] == label and c["part"] == "total"),
        "oneshot_seconds": searches[label]["wall_seconds"],
        "winner": searches[label]["summary"]["best"]["arch_summary"],
    } for label, a in agreements.items()]
    exp.meta.update(seeds_agreement=seeds, seeds_final=final_seeds, budgets=budgets,
                    epochs=arm_epochs, multitrial=multitrial,
                    searches={label: {"winner": s["summary"]["best"]["arch_summary"],
                                      "oneshot": s["summary"]["oneshot"],
                                      "wall_seconds": round(s["wall_seconds"], 1)}
                              for label, s in searches.items()},
                    data=datasets)
    body = report(exp, config, searches, candidate_rows, agreements, cost_rows, arm_tables,
                  comparisons, arm_epochs, multitrial)
    return exp.finish(TITLE, body, rows, summary_rows)


def plot(searches: dict[str, Any], candidate_rows: list[dict[str, Any]],
         agreements: dict[str, Any], arm_tables: dict[str, list], rows: list[dict[str, Any]],
         path: Path) -> None:
    """Per dataset: (a) supernet score vs stand-alone test top-1 (mean ± sd over seeds);
    (c) the winner and the fixed arms, per seed (gray, joined) and mean ± sd."""
    plt = pyplot()
    labels = list(searches)
    fig, axes = plt.subplots(len(labels), 2, figsize=(11, 4.2 * len(labels)), squeeze=False)
    for (left, right), label in zip(axes, labels):
        table = [r for r in candidate_rows if r["dataset"] == label
                 and r["standalone_test_mean"] == r["standalone_test_mean"]]
        left.errorbar([100 * r["supernet_val_top1"] for r in table],
                      [100 * r["standalone_test_mean"] for r in table],
                      yerr=[100 * (r["standalone_test_sd"] or 0) for r in table], fmt="o",
                      capsize=3, color="C0")
        for r in table:
            left.annotate(r["candidate"], (100 * r["supernet_val_top1"],
                                           100 * r["standalone_test_mean"]),
                          fontsize=6, xytext=(3, 3), textcoords="offset points")
        tau, ceiling = agreements[label]["tau"], agreements[label]["ceiling"]
        left.set_title(f"{label}: Kendall τ {tau['tau']:+.2f} (p {pvalue(tau['p'])}), "
                       f"ceiling {ceiling['tau']:+.2f}", fontsize=10)
        left.set_xlabel("val top-1 with inherited supernet weights (%)")
        left.set_ylabel("stand-alone test top-1, mean ± sd (%)")
        arm_rows = arm_tables[label]
        arms = [r["arm"] for r in arm_rows]
        for seed in sorted({r["seed"] for r in rows if r["part"] == "c"}):
            points = sorted((arms.index(r["arm"]), 100 * r["test_top1"]) for r in rows
                            if r["part"] == "c" and r["dataset"] == label
                            and r["seed"] == seed and r.get("test_top1") is not None)
            if points:
                right.plot(*zip(*points), color="0.75", lw=0.8, marker=".", ms=6, zorder=1)
        for k, row in enumerate(arm_rows):
            right.errorbar([k + 0.15], [100 * row["test_top1_mean"]],
                           yerr=[100 * (row["test_top1_sd"] or 0)], capsize=4, fmt="o",
                           color="C3" if row["arm"] == "searched" else "C0", zorder=3)
        right.set_xticks(range(len(arm_rows)), [
            f"{'one-shot winner' if r['arm'] == 'searched' else r['arm']}\n{r['epochs']} ep · "
            f"{r['size_mib']:.3f} MiB" for r in arm_rows], fontsize=7)
        right.set_ylabel("test top-1 (%)")
        right.set_title(f"{label}: the winner vs fixed arms at equal total budget", fontsize=10)
        for ax in (left, right):
            ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def data_shown(space: Any) -> dict[str, Any]:
    """A space's ``data:`` as results.md shows it (no folder of this machine)."""
    return relative_paths(space.data.model_dump(exclude_none=True))


def report(exp: Experiment, config: dict[str, Any], searches: dict[str, Any],
           candidate_rows: list[dict[str, Any]], agreements: dict[str, Any],
           cost_rows: list[dict[str, Any]], arm_tables: dict[str, list],
           comparisons: list[dict[str, Any]], arm_epochs: dict[str, dict[str, int]],
           multitrial: dict[str, Any] | None) -> str:
    space_sections = config["space"]
    first = next(iter(searches.values()))["space"]
    search = first.search
    lines = [
        f"**Space.** `{flow(space_sections['backbone'])}`; per block "
        f"`{flow(space_sections['space']['blocks'])}`; {first.size():,} architectures. Train "
        f"`{flow(first.train.to_data())}`. One-shot: supernet {search.supernet.epochs} epochs "
        f"({search.supernet.sampling}, {search.supernet.candidates_per_step} candidate per "
        f"step), {search.evaluate.candidates} candidates proposed by {search.algorithm} and "
        f"scored with BatchNorm re-estimated on {search.evaluate.bn_batches} training "
        f"batches, the best retrained. Data per dataset: "
        + "; ".join(f"{label} `{flow(data_shown(s['space']))}`"
                    for label, s in searches.items()) + ".",
        "",
        "## (a) Rank agreement: supernet score vs stand-alone accuracy",
        "",
        f"Stand-alone: test top-1 of the final model, mean over seeds "
        f"{exp.meta['seeds_agreement']}; noise ceiling: Kendall's τ between the means of two "
        "disjoint halves of those seeds (what stand-alone training agrees with itself at that "
        "many seeds).",
        "",
    ]
    summary = []
    for label, agree in agreements.items():
        tau, ceiling = agree["tau"], agree["ceiling"]
        met = tau["tau"] >= TAU_TARGET or (ceiling["tau"] > 0
                                           and tau["tau"] >= CEILING_SHARE * ceiling["tau"])
        summary.append({"dataset": label, "n": tau["n"], "tau": f"{tau['tau']:+.3f}",
                        "p": pvalue(tau["p"]), "ceiling": f"{ceiling['tau']:+.3f}",
                        "cp": pvalue(ceiling["p"]),
                        "met": "yes" if met else "no"})
    lines.append(markdown_table(summary, {
        "dataset": "dataset", "n": "candidates", "tau": "Kendall τ", "p": "p",
        "ceiling": "noise ceiling τ", "cp": "p (ceiling)",
        "met": f"τ ≥ {TAU_TARGET} or ≥ {CEILING_SHARE} × ceiling"}))
    table = [{**r, "sn": pct(r["supernet_val_top1"]),
              "sa": pm(r["standalone_test_mean"], r["standalone_test_sd"])}
             for r in candidate_rows]
    lines += ["", markdown_table(table, {"dataset": "dataset", "candidate": "candidate",
                                         "arch": "architecture", "sn": "supernet val top-1 %",
                                         "sa": "stand-alone test top-1 %", "seeds": "seeds"}),
              "", "## (b) Cost", "",
              "One candidate-epoch = one candidate's forward and backward pass over the "
              "training data. Scoring runs forward passes only and is counted as if they were "
              "forward and backward passes (an upper bound). Trainings: the cost divided by "
              "one stand-alone training of the largest candidate (all-dynamic at the smallest "
              "ratio), by epochs and by wall time (its mean run time in (a), 2 runs at a "
              "time).", ""]
    cost_table = [{**c, "ce": f"{c['candidate_epochs']:.1f}", "s": f"{c['seconds']:.0f}",
                   "te": f"{c['trainings_by_epochs']:.2f}",
                   "tw": f"{c['trainings_by_wall']:.2f}"} for c in cost_rows]
    lines.append(markdown_table(cost_table, {
        "dataset": "dataset", "route": "route", "part": "phase", "ce": "candidate-epochs",
        "s": "wall s", "te": "trainings (epochs)", "tw": "trainings (wall)"}))
    if multitrial is not None:
        lines.append(
            f"\nMulti-trial: `experiments.{multitrial['experiment']}` (committed results, "
            f"commit {multitrial['commit']}): {multitrial['trials']} trials with ASHA on "
            f"`{flow(multitrial['data'])}`; its wall time is its search alone. Its data subset "
            "may differ from this experiment's, so compare the trainings columns.")
    else:
        lines.append("\nNo committed results of the multi-trial experiment to compare with.")
    lines += ["", "## (c) The one-shot winner vs fixed networks at equal total budget", ""]
    for label, arm_rows in arm_tables.items():
        epochs = arm_epochs[label]
        lines += [f"**{label}**: winner `{searches[label]['summary']['best']['arch_summary']}` "
                  f"retrained {epochs['searched']} epochs per seed; the fixed arms train "
                  f"E' = {epochs['static_long']} epochs (the one-shot budget B = "
                  f"{exp.meta['budgets'][label]} candidate-epochs spread over the seeds).", ""]
        table = [{**r, "label": "one-shot winner" if r["arm"] == "searched" else r["arm"],
                  "acc": pm(r["test_top1_mean"], r["test_top1_sd"]),
                  "size": f"{r['size_mib']:.4f}",
                  "front": "yes" if r["on_front_all"] else "no"} for r in arm_rows]
        lines += [markdown_table(table, {"label": "arm", "arch": "architecture",
                                         "epochs": "epochs", "n": "seeds",
                                         "acc": "test top-1 %", "size": "size MiB",
                                         "front": "on (accuracy, size) front"}), ""]
    columns = {k: v for k, v in COMPARISON_COLUMNS.items() if k != "backbone"}
    lines += [markdown_table(comparison_rows(comparisons), columns), "", "## Reading", ""]
    for label, agree in agreements.items():
        tau, ceiling = agree["tau"], agree["ceiling"]
        total = next(c for c in cost_rows if c["dataset"] == label and c["part"] == "total")
        lines.append(
            f"- {label}: τ = {tau['tau']:+.2f} (p {pvalue(tau['p'])}, n = {tau['n']}) against "
            f"a noise ceiling of {ceiling['tau']:+.2f}"
            + ("; the ceiling is low, so the stand-alone ranking itself is mostly seed noise "
               "at this scale" if ceiling["tau"] < 0.5 else "")
            + f". One-shot total {total['candidate_epochs']:.1f} candidate-epochs = "
            f"{total['trainings_by_epochs']:.2f} trainings by epochs "
            f"({'within' if total['trainings_by_epochs'] <= COST_TARGET else 'above'} the "
            f"target of {COST_TARGET:g}), {total['trainings_by_wall']:.2f} by wall time.")
    lines += [f"- {c['dataset']}: {comparison_line(c)}" for c in comparisons]
    lines += ["", f"![rank agreement and the winner]({NAME}.png)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
