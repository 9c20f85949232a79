"""Measured latency vs OPs: do OPs rank binary networks by their real latency, and what does a
search on measured milliseconds find?

a. **Rank agreement** (config ``latency_space``, a small ReActNet-A space): its latency table
   is built on this CPU from scratch (a fresh cache folder, so the build time is a result);
   ``candidates`` random candidates of the space (uniform over its architectures) are
   measured whole on their bit-packed models (:func:`bnas.profile.measure_networks`).
   Reported: Kendall's τ between OPs and the measured latency, between the latency table's
   prediction and the measured latency, and the share of predictions within ±10 %.
b. **A search on milliseconds** (config ``space`` on ``dataset``): a one-shot search with
   objectives ``{val_top1: max, latency_ms: min}`` (its latency table built by the preflight,
   on this CPU) retrains its Pareto front (``retrain: pareto``). Each front member is then
   trained with ``final_seeds`` seeds for ``train.epochs`` epochs; all-static and
   all-dynamic (``dynamic``) train with the same seeds for E' = E + round(B / K) epochs,
   where B is the one-shot route's whole cost in candidate-epochs (supernet, scoring,
   retraining the front) and K the seeds: each fixed arm gets the budget the search spent.
   Every model's latency is measured whole (the same statistic as part a) next to the table's
   prediction; reported: test top-1 (mean ± sd over seeds) against measured milliseconds.

    python -m experiments.latency_vs_ops          # ≤ 45 min on 2 cores
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

from experiments.common import (
    Experiment,
    build_space,
    flow,
    kendall_tau,
    local_ray,
    markdown_table,
    mean_sd,
    pm,
    pvalue,
    pyplot,
    random_candidates,
    run_one_search,
    run_training,
    write_csv,
)
from experiments.common.frame import relative_paths
from experiments.dysign_vs_rsign import data_config, fitted_args
from experiments.oneshot_vs_multitrial import train_config
from experiments.search_vs_fixed import retrain_jobs

NAME = "latency_vs_ops"
TITLE = "Measured latency vs OPs: rank agreement, and a search on milliseconds"
TOLERANCE = 0.10
FIXED_ARMS = ("all-static", "all-dynamic")


# -- (a) rank agreement -------------------------------------------------------------------------


def rank_agreement(exp: Experiment, config: dict[str, Any]) -> dict[str, Any]:
    from bnas.profile import measure_networks, profile_architecture

    backbone = config["latency_space"]["backbone"]
    # Only timed, never trained: any dataset of the input's channels and size will do.
    data = {"name": "mnist" if backbone.get("in_chans", 3) == 1 else "cifar10",
            "img_size": backbone.get("img_size", 32)}
    count = exp.scale.count(int(config.get("candidates", 60)), minimum=8)
    search = {"algorithm": "nsga2", "objectives": {"val_top1": "max", "latency_ms": "min"},
              "num_samples": count}
    space = build_space({**config["latency_space"], "data": data, "search": search},
                        f"{NAME}-latency")
    load = os.getloadavg()[0]
    started = time.monotonic()
    table = space.latency_table(progress=lambda line: print("  " + line, flush=True))
    build_seconds = time.monotonic() - started
    table.save(exp.out / "latency_table_a.json")
    archs = random_candidates(space, count, seed=0)
    print(f"  measuring {len(archs)} random candidates whole", flush=True)
    measured = measure_networks(archs)
    rows = []
    for arch, ms in zip(archs, measured):
        cost = profile_architecture(arch)
        predicted = table.predict(arch)
        rows.append({"arch": arch.summary(), "dynamic_sites": arch.num_dynamic_sites(),
                     "measured_ms": ms, "predicted_ms": predicted,
                     "error": predicted / ms - 1.0, "ops": cost.ops, "size_mib": cost.size_mib,
                     "architecture": arch.to_json()})
    errors = [abs(r["error"]) for r in rows]
    return {
        "space": space, "table": table, "rows": rows, "build_seconds": build_seconds,
        "load": [load, os.getloadavg()[0]],
        "tau_ops": kendall_tau([r["ops"] for r in rows], measured),
        "tau_model": kendall_tau([r["predicted_ms"] for r in rows], measured),
        "tau_size": kendall_tau([r["size_mib"] for r in rows], measured),
        "within": sum(e <= TOLERANCE for e in errors) / len(errors),
        "median_error": sorted(errors)[len(errors) // 2], "max_error": max(errors),
    }


# -- (b) a search on milliseconds ---------------------------------------------------------------


def search_sections(config: dict[str, Any], exp: Experiment) -> dict[str, Any]:
    sections = json.loads(json.dumps(config["space"]))  # a deep copy of plain data
    scale = exp.scale
    data = data_config(config["dataset"], scale)
    sections["data"] = data
    backbone = sections["backbone"]
    backbone["num_classes"] = fitted_args({}, data)["num_classes"]
    train, search = sections.setdefault("train", {}), sections["search"]
    train["epochs"] = scale.count(int(train.get("epochs", 8)))
    supernet, evaluate = search.setdefault("supernet", {}), search.setdefault("evaluate", {})
    supernet["epochs"] = scale.count(int(supernet.get("epochs", train["epochs"])))
    evaluate["candidates"] = scale.count(int(evaluate.get("candidates", 60)), minimum=4)
    return sections


def latency_search(exp: Experiment, config: dict[str, Any]) -> dict[str, Any]:
    space = build_space(search_sections(config, exp), f"{NAME}-search")
    with tempfile.TemporaryDirectory(prefix="bnas-exp-") as storage, local_ray():
        search = run_one_search(space, Path(storage))
        run_dir = Path(storage) / space.name
        shutil.copyfile(run_dir / "candidates.csv", exp.out / "search_candidates.csv")
        record = relative_paths(json.loads((run_dir / "summary.json").read_text()))
        (exp.out / "search_summary.json").write_text(json.dumps(record, indent=2) + "\n")
    space.latency_table().save(exp.out / "latency_table_b.json")
    summary = search["summary"]
    front = [t for t in summary["trials"] if t["status"] in ("completed", "stopped")]
    if not front:
        raise SystemExit(f"{NAME}: the one-shot search retrained no candidate")
    return {"space": space, "summary": summary, "front": front,
            "wall_seconds": search["wall_seconds"]}


def front_and_arms(config: dict[str, Any], search: dict[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, int], int]:
    """label → Architecture for every front member and fixed arm; their epochs; budget B."""
    from bnas.architecture import Architecture

    space, summary = search["space"], search["summary"]
    epochs = space.epochs
    seeds = config["_final_seeds"]
    budget = round(sum(p["candidate_epochs"] for p in summary["oneshot"]["phases"].values()))
    long_epochs = epochs + round(budget / len(seeds))
    members = sorted(search["front"], key=lambda t: t["metrics"].get("latency_ms") or 0.0)
    archs = {f"front {i + 1}": Architecture.from_dict(t["arch"]) for i, t in enumerate(members)}
    args = dict(space.backbone.args)
    dynamic = {"kind": "dynamic", **(config.get("dynamic") or {})}
    archs["all-static"] = Architecture.uniform(space.backbone.name, "static", **args)
    archs["all-dynamic"] = Architecture.uniform(space.backbone.name, dynamic, **args)
    arm_epochs = {label: long_epochs if label in FIXED_ARMS else epochs for label in archs}
    return archs, arm_epochs, budget


def arm_table(rows: list[dict[str, Any]], archs: dict[str, Any], epochs: dict[str, int],
              measured: dict[str, float], predicted: dict[str, float]) -> list[dict[str, Any]]:
    table = []
    for label, arch in archs.items():
        runs = [r for r in rows if r["arm"] == label and r.get("test_top1") is not None]
        mean, sd = mean_sd([r["test_top1"] for r in runs])
        first = runs[0] if runs else {}
        table.append({"arm": label, "arch": arch.summary(), "epochs": epochs[label],
                      "seeds": len(runs), "test_top1_mean": mean, "test_top1_sd": sd,
                      "measured_ms": measured[label], "predicted_ms": predicted[label],
                      "ops": first.get("ops"), "size_mib": first.get("size_mib")})
    from bnas.pareto import pareto_front

    points = [{"acc": r["test_top1_mean"], "ms": r["measured_ms"]} for r in table]
    on_front = set(pareto_front(points, {"acc": "max", "ms": "min"}))
    for index, row in enumerate(table):
        row["on_front"] = index in on_front
    return table


# -- the whole experiment -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    exp = Experiment.start(NAME, argv, __doc__)
    config = dict(exp.config)
    final_seeds = list(range(exp.scale.count(int(config.get("final_seeds", 3)), minimum=2)))
    config["_final_seeds"] = final_seeds
    exp.seeds = final_seeds
    # every table built here from scratch, so its build time is a result
    with tempfile.TemporaryDirectory(prefix="bnas-latency-") as cache, \
            mock.patch.dict(os.environ, {"BNAS_LATENCY_CACHE": cache}):
        print("\n== (a) rank agreement: latency table and random candidates", flush=True)
        agreement = rank_agreement(exp, config)
        print("\n== (b) one-shot search on {val_top1: max, latency_ms: min}", flush=True)
        search = latency_search(exp, config)
        archs, arm_epochs, budget = front_and_arms(config, search)
        print(f"\n== (b) measuring {len(archs)} networks whole", flush=True)
        from bnas.profile import measure_networks

        measured = dict(zip(archs, measure_networks(list(archs.values()))))
    table = search["space"].latency_table()
    predicted = {label: table.predict(arch) for label, arch in archs.items()}
    jobs = retrain_jobs(final_seeds, archs, train_config(search["space"], 0), arm_epochs)
    print(f"\n== (b) training: {len(jobs)} runs", flush=True)
    rows = run_training(jobs, exp.workers, lambda j: f"{j['arm']:<12} seed {j['seed']}")
    for row in rows:
        row.pop("config", None)
    arms = arm_table(rows, archs, arm_epochs, measured, predicted)
    write_csv(exp.out / "candidates.csv", [{k: v for k, v in r.items() if k != "architecture"}
                                           for r in agreement["rows"]])
    write_csv(exp.out / "arms.csv", arms)
    plot(agreement, arms, exp.out / f"{NAME}.png")
    summary_rows = [{
        "candidates": len(agreement["rows"]), "tau_ops": agreement["tau_ops"]["tau"],
        "tau_model": agreement["tau_model"]["tau"], "within_10pct": agreement["within"],
        "table_seconds": round(agreement["build_seconds"], 1),
        "front": len(search["front"]), "budget_candidate_epochs": budget,
    }]
    exp.meta.update(budget=budget, epochs=arm_epochs, seeds_final=final_seeds,
                    device=agreement["table"].device.model_dump(),
                    load=agreement["load"], data=relative_paths(config["dataset"]),
                    search={"wall_seconds": round(search["wall_seconds"], 1),
                            "oneshot": search["summary"]["oneshot"]})
    return exp.finish(TITLE, report(exp, config, agreement, search, arms, budget), rows,
                      summary_rows)


def plot(agreement: dict[str, Any], arms: list[dict[str, Any]], path: Path) -> None:
    """(a) measured latency against OPs, and against the table's prediction; (b) test top-1
    against measured latency for the front and the fixed arms."""
    plt = pyplot()
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.4))
    rows = agreement["rows"]
    left.scatter([r["ops"] / 1e6 for r in rows], [r["measured_ms"] for r in rows], s=16,
                 c=[r["dynamic_sites"] for r in rows], cmap="viridis")
    left.set_xlabel("OPs (M)")
    left.set_ylabel("measured latency (ms)")
    left.set_title(f"(a) OPs vs latency: Kendall τ {agreement['tau_ops']['tau']:+.2f}",
                   fontsize=10)
    low = min(min(r["measured_ms"], r["predicted_ms"]) for r in rows)
    high = max(max(r["measured_ms"], r["predicted_ms"]) for r in rows)
    middle.plot([low, high], [low, high], color="0.3", lw=1)
    for factor in (1 - TOLERANCE, 1 + TOLERANCE):
        middle.plot([low, high], [low * factor, high * factor], color="0.7", lw=0.8, ls="--")
    middle.scatter([r["measured_ms"] for r in rows], [r["predicted_ms"] for r in rows], s=16,
                   c=[r["dynamic_sites"] for r in rows], cmap="viridis")
    middle.set_xlabel("measured latency (ms)")
    middle.set_ylabel("latency table's prediction (ms)")
    middle.set_title(f"(a) model vs measured: τ {agreement['tau_model']['tau']:+.2f}, "
                     f"{agreement['within']:.0%} within ±10 %", fontsize=10)
    front = [r for r in arms if r["arm"] not in FIXED_ARMS]
    right.errorbar([r["measured_ms"] for r in front], [100 * r["test_top1_mean"] for r in front],
                   yerr=[100 * (r["test_top1_sd"] or 0) for r in front], fmt="o-", capsize=3,
                   color="C3", label="searched front (retrained)")
    for row, color in zip([r for r in arms if r["arm"] in FIXED_ARMS], ("C0", "C2")):
        right.errorbar([row["measured_ms"]], [100 * row["test_top1_mean"]],
                       yerr=[100 * (row["test_top1_sd"] or 0)], fmt="s", capsize=3,
                       color=color, label=f"{row['arm']} ({row['epochs']} epochs)")
    right.set_xlabel("measured latency (ms, bit-packed, 1 thread)")
    right.set_ylabel("test top-1 (%), mean ± sd over seeds")
    right.set_title("(b) the front in milliseconds vs fixed arms", fontsize=10)
    right.legend(fontsize=7)
    for ax in (left, middle, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(exp: Experiment, config: dict[str, Any], agreement: dict[str, Any],
           search: dict[str, Any], arms: list[dict[str, Any]], budget: int) -> str:
    table, space = agreement["table"], agreement["space"]
    device = table.device
    load = agreement["load"]
    search_space = search["space"]
    settings = search_space.search
    lines = [
        f"**Device.** {device.describe()}; ISA flags {', '.join(device.isa) or 'none'}. "
        f"1-minute load {load[0]:.1f} → {load[1]:.1f} during part a (a shared machine: "
        "latencies are each network's fastest call over interleaved rounds, see "
        "`bnas.profile`).",
        "",
        "## (a) OPs vs measured latency",
        "",
        f"Space `{flow(config['latency_space']['backbone'])}`, per block "
        f"`{flow(config['latency_space']['space']['blocks'])}` ({space.size():,} "
        f"architectures). Its latency table: {len(table.extras)} site settings, built in "
        f"{agreement['build_seconds']:.0f} s (all-static {table.static_ms['static']:.4g} ms, "
        f"shared cost {1e3 * table.shared_ms.get('static', 0.0):+.2f} µs). "
        f"{len(agreement['rows'])} random candidates measured whole.",
        "",
    ]
    summary = [{"what": label, "tau": f"{t['tau']:+.3f}", "p": pvalue(t["p"]), "n": t["n"]}
               for label, t in (("OPs vs measured latency", agreement["tau_ops"]),
                                ("size vs measured latency", agreement["tau_size"]),
                                ("latency table vs measured latency", agreement["tau_model"]))]
    lines += [markdown_table(summary, {"what": "ranking", "tau": "Kendall τ", "p": "p",
                                       "n": "candidates"}), "",
              f"Latency table's predictions within ±10 % of the measurement: "
              f"{agreement['within']:.0%} (median |error| {agreement['median_error']:.1%}, "
              f"max {agreement['max_error']:.1%}).", "",
              "## (b) A one-shot search on {val_top1: max, latency_ms: min}", "",
              f"Space `{flow(config['space']['backbone'])}`, per block "
              f"`{flow(config['space']['space']['blocks'])}`, data "
              f"`{flow(relative_paths(search_space.data.model_dump(exclude_none=True)))}`. "
              f"Supernet {settings.supernet.epochs} epochs, {settings.evaluate.candidates} "
              f"candidates proposed by {settings.algorithm}, the Pareto front of (supernet val "
              f"top-1, predicted latency) retrained: {len(search['front'])} members; search "
              f"wall time {search['wall_seconds'] / 60:.1f} min. Budget B = {budget} "
              f"candidate-epochs; each fixed arm trains E' = "
              f"{next(r['epochs'] for r in arms if r['arm'] == 'all-static')} epochs per seed, "
              f"each front member {search_space.epochs}.", ""]
    shown = [{**r, "acc": pm(r["test_top1_mean"], r["test_top1_sd"]),
              "ms": f"{r['measured_ms']:.4f}", "pred": f"{r['predicted_ms']:.4f}",
              "size": f"{r['size_mib']:.4f}" if r["size_mib"] is not None else "-",
              "front": "yes" if r["on_front"] else "no"} for r in arms]
    lines += [markdown_table(shown, {"arm": "network", "arch": "architecture",
                                     "epochs": "epochs", "seeds": "seeds",
                                     "acc": "test top-1 %", "ms": "measured ms",
                                     "pred": "predicted ms", "size": "size MiB",
                                     "front": "on (accuracy, measured ms) front"}), "",
              "## Reading", ""]
    static = next(r for r in arms if r["arm"] == "all-static")
    dynamic = next(r for r in arms if r["arm"] == "all-dynamic")
    lines += [
        f"- OPs rank the random candidates' latencies with τ = "
        f"{agreement['tau_ops']['tau']:+.2f}, the latency table with τ = "
        f"{agreement['tau_model']['tau']:+.2f}.",
        f"- all-dynamic costs {dynamic['measured_ms'] / static['measured_ms']:.2f}× the "
        f"all-static network's measured latency ({dynamic['measured_ms']:.4f} vs "
        f"{static['measured_ms']:.4f} ms); its OPs are "
        f"{(dynamic['ops'] or 0) / (static['ops'] or 1):.2f}×.",
        f"- {sum(r['on_front'] for r in arms if r['arm'] not in FIXED_ARMS)} of "
        f"{len(arms) - 2} front members are on the (test top-1, measured ms) front of all "
        f"{len(arms)} networks; all-static {'is' if static['on_front'] else 'is not'}, "
        f"all-dynamic {'is' if dynamic['on_front'] else 'is not'}.",
        "", f"![latency vs OPs]({NAME}.png)", "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
