"""``report.md``: a run's summary in Markdown, with the figures embedded by relative path."""

from __future__ import annotations

from typing import Any

from bnas.costs import format_count
from bnas.files import STUDY_FILE, STUDY_JOURNAL_FILE
from bnas.report.analysis import trial_table
from bnas.report.importance import Importance
from bnas.run_record import status_counts


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}"


def _num(value: float | None, fmt: str = ".4g") -> str:
    return "—" if value is None else format(value, fmt)


def _count(value: float | None) -> str:
    return "—" if value is None else format_count(value)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _cell(text: Any) -> str:
    """Table-safe: no pipes or newlines inside a cell."""
    return " ".join(str(text).replace("|", "\\|").split())


def _figure(title: str, figure: dict[str, Any] | None, note: str | None = None) -> list[str]:
    if figure is None:
        return [f"_{note or 'not drawn'}_", ""]
    return [f"![{title}]({figure['path'].name})", ""]


def render_report(
    summary: dict[str, Any],
    run_label: str,
    figures: dict[str, dict[str, Any] | None],
    importance: Importance,
    *,
    ordered_by_study: bool = True,
) -> str:
    """The report's Markdown; ``figures`` maps accuracy_vs_ops / best_so_far /
    block_thresholds / importance to what :mod:`bnas.report.plots` returned (None: skipped)."""
    trials = summary.get("trials", [])
    counts = status_counts(trial.get("status") for trial in trials)
    objectives = summary.get("objectives") or {}
    best = summary.get("best")
    lines = [
        f"# Search report: {summary.get('name', run_label)}",
        "",
        f"Run directory `{run_label}`: {len(trials)} trials ("
        + ", ".join(f"{n} {status}" for status, n in counts.items()) + "). Objectives: "
        + ", ".join(f"{metric} ({mode})" for metric, mode in objectives.items()) + ".",
        "",
    ]
    if best:
        m = best.get("metrics", {})
        lines += [
            f"**Best:** `{best.get('arch_summary')}` (trial `{best.get('trial_id')}`): val top-1 "
            f"{_pct(m.get('val_top1'))} %, OPs {_count(m.get('ops'))}, size "
            f"{_num(m.get('size_mib'))} MiB"
            + (f", latency {_num(m['latency_ms'])} ms" if m.get("latency_ms") is not None
               else "")
            + f". Export it with `bnas export {run_label} --best --onnx`.",
            "",
        ]
    else:
        lines += ["**No trial finished training**; the trial table lists the errors.", ""]

    oneshot = summary.get("oneshot")
    if oneshot is not None:
        lines += _oneshot_section(oneshot, figures.get("supernet_vs_standalone"))
        lines += _site_effects_section(oneshot, figures.get("site_effects"))

    accuracy = figures.get("accuracy_vs_ops")
    lines += ["## Accuracy vs OPs", ""]
    lines += _figure("accuracy vs OPs", accuracy, "no trained trial to plot")
    if accuracy:
        lines += [
            f"{_plural(len(accuracy['points']), 'trained trial')}; circled: the Pareto front of "
            f"val top-1 (max) vs OPs (min), {_plural(len(accuracy['pareto']), 'trial')}; star: "
            "the best. "
            "Hollow dots: stopped early by ASHA (fewer epochs).",
            "",
        ]

    latency = figures.get("accuracy_vs_latency")
    if latency:
        lines += ["## Accuracy vs latency", ""]
        lines += _figure("accuracy vs latency", latency)
        lines += [
            f"The same trials against their latency in milliseconds: the bit-packed model's, "
            f"as the run's latency table predicts it (`bnas profile --latency`); circled: the "
            f"Pareto front of val top-1 (max) vs latency (min), "
            f"{_plural(len(latency['pareto']), 'trial')}.",
            "",
        ]

    progress = figures.get("best_so_far")
    lines += ["## Search progress", ""]
    lines += _figure("best so far", progress, "no trained trial to plot")
    if oneshot is not None:
        lines += [
            "The candidate search on the supernet: every candidate the sampler proposed, in "
            "the order it proposed them, with its val top-1 on inherited weights (BatchNorm "
            "recalibrated). Ticks on the x axis: candidates over budget, never scored.",
            "",
        ]
    else:
        order = ("Optuna's trial number, i.e. the order in which the sampler suggested the "
                 "trials" if ordered_by_study else
                 "the order of summary.json (no Optuna study to number the trials by)")
        lines += [
            f"Trial number = {order}. With several trials in flight a later trial can finish "
            "first, so this is the sampler's view: how many suggestions it took to find each "
            "improvement. Ticks on the x axis: trials that did not train (failed, over "
            "budget).",
            "",
        ]

    blocks = figures.get("block_thresholds")
    lines += ["## Which blocks want DySign", ""]
    lines += _figure("static vs dynamic per block", blocks, "no trained trial to compare")
    if blocks and blocks["rows"]:
        budget = blocks["epochs"]
        if oneshot is not None:
            accuracy_text = ("each candidate's val top-1 with inherited supernet weights (every "
                             "scored candidate of the search, not the retrained ones).")
        elif budget:
            accuracy_text = (f"each trial's best val top-1 within its first "
                             f"{_plural(budget, 'epoch')} (the fewest any trained trial ran, so "
                             "ASHA-stopped and completed trials compare at equal budget).")
        else:
            accuracy_text = "each trial's val top-1."
        unit = "candidates" if oneshot is not None else "trials"
        lines += [
            f"Per block, the {unit} with a static threshold (RSign) at every site against those "
            "with DySign at any site there. Accuracy: " + accuracy_text
            + " Δ = mean(dynamic) − mean(static); a block whose Δ stays positive across "
            f"seeds wants DySign. Few {unit} per group make these means noisy: read n.",
            "",
            "| block | static n | static mean ± sd (%) | dynamic n | dynamic mean ± sd (%) "
            "| Δ (pt) |",
            "|---|---|---|---|---|---|",
        ]
        by_key = {(r["block"], r["group"]): r for r in blocks["rows"]}
        for delta in blocks["deltas"]:
            cells = []
            for group in ("static", "dynamic"):
                row = by_key[(delta["block"], group)]
                sd = f" ± {_pct(row['sd'], 1)}" if row["sd"] is not None else ""
                cells += [str(row["n"]), f"{_pct(row['mean'], 1)}{sd}" if row["n"] else "—"]
            change = "—" if delta["delta"] is None else f"{100 * delta['delta']:+.1f}"
            lines.append(f"| {delta['block']} | " + " | ".join(cells) + f" | {change} |")
        lines.append("")

    lines += ["## Hyperparameter importance (fANOVA)", ""]
    if importance.ok:
        lines += _figure("hyperparameter importance", figures.get("importance"))
        lines += [importance.note + ".", "", "| parameter | importance |", "|---|---|"]
        lines += [f"| `{_cell(name)}` | {value:.3f} |"
                  for name, value in importance.values.items()]
        lines.append("")
    else:
        lines += [f"_Not computed: {importance.note}._", ""]

    rows = trial_table(trials)
    timed = any(row["latency_ms"] is not None for row in rows)
    lines += [
        "## Trials",
        "",
        "| rank | trial | architecture | val top-1 (%) | OPs | size (MiB) | "
        + ("latency (ms) | " if timed else "") + "epochs | status |",
        "|---|---|---|---|---|---|---|" + ("---|" if timed else "") + "---|",
    ]
    pareto = set(summary.get("pareto") or [])
    for row in rows:
        status = row["status"]
        if row["error"]:
            status = f"{status}: {row['error']}"
        mark = " ◆" if row["trial_id"] in pareto else ""
        epochs = "—" if row["epochs_run"] is None else row["epochs_run"]
        lines.append(
            f"| {row['rank'] or '—'} | `{_cell(row['trial_id'])}`{mark} | "
            f"`{_cell(row['arch_summary'])}` | {_pct(row['val_top1'])} | {_count(row['ops'])} | "
            f"{_num(row['size_mib'])} | " + (f"{_num(row['latency_ms'])} | " if timed else "")
            + f"{epochs} | {_cell(status)} |"
        )
    pareto_label = ", ".join(f"{k} {v}" for k, v in (summary.get("pareto_objectives")
                                                     or {}).items())
    lines += [
        "",
        f"◆ = in the run's Pareto set ({pareto_label}). val top-1 is each trial's best "
        "epoch.",
        "",
        "## Explore further",
        "",
        "```",
        f"tensorboard --logdir {run_label}                  # per-trial curves",
        (f"optuna-dashboard {run_label}/{STUDY_JOURNAL_FILE}   # the candidate search's study "
         if summary.get("oneshot") else f"optuna-dashboard sqlite:///{run_label}/{STUDY_FILE}   "
         "# the study ") + "(pip install optuna-dashboard)",
        f"bnas export {run_label} --top-k 3 --onnx          # deployable folders",
        "```",
        "",
    ]
    return "\n".join(lines)


def _oneshot_section(oneshot: dict[str, Any], figure: dict[str, Any] | None) -> list[str]:
    """Phase costs of a one-shot search and how its supernet ranked the retrained candidates."""
    phases = oneshot.get("phases") or {}
    total_epochs = sum(p["candidate_epochs"] for p in phases.values())
    total_seconds = sum(p["seconds"] for p in phases.values())
    standalone = oneshot.get("standalone_epochs") or 0
    lines = [
        "## One-shot search",
        "",
        f"A weight-sharing supernet trained once; {oneshot['candidates_scored']} candidates were "
        f"scored with its weights ({oneshot['candidates_over_budget']} over budget, never "
        f"scored; all in `{oneshot['candidates_file']}`); the "
        + ("Pareto front" if oneshot["retrain"] == "pareto" else "best")
        + " were retrained stand-alone"
        + (", warm-started from the supernet" if oneshot.get("warm_start") else " from scratch")
        + ": they are this run's trials. One candidate-epoch is one candidate's forward and "
        "backward pass over the training data; scoring (forward passes only) is counted as if "
        "it were forward and backward, an upper bound.",
        "",
        "| phase | candidate-epochs | wall time (s) |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {p['candidate_epochs']:.1f} | {p['seconds']:.0f} |"
              for name, p in phases.items()]
    lines.append(f"| **total** | **{total_epochs:.1f}** | **{total_seconds:.0f}** |")
    if standalone:
        lines += ["", f"Total = {total_epochs / standalone:.2f} × one stand-alone training "
                      f"({standalone} epochs)."]
    lines.append("")
    if figure is not None:
        tau = figure["tau"]
        lines += _figure("supernet vs stand-alone accuracy", figure)
        lines += [
            "Each retrained candidate's val top-1 with inherited supernet weights against its "
            "stand-alone val top-1; Kendall's τ = "
            + ("n/a" if tau != tau else f"{tau:+.2f} (p {figure['p']:.2g})")
            + f" over n = {figure['n']}. τ near 1: the supernet ranks candidates as "
            "stand-alone training does; near 0: its ranking is noise. With a handful of "
            "points τ says little (read p).",
            "",
        ]
    return lines


def _site_effects_section(oneshot: dict[str, Any], figure: dict[str, Any] | None) -> list[str]:
    """Per-site effects of a one-shot run, each supernet seed's beside the mean's, and a
    warning where the seeds disagree."""
    effects = oneshot.get("site_effects") or []
    seeds = int(oneshot.get("seeds") or 1)
    lines = [
        "## Where DySign pays",
        "",
        "Per sign site, dynamic − static val top-1 with inherited weights, the other sites held "
        "equal: a least-squares fit over the distinct scored candidates (pt), with its 95 % "
        "interval over those candidates"
        + (f" (on the mean score of the {seeds} supernet seeds), and each seed's effect. The "
           "interval says how firmly these candidates pin the effect down for these "
           "supernets; whether another supernet would agree is what the seeds show."
           if seeds > 1 else
           ". It says nothing of how a supernet trained with another seed would score them: "
           "set `search.supernet.seeds: 2` to see that."),
        "",
    ]
    if not effects:
        return lines + ["_No site varies among the scored candidates._", ""]
    lines += _figure("per-site effects", figure)
    header = "| site | effect (pt) | 95 % interval | candidates dynamic / static |"
    rule = "|---|---|---|---|"
    if seeds > 1:
        header += "".join(f" seed {i} |" for i in range(seeds)) + " seeds agree |"
        rule += "---|" * (seeds + 1)
    lines += [header, rule]
    for e in effects:
        interval = ("—" if e.get("low") is None else
                    f"[{100 * e['low']:+.2f}, {100 * e['high']:+.2f}]")
        row = (f"| b{e['block']}.{e['site']} | {100 * e['effect']:+.2f} | {interval} | "
               f"{e['n_dynamic']} / {e['n_static']} |")
        if seeds > 1:
            row += "".join(f" {100 * value:+.2f} |" for value in e.get("per_seed") or [])
            row += f" {'yes' if e.get('seeds_agree') else '**no**'} |"
        lines.append(row)
    lines.append("")
    for pair in oneshot.get("seed_rank_agreement") or []:
        tau = pair.get("tau")
        lines.append(f"Candidates ranked by seed {pair['seeds'][0]} vs seed {pair['seeds'][1]}: "
                     + ("Kendall's τ n/a" if tau is None else
                        f"Kendall's τ {tau:+.2f} (p {pair['p']:.2g})")
                     + f" over n = {pair['n']}.")
    disagreeing = [f"b{e['block']}.{e['site']}" for e in effects if e.get("seeds_agree") is False]
    if disagreeing:
        lines += ["", f"**Warning**: the supernet seeds disagree in sign at "
                      f"{len(disagreeing)} of {len(effects)} sites ({', '.join(disagreeing)}). "
                      "There the supernet does not establish whether DySign pays; trust "
                      "stand-alone training, or train the supernets longer."]
    elif seeds > 1:
        lines += ["", f"The {seeds} supernet seeds agree in sign at every site."]
    lines.append("")
    return lines
