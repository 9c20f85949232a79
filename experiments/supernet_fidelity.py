"""Does a one-shot supernet say where DySign pays, as stand-alone training does, seed after seed?

Per dataset (the config's ``datasets``) and supernet recipe (the config's ``recipes``: each
overrides the one-shot space's ``search.supernet`` / ``search.evaluate``; ``default: {}`` is
what bnas does without being told):

1. **Stand-alone arms**, ``seeds`` paired seeds each (seed s fixes the data subset, split,
   order and initialisation of every arm): all-static, all-dynamic, and each block alone
   dynamic (both its sites), every dynamic site with the config's ``dynamic`` threshold.
   Test top-1 of the final model. Per block, its stand-alone effect: block alone − all-static,
   paired by seed.
2. **Supernets**: ``supernet.seeds`` supernets per recipe (seeds ``train.seed + i``, the same
   data split), each trained with :func:`bnas.supernet.train_supernet`, then scoring the same
   ``candidates`` fair random candidates of the space and the arms with inherited weights
   (:class:`bnas.supernet.scoring.CandidateScorer`, ``chunk`` candidates at a time, as a
   search's rounds would send them). The candidates are drawn once (per-site coin flips: a
   balanced design for the effects) and are the same for every recipe and seed, so the
   supernets differ only in how they were trained.
3. **Per recipe**: per-site effects (dynamic − static at each site with a 95 % interval over
   the candidates, :func:`bnas.site_effects.site_effects`) under each supernet seed, and on
   how many sites the seeds agree in sign (target ≥ 6 of 8); Kendall's τ between the seeds'
   scores of the candidates; Kendall's τ (p) between the arms' supernet score (mean over
   seeds) and their stand-alone mean test top-1, next to the stand-alone noise ceiling (τ
   between two halves of the seeds); the **winner** (the candidate with the best mean score:
   a random search of ``candidates``) trained stand-alone with ``winner_seeds`` seeds against
   the best arm (target: not worse by more than that arm's seed sd); what it cost (supernet
   training and scoring, CPU seconds of the processes, and wall).

    python -m experiments.supernet_fidelity                         # ≤ 90 min on 2 cores
    python -m experiments.supernet_fidelity --config experiments/configs/supernet_recipes.yaml
    python -m experiments.supernet_fidelity --scale 0.05 --out /tmp/smoke
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from experiments.common import (
    Experiment,
    build_space,
    compare,
    flow,
    kendall_tau,
    markdown_table,
    mean_sd,
    noise_ceiling,
    pct,
    pm,
    pvalue,
    pyplot,
    run_jobs,
    run_training,
    write_csv,
)
from experiments.common.frame import CONFIGS, load_config, relative_paths
from experiments.dysign_vs_rsign import data_config, fitted_args

NAME = "supernet_fidelity"
TITLE = "Supernet fidelity: where DySign pays, by supernet recipe, against stand-alone training"
SIGN_TARGET = 6  # sites (of 8) on which two supernet seeds must agree in sign


# -- configuration ------------------------------------------------------------------------------


def dataset_sections(config: dict[str, Any], exp: Experiment) -> dict[str, dict[str, Any]]:
    """label → the one-shot space's sections for that dataset (backbone fitted to the data,
    the dataset's epochs, subset scaled)."""
    out = {}
    for label, spec in config["datasets"].items():
        sections = json.loads(json.dumps(config["space"]))  # a deep copy of plain data
        data = dict(spec["data"])
        source = data.pop("from", None)  # that experiment config's dataset of this label
        if source is not None:
            data = {**load_config(CONFIGS / f"{source}.yaml")["datasets"][label], **data}
        data = data_config(data, exp.scale)
        sections["data"] = data
        backbone = sections["backbone"]
        args = fitted_args({k: v for k, v in backbone.items() if k != "name"}, data)
        backbone["num_classes"] = args["num_classes"]
        train = sections.setdefault("train", {})
        train["epochs"] = exp.scale.count(int(spec.get("epochs", train.get("epochs", 8))))
        out[label] = sections
    return out


def recipe_sections(sections: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """The space's sections with a recipe's ``supernet`` / ``evaluate`` keys on top;
    ``epochs_factor`` sets ``supernet.epochs`` to that many times ``train.epochs``."""
    out = json.loads(json.dumps(sections))
    search = out.setdefault("search", {})
    for key in ("supernet", "evaluate"):
        search[key] = {**search.get(key, {}), **recipe.get(key, {})}
    if "epochs_factor" in recipe:
        search["supernet"]["epochs"] = max(1, round(recipe["epochs_factor"]
                                                    * out["train"]["epochs"]))
    return out


def arms(space: Any, dynamic: dict[str, Any]) -> dict[str, Any]:
    """label → Architecture: all-static, all-dynamic, each block alone dynamic."""
    from bnas.architecture import Architecture

    args = dict(space.backbone.args)
    threshold = {"kind": "dynamic", **dynamic}

    def placed(dynamic_blocks: set[int]) -> Architecture:
        blocks = [threshold if i in dynamic_blocks else "static" for i in range(len(space.blocks))]
        return Architecture.from_dict({"backbone": space.backbone.name, "args": args,
                                       "blocks": blocks})

    out = {"all-static": placed(set()), "all-dynamic": placed(set(range(len(space.blocks))))}
    out.update({f"block {i} alone": placed({i}) for i in range(len(space.blocks))})
    for arch in out.values():
        space.params_of(arch)  # every arm is a candidate of the space
    return out


def random_candidates(space: Any, count: int, seed: int = 0) -> list[Any]:
    """``count`` distinct fair draws of the space (every site dynamic with probability 1/2)."""
    from bnas.supernet import CandidateSampler

    sampler, rng = CandidateSampler(space, rule="fair", seed=seed), random.Random(seed)
    seen, out = set(), []
    for _ in range(100 * count):
        if len(out) >= count:
            break
        for arch in sampler.fair_pair(rng):
            if arch.arch_id not in seen and len(out) < count:
                seen.add(arch.arch_id)
                out.append(arch)
    return out


# -- jobs in worker processes -------------------------------------------------------------------


def supernet_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one supernet (seed ``seed_index`` of its recipe), then score ``candidates``
    (Architecture dicts) ``chunk`` at a time; scores in order, times (wall and CPU)."""
    import torch

    from bnas.architecture import Architecture
    from bnas.supernet import train_supernet
    from bnas.supernet.scoring import CandidateScorer

    started = time.monotonic()
    keys = {k: v for k, v in job.items() if k not in ("sections", "candidates")}
    space = build_space(job["sections"], job["name"])
    with tempfile.TemporaryDirectory(prefix="bnas-exp-") as scratch:
        cpu = time.process_time()
        result = train_supernet(space, out_dir=scratch, seed_index=job["seed_index"],
                                device="cpu", threads=1)
        train_cpu, train_wall = time.process_time() - cpu, time.monotonic() - started
        torch.set_num_threads(1)
        scorer = CandidateScorer.from_checkpoints(space, [result.checkpoint], device="cpu")
        archs = [Architecture.from_dict(arch) for arch in job["candidates"]]
        cpu, wall = time.process_time(), time.monotonic()
        scores = []
        for first in range(0, len(archs), job["chunk"]):
            scores += scorer.score_many(archs[first:first + job["chunk"]])
        score_cpu, score_wall = time.process_time() - cpu, time.monotonic() - wall
    final = result.final
    return {**keys, "status": "completed", "scores": [s["val_top1"] for s in scores],
            "scored": scorer.scored, "train_cpu": train_cpu, "train_wall": train_wall,
            "score_cpu": score_cpu, "score_wall": score_wall,
            "images_per_candidate": scorer.data.images_per_candidate,
            "candidate_epochs": result.candidate_epochs,
            "val_top1_largest": final.get("val_top1_largest"),
            "val_top1_smallest": final.get("val_top1_smallest"),
            "seconds": round(time.monotonic() - started, 1)}


def _supernet_outcome(result: dict[str, Any]) -> str:
    return (f"largest {pct(result['val_top1_largest'])} smallest "
            f"{pct(result['val_top1_smallest'])}; scored {result['scored']} in "
            f"{result['score_wall']:.0f} s")


def train_config(space: Any, seed: int) -> dict[str, Any]:
    """One stand-alone run: the space's recipe, seed ``seed``, test accuracy."""
    settings = space.train_settings(space.train.central_params())
    return {**settings, "seed": seed, "threads": 1, "eval_test": True, "device": "cpu"}


# -- analysis -----------------------------------------------------------------------------------


def standalone(rows: list[dict[str, Any]], label: str, seeds: list[int]
               ) -> dict[str, dict[str, Any]]:
    """Per arm of ``label``: test top-1 per seed, mean, sd; per block arm its paired effect
    against all-static."""
    runs: dict[str, dict[int, float]] = {}
    for row in rows:
        if row["dataset"] == label and row["part"] == "arm" and row.get("test_top1") is not None:
            runs.setdefault(row["arm"], {})[row["seed"]] = row["test_top1"]
    out = {}
    for arm, by_seed in runs.items():
        values = [by_seed[s] for s in seeds if s in by_seed]
        mean, sd = mean_sd(values)
        out[arm] = {"per_seed": [by_seed.get(s) for s in seeds], "mean": mean, "sd": sd}
    static = runs.get("all-static", {})
    for arm, entry in out.items():
        if arm != "all-static":
            common = [s for s in seeds if s in static and s in runs[arm]]
            entry["effect"] = compare([static[s] for s in common], [runs[arm][s] for s in common])
    return out


def recipe_analysis(label: str, recipe: str, results: list[dict[str, Any]],
                    candidates: list[Any], arm_names: list[str],
                    arms_standalone: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Effects per seed, their agreement, the arms' order against stand-alone training, the
    winner and the cost, for one (dataset, recipe)."""
    from bnas.site_effects import seed_agreement, site_effects

    runs = sorted(results, key=lambda r: r["seed_index"])
    count = len(candidates)
    per_seed = [r["scores"][:count] for r in runs]
    mean_scores = [sum(s) / len(s) for s in zip(*per_seed)]
    agreement = seed_agreement(candidates, per_seed)
    effects = {"mean": site_effects(candidates, mean_scores)}
    for index, scores in enumerate(per_seed):
        effects[f"seed {index}"] = site_effects(candidates, scores)
    arm_scores = {name: [r["scores"][count + k] for r in runs]
                  for k, name in enumerate(arm_names)}
    ordered = [name for name in arm_names if name in arms_standalone]
    supernet_mean = [sum(arm_scores[n]) / len(arm_scores[n]) for n in ordered]
    tau = kendall_tau(supernet_mean, [arms_standalone[n]["mean"] for n in ordered])
    tau_seeds = [kendall_tau([arm_scores[n][i] for n in ordered],
                             [arms_standalone[n]["mean"] for n in ordered])
                 for i in range(len(runs))]
    best = max(range(count), key=lambda i: (mean_scores[i], -i))
    return {
        "dataset": label, "recipe": recipe, "seeds": len(runs), "effects": effects,
        "agreement": agreement, "arm_scores": arm_scores, "tau": tau, "tau_seeds": tau_seeds,
        "winner": candidates[best], "winner_score": mean_scores[best],
        "runs": runs,
    }


# -- the whole experiment -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    exp = Experiment.start(NAME, argv, __doc__)
    config, scale = exp.config, exp.scale
    seeds = list(range(scale.count(int(config.get("seeds", 8)), minimum=2)))
    winner_seeds = seeds[:scale.count(int(config.get("winner_seeds", 4)), minimum=2)]
    exp.seeds = seeds
    count = scale.count(int(config.get("candidates", 300)), minimum=8)
    chunk = int(config.get("chunk", 64))
    sections = dataset_sections(config, exp)
    recipes = config["recipes"]

    spaces, candidates, arm_sets, jobs = {}, {}, {}, []
    for label, base in sections.items():
        space = build_space(base, f"{NAME}-{label}")
        spaces[label] = space
        candidates[label] = random_candidates(space, count)
        arm_sets[label] = arms(space, config.get("dynamic") or {})
        scored = [a.to_dict() for a in candidates[label] + list(arm_sets[label].values())]
        for recipe, overrides in recipes.items():
            recipe_space = build_space(recipe_sections(base, overrides),
                                       f"{NAME}-{label}-{recipe}")  # valid before anything runs
            for index in range(recipe_space.search.supernet.seeds):
                jobs.append({"part": "supernet", "dataset": label, "recipe": recipe,
                             "seed_index": index, "name": f"{NAME}-{label}-{recipe}",
                             "sections": recipe_sections(base, overrides), "chunk": chunk,
                             "candidates": scored})
    # The longest first: a supernet of many candidates per step, then the others.
    jobs.sort(key=lambda j: -spaces[j["dataset"]].epochs * _step_cost(j["sections"]))
    print(f"\n== supernets: {len(jobs)}, each then scoring {count} candidates and the arms",
          flush=True)
    supernet_runs = run_jobs(
        supernet_job, jobs, exp.workers,
        lambda j: f"{j['dataset']:<16} {j['recipe']:<12} seed {j['seed_index']}",
        _supernet_outcome)

    train_jobs = []
    for seed in seeds:
        for label, space in spaces.items():
            for arm, arch in arm_sets[label].items():
                train_jobs.append({"part": "arm", "dataset": label, "arm": arm, "seed": seed,
                                   "arch": arch.to_dict(), "config": train_config(space, seed)})
    analyses = []
    arm_names = {label: list(arm_set) for label, arm_set in arm_sets.items()}
    for label in spaces:
        for recipe in recipes:
            runs = [r for r in supernet_runs if r["dataset"] == label and r["recipe"] == recipe]
            analysis = recipe_analysis(label, recipe, runs, candidates[label],
                                       arm_names[label], {})
            analyses.append(analysis)
            agreement = analysis["agreement"]
            print(f"{label} {recipe}: seeds agree in sign at {agreement.agreeing_sites}/"
                  f"{len(agreement.sites)} sites (not: {' '.join(agreement.disagreeing)}); "
                  f"seed vs seed τ " + " ".join(f"{p['tau']:+.2f}" for p in agreement.rank)
                  + f"; winner {analysis['winner'].summary()} "
                  f"({pct(analysis['winner_score'])})", flush=True)
    for analysis in analyses:
        for seed in winner_seeds:
            train_jobs.append({"part": "winner", "dataset": analysis["dataset"],
                               "recipe": analysis["recipe"],
                               "arm": f"winner ({analysis['recipe']})",
                               "seed": seed, "arch": analysis["winner"].to_dict(),
                               "config": train_config(spaces[analysis["dataset"]], seed)})
    print(f"\n== stand-alone training: {len(train_jobs)} runs", flush=True)
    rows = run_training(train_jobs, exp.workers,
                        lambda j: f"{j['dataset']:<16} {j['arm']:<20} seed {j['seed']}")
    for row in rows:
        row.pop("config", None)

    standalone_by = {label: standalone(rows, label, seeds) for label in spaces}
    analyses = [recipe_analysis(a["dataset"], a["recipe"],
                                [r for r in supernet_runs if r["dataset"] == a["dataset"]
                                 and r["recipe"] == a["recipe"]],
                                candidates[a["dataset"]], arm_names[a["dataset"]],
                                standalone_by[a["dataset"]])
                for a in analyses]
    for analysis in analyses:
        analysis["winner_runs"] = [r for r in rows if r["part"] == "winner"
                                   and r["dataset"] == analysis["dataset"]
                                   and r["recipe"] == analysis["recipe"]]
    ceilings = {label: noise_ceiling([entry["per_seed"] for entry in arms_.values()])
                for label, arms_ in standalone_by.items()}
    summary = summary_rows(analyses, standalone_by, winner_seeds)
    write_tables(exp.out, analyses, candidates, standalone_by, supernet_runs)
    plot(analyses, standalone_by, exp.out / f"{NAME}.png")
    exp.meta.update(recipes=recipes, seeds_winner=winner_seeds, candidates=count, chunk=chunk,
                    data={label: relative_paths(s["data"]) for label, s in sections.items()},
                    supernets=[{k: v for k, v in r.items() if k != "scores"}
                               for r in supernet_runs])
    body = report(exp, config, sections, analyses, standalone_by, ceilings, summary)
    return exp.finish(TITLE, body, rows, summary)


def _step_cost(sections: dict[str, Any]) -> float:
    supernet = sections["search"]["supernet"]
    epochs = supernet.get("epochs") or sections["train"]["epochs"]
    return supernet.get("candidates_per_step", 1) * epochs / sections["train"]["epochs"]


def summary_rows(analyses: list[dict[str, Any]], standalone_by: dict[str, Any],
                 winner_seeds: list[int]) -> list[dict[str, Any]]:
    """One row per (dataset, recipe): the figures the targets are about."""
    out = []
    for a in analyses:
        arms_ = standalone_by[a["dataset"]]
        best_arm = max(arms_, key=lambda n: arms_[n]["mean"])
        winner = [r["test_top1"] for r in a["winner_runs"] if r.get("test_top1") is not None]
        winner_mean, winner_sd = mean_sd(winner)
        agreement = a["agreement"]
        rank = agreement.rank[0] if agreement.rank else {"tau": float("nan"), "p": float("nan")}
        supernet_cpu = sum(r["train_cpu"] for r in a["runs"])
        score_cpu = sum(r["score_cpu"] for r in a["runs"])
        out.append({
            "dataset": a["dataset"], "recipe": a["recipe"], "supernet_seeds": a["seeds"],
            "sites": len(agreement.sites), "sites_agreeing": agreement.agreeing_sites,
            "disagreeing": " ".join(agreement.disagreeing),
            "seed_tau": rank["tau"], "seed_tau_p": rank["p"],
            "arms_tau": a["tau"]["tau"], "arms_tau_p": a["tau"]["p"],
            "arms_tau_seeds": [t["tau"] for t in a["tau_seeds"]],
            "winner": a["winner"].summary(), "winner_score": a["winner_score"],
            "winner_test_mean": winner_mean, "winner_test_sd": winner_sd,
            "winner_seeds": len(winner), "best_arm": best_arm,
            "best_arm_mean": arms_[best_arm]["mean"], "best_arm_sd": arms_[best_arm]["sd"],
            "winner_gap": winner_mean - arms_[best_arm]["mean"],
            "supernet_cpu_s": supernet_cpu, "scoring_cpu_s": score_cpu,
            "scoring_share": score_cpu / supernet_cpu if supernet_cpu else float("nan"),
            "candidate_epochs": a["runs"][0]["candidate_epochs"] if a["runs"] else None,
        })
    return out


# -- outputs ------------------------------------------------------------------------------------


def write_tables(out: Path, analyses: list[dict[str, Any]], candidates: dict[str, list],
                 standalone_by: dict[str, Any], supernet_runs: list[dict[str, Any]]) -> None:
    """effects.csv (per dataset, recipe, seed, site), candidates.csv (every candidate's score
    per recipe and seed), arms.csv (stand-alone and supernet scores of the arms)."""
    effect_rows = []
    for a in analyses:
        for which, effects in a["effects"].items():
            effect_rows += [{"dataset": a["dataset"], "recipe": a["recipe"], "scores": which,
                             "site": e.key, "effect": e.effect, "low": e.low, "high": e.high,
                             "n_dynamic": e.n_dynamic, "n_static": e.n_static}
                            for e in effects]
    write_csv(out / "effects.csv", effect_rows)
    candidate_rows = []
    for label, archs in candidates.items():
        for k, arch in enumerate(archs):
            row = {"dataset": label, "arch": arch.summary()}
            for r in supernet_runs:
                if r["dataset"] == label:
                    row[f"{r['recipe']} seed {r['seed_index']}"] = r["scores"][k]
            candidate_rows.append(row)
    write_csv(out / "candidates.csv", candidate_rows)
    arm_rows = []
    for a in analyses:
        for name, scores in a["arm_scores"].items():
            entry = standalone_by[a["dataset"]].get(name, {})
            arm_rows.append({"dataset": a["dataset"], "recipe": a["recipe"], "arm": name,
                             "supernet_scores": scores,
                             "standalone_mean": entry.get("mean"),
                             "standalone_sd": entry.get("sd")})
    write_csv(out / "arms.csv", arm_rows)


def plot(analyses: list[dict[str, Any]], standalone_by: dict[str, Any], path: Path) -> None:
    """Per dataset: left, per-site effects (dynamic − static, with 95 % intervals) of every
    recipe's supernet seeds, and each block's stand-alone effect (block alone − all-static,
    paired t interval) as a gray band; right, the arms' supernet score (mean over seeds)
    against their stand-alone test top-1 per recipe."""
    plt = pyplot()
    labels = list(dict.fromkeys(a["dataset"] for a in analyses))
    recipes = list(dict.fromkeys(a["recipe"] for a in analyses))
    fig, axes = plt.subplots(len(labels), 2, figsize=(13, 4.6 * len(labels)), squeeze=False,
                             gridspec_kw={"width_ratios": [1.7, 1]})
    for (left, right), label in zip(axes, labels):
        mine = [a for a in analyses if a["dataset"] == label]
        sites = [e.key for e in mine[0]["effects"]["mean"]]
        arms_ = standalone_by[label]
        for index, site in enumerate(sites):
            block = int(site.split(".")[0][1:])
            effect = arms_.get(f"block {block} alone", {}).get("effect")
            if effect is not None and effect["t_low"] == effect["t_low"]:
                left.fill_between([index - 0.45, index + 0.45], 100 * effect["t_low"],
                                  100 * effect["t_high"], color="0.85", zorder=0,
                                  label="stand-alone: block alone − all-static (95 % t)"
                                  if index == 0 else None)
                left.plot([index - 0.45, index + 0.45], [100 * effect["mean_diff"]] * 2,
                          color="0.5", lw=1, zorder=1)
        width = 0.8 / max(1, sum(a["seeds"] for a in mine))
        offset = -0.4 + width / 2
        for a in mine:
            for s in range(a["seeds"]):
                effects = a["effects"][f"seed {s}"]
                xs = [i + offset for i in range(len(effects))]
                ys = [100 * e.effect for e in effects]
                err = [[100 * (e.effect - e.low) if e.low is not None else 0 for e in effects],
                       [100 * (e.high - e.effect) if e.high is not None else 0
                        for e in effects]]
                left.errorbar(xs, ys, yerr=err, fmt="os"[s % 2], ms=4, capsize=2,
                              color=f"C{recipes.index(a['recipe'])}", zorder=3,
                              label=f"{a['recipe']}, supernet seed {s}")
                offset += width
        left.axhline(0, color="black", lw=0.8)
        left.set_xticks(range(len(sites)), sites, fontsize=8)
        left.set_ylabel("dynamic − static (pt)")
        left.set_title(f"{label}: per-site effects (supernet seeds, 95 % intervals over "
                       "candidates)", fontsize=10)
        left.legend(fontsize=7, ncol=2)
        left.grid(alpha=0.3, axis="y")
        for a in mine:
            names = [n for n in a["arm_scores"] if n in arms_]
            xs = [100 * sum(a["arm_scores"][n]) / len(a["arm_scores"][n]) for n in names]
            ys = [100 * arms_[n]["mean"] for n in names]
            right.scatter(xs, ys, color=f"C{recipes.index(a['recipe'])}",
                          label=f"{a['recipe']}: τ {a['tau']['tau']:+.2f} "
                                f"(p {pvalue(a['tau']['p'])})")
            for x, y, n in zip(xs, ys, names):
                right.annotate(n, (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
        right.set_xlabel("supernet val top-1, mean over seeds (%)")
        right.set_ylabel("stand-alone test top-1, mean over seeds (%)")
        right.set_title(f"{label}: the arms, supernet vs stand-alone", fontsize=10)
        right.legend(fontsize=7)
        right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(exp: Experiment, config: dict[str, Any], sections: dict[str, Any],
           analyses: list[dict[str, Any]], standalone_by: dict[str, Any],
           ceilings: dict[str, Any], summary: list[dict[str, Any]]) -> str:
    first = next(iter(sections.values()))
    lines = [
        f"**Space.** `{flow(first['backbone'])}`; per block `{flow(first['space']['blocks'])}`. "
        f"Train `{flow(first['train'])}` (per dataset: "
        + ", ".join(f"{label} {s['train']['epochs']} epochs" for label, s in sections.items())
        + "). Data: " + "; ".join(f"{label} `{flow(relative_paths(s['data']))}`"
                                  for label, s in sections.items()) + ".",
        "",
        "**Recipes** (on top of the one-shot space's `search`; `{}` = bnas's defaults): "
        + "; ".join(f"{name} `{flow(recipe)}`" for name, recipe in config["recipes"].items())
        + f". Every supernet scores the same {exp.meta['candidates']} fair random candidates "
        f"and the arms, {exp.meta['chunk']} at a time.",
        "",
        "## Targets",
        "",
        f"Sites: per-site effect signs agree between the supernet seeds on ≥ {SIGN_TARGET} of "
        "8. Arms: Kendall τ between the supernet's score (mean over seeds) and the stand-alone "
        "mean over seeds, next to the noise ceiling (τ between two halves of the stand-alone "
        "seeds). Winner: its stand-alone mean is not below the best arm's by more than that "
        "arm's seed sd.",
        "",
    ]
    table = [{**row, "agree": f"{row['sites_agreeing']}/{row['sites']}"
              + (" ✓" if row["sites_agreeing"] >= SIGN_TARGET else " ✗"),
              "stau": f"{row['seed_tau']:+.2f}",
              "atau": f"{row['arms_tau']:+.2f} (p {pvalue(row['arms_tau_p'])})",
              "ceil": f"{ceilings[row['dataset']]['tau']:+.2f}",
              "win": f"`{row['winner']}` {pm(row['winner_test_mean'], row['winner_test_sd'])}",
              "best": f"{row['best_arm']} {pm(row['best_arm_mean'], row['best_arm_sd'])}",
              "gap": f"{100 * row['winner_gap']:+.2f}"
              + (" ✓" if row["winner_gap"] >= -(row["best_arm_sd"] or 0) else " ✗"),
              "cost": f"{row['scoring_share']:.2f}"} for row in summary]
    lines.append(markdown_table(table, {
        "dataset": "dataset", "recipe": "recipe", "agree": "sites agreeing in sign",
        "disagreeing": "disagreeing", "stau": "τ seed vs seed (candidates)",
        "atau": "τ arms: supernet vs stand-alone", "ceil": "noise ceiling τ",
        "win": "winner: stand-alone test top-1 %", "best": "best arm %",
        "gap": "winner − best arm (pt)", "cost": "scoring / supernet CPU"}))
    lines += ["## Stand-alone arms", ""]
    for label, arms_ in standalone_by.items():
        rows = [{"arm": name, "acc": pm(e["mean"], e["sd"]),
                 "eff": "-" if "effect" not in e else
                 f"{100 * e['effect']['mean_diff']:+.2f} (p {pvalue(e['effect']['p_paired'])})"}
                for name, e in arms_.items()]
        lines += [f"**{label}** ({len(exp.seeds)} seeds; noise ceiling τ "
                  f"{ceilings[label]['tau']:+.2f}, p {pvalue(ceilings[label]['p'])}):", "",
                  markdown_table(rows, {"arm": "arm", "acc": "test top-1 %",
                                        "eff": "− all-static, paired (pt, p)"}), ""]
    lines += ["## Per-site effects", "",
              "dynamic − static at each site (pt), 95 % interval over the candidates, per "
              "supernet seed; ✗ marks a site where the seeds disagree in sign.", ""]
    for a in analyses:
        sites = [e.key for e in a["effects"]["mean"]]
        rows = []
        for site in sites:
            row = {"site": site + (" ✗" if site in a["agreement"].disagreeing else "")}
            for which, effects in a["effects"].items():
                e = next(x for x in effects if x.key == site)
                row[which] = (f"{100 * e.effect:+.2f} [{100 * e.low:+.2f}, {100 * e.high:+.2f}]"
                              if e.low is not None else f"{100 * e.effect:+.2f}")
            rows.append(row)
        columns = {"site": "site", **{k: k for k in a["effects"]}}
        lines += [f"**{a['dataset']}, {a['recipe']}**", "", markdown_table(rows, columns), ""]
    lines += ["## Cost", ""]
    cost = [{"dataset": r["dataset"], "recipe": r["recipe"],
             "ce": r["candidate_epochs"], "sc": f"{r['supernet_cpu_s']:.0f}",
             "kc": f"{r['scoring_cpu_s']:.0f}", "share": f"{r['scoring_share']:.2f}"}
            for r in summary]
    lines += [markdown_table(cost, {"dataset": "dataset", "recipe": "recipe",
                                    "ce": "candidate-epochs per supernet",
                                    "sc": "supernet CPU s (all seeds)",
                                    "kc": "scoring CPU s (all seeds)",
                                    "share": "scoring / supernet"}), "",
              f"![supernet fidelity]({NAME}.png)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
