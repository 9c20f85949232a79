"""Assemble a run's report: figures, fANOVA importances and ``report.md`` in one folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bnas.files import REPORT_DIR, REPORT_FILE
from bnas.report.analysis import read_candidates, trained_trials
from bnas.report.importance import Importance, fanova_importances
from bnas.report.markdown import render_report
from bnas.report.study import RunStudy, load_run_study, trial_numbers
from bnas.run_lock import RunLock
from bnas.run_paths import inside, inside_run
from bnas.run_record import RunRecord
from bnas.writing import check_folder_target, staged_folder

FIGURES = {
    "accuracy_vs_ops": "accuracy_vs_ops.png",
    "accuracy_vs_latency": "accuracy_vs_latency.png",
    "best_so_far": "best_so_far.png",
    "block_thresholds": "block_thresholds.png",
    "importance": "importance.png",
    "supernet_vs_standalone": "supernet_vs_standalone.png",
    "site_effects": "site_effects.png",
}


def build_report(run_dir: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Write the report of ``run_dir`` into ``out`` (default ``RUN_DIR/report``).

    Returns ``{"markdown": path, "figures": [paths], "data": {name: plotted data},
    "importance_note": str}``. Figures that have nothing to show are skipped with a note in
    the Markdown (a run where no trial trained still gets its trial table). The folder is
    written under a temporary name and renamed into place when complete.
    """
    run_dir = Path(run_dir)
    out_dir = Path(out) if out is not None else inside_run(run_dir, REPORT_DIR, "report folder")
    lock = RunLock(run_dir, "bnas report", reads_only=not inside(out_dir, run_dir))
    if run_dir.is_dir():
        lock.check_free()
    summary = RunRecord.load(run_dir).to_dict()
    check_folder_target(out_dir, "--out" if out is not None else "report folder")
    with lock:  # checked: from here on it writes
        with staged_folder(out_dir, owned=(REPORT_FILE, *FIGURES.values())) as stage:
            figures, importance, markdown_text = _draw(run_dir, summary, stage)
            (stage / REPORT_FILE).write_text(markdown_text)
    drawn = {name: {**data, "path": out_dir / data["path"].name}
             for name, data in figures.items() if data is not None}
    return {"markdown": out_dir / REPORT_FILE, "figures": [data["path"] for data in drawn.values()],
            "data": drawn, "importance_note": importance.note}


def _missing_from_study(loaded: RunStudy, told: int, unit: str) -> str:
    """What the study lacks of the ``told`` trials or candidates of the run (a damaged or cut
    study file), in words; empty when it holds them all."""
    if loaded.study is None:
        return ""
    held = len(loaded.study.get_trials(deepcopy=False))
    if held >= told and not loaded.damage:
        return ""
    damage = f"{loaded.damage}: " if loaded.damage else ""
    return (f"{damage}the study holds {held} of the run's {told} {unit}s"
            + (" (its file is damaged or cut short)" if held < told else ""))


def _draw(
    run_dir: Path, summary: dict[str, Any], out_dir: Path
) -> tuple[dict[str, dict[str, Any] | None], Importance, str]:
    """Figures drawn into ``out_dir``, the importances, and the Markdown text."""
    from bnas.report import plots

    loaded = load_run_study(run_dir, summary)
    numbers = trial_numbers(loaded.study, summary["trials"]) if loaded.study else {}
    # Optuna's trial number orders the progress plot (bnas.report.analysis, "Trial order").
    trials = [{**t, "number": numbers.get(str(t.get("trial_id")), t.get("number"))}
              for t in summary["trials"]]
    has_trained = bool(trained_trials(trials))
    # A one-shot run's search is its candidates (scored with inherited weights): progress and
    # per-block figures draw them; its trials are the few candidates retrained stand-alone.
    oneshot = summary.get("oneshot")
    searched, unit, told = trials, "trial", len(trials)
    if oneshot is not None:
        candidates = inside_run(run_dir, oneshot["candidates_file"],
                                "summary.json oneshot.candidates_file")
        if candidates.is_file():
            searched, unit = read_candidates(candidates), "candidate"
            told = len(read_candidates(candidates, repeats=True))

    figures: dict[str, dict[str, Any] | None] = dict.fromkeys(FIGURES)
    if has_trained:
        best_id = (summary.get("best") or {}).get("trial_id")
        figures["accuracy_vs_ops"] = plots.plot_accuracy_vs_cost(
            trials, out_dir / FIGURES["accuracy_vs_ops"], cost="ops", best_id=best_id)
        if any(t["metrics"].get("latency_ms") is not None for t in trained_trials(trials)):
            figures["accuracy_vs_latency"] = plots.plot_accuracy_vs_cost(
                trials, out_dir / FIGURES["accuracy_vs_latency"], cost="latency_ms",
                best_id=best_id)
    if trained_trials(searched):
        figures["best_so_far"] = plots.plot_best_so_far(
            searched, out_dir / FIGURES["best_so_far"], unit=unit)
        figures["block_thresholds"] = plots.plot_block_thresholds(
            searched, out_dir / FIGURES["block_thresholds"], unit=unit)
    if oneshot is not None and has_trained:
        figures["supernet_vs_standalone"] = plots.plot_supernet_vs_standalone(
            trials, out_dir / FIGURES["supernet_vs_standalone"])
    if oneshot is not None:
        figures["site_effects"] = plots.plot_site_effects(
            oneshot.get("site_effects") or [], out_dir / FIGURES["site_effects"])
    importance = (fanova_importances(loaded.study, summary) if loaded.study is not None
                  else Importance(note=loaded.note))
    missing = _missing_from_study(loaded, told, unit)
    if missing:
        importance.note = f"{importance.note}; {missing}"
    if importance.ok:
        figures["importance"] = plots.plot_importance(importance.values,
                                                      out_dir / FIGURES["importance"])
    ordered = bool(numbers) or unit == "candidate"  # candidates are numbered by the search
    markdown = render_report({**summary, "trials": trials}, str(run_dir), figures, importance,
                             ordered_by_study=ordered)
    return figures, importance, markdown
