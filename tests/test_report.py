"""bnas report: real PNGs and report.md from a real run; plots and statistics on hand-made data."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.image import imread
from search_run_fixture import build_run_dir, write_study

from bnas.cli import main
from bnas.report import analysis, plots
from bnas.report.importance import param_importances
from bnas.report.study import load_run_study, trial_numbers
from bnas.search.summary import build_summary, write_summary

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_run_dir(tmp_path_factory.mktemp("report-runs") / "demo-digits")


def _assert_png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 300
    assert float(pixels[..., :3].std()) > 0.02  # not blank
    return pixels


def _trial(trial_id: str, blocks: list, val: float | None, ops: float | None,
           status: str = "completed", history: list | None = None) -> dict:
    metrics = {} if val is None else {"val_top1": val}
    if ops is not None:
        metrics["ops"] = ops
    if history is None:
        history = [] if val is None else [{"epoch": 1, "val_top1": val}]
    return {"trial_id": trial_id, "arch": {"backbone": "reactnet_a", "blocks": blocks},
            "arch_summary": f"arch-{trial_id}", "metrics": metrics, "status": status,
            "history": history, "epochs_run": len(history)}


S, D = "static", {"kind": "dynamic", "rd_ratio": 8}
SITES_D = {"conv3x3": "static", "conv1x1": {"kind": "dynamic", "rd_ratio": 4}}


# -- the command on a real run ----------------------------------------------------------------


def test_report_of_a_real_run(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    markdown = (out / "report.md").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert images == ["accuracy_vs_ops.png", "best_so_far.png", "block_thresholds.png",
                      "importance.png"]
    for name in images:
        _assert_png(out / name)
    for trial in summary["trials"]:  # the trial table lists every trial
        assert f"`{trial['trial_id']}`" in markdown
    assert "| 1 | `" + summary["best"]["trial_id"] in markdown
    assert "tensorboard --logdir" in markdown and "optuna-dashboard sqlite:///" in markdown
    assert "RuntimeError: out of memory" in markdown  # the failed trial's error


def test_report_default_folder_and_missing_summary(run_dir: Path, tmp_path: Path) -> None:
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report" / "report.md").is_file()
    result = subprocess.run([sys.executable, "-m", "bnas", "report", str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"bnas: error: {tmp_path}: no summary.json (is it a finished bnas search run?)"]


def test_report_follows_no_link(run_dir: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture) -> None:
    """A ``report`` link planted in the run, or an ``--out`` that is a link: one line, exit 2,
    the link and what it points to as they were (the report used to be written, the link
    renamed, and then rmtree failed on it)."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("summary.json", "study.db"):
        (run / name).write_bytes((run_dir / name).read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.md").write_text("mine")
    (run / "report").symlink_to(elsewhere)
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"bnas: error: report folder {run / 'report'} leads out of the run folder "
                   f"through a link (to {elsewhere}): bnas follows no link out of a run folder"]
    link = tmp_path / "report-link"
    link.symlink_to(elsewhere)
    assert main(["report", str(run), "--out", str(link)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"output folder {link} is a link (to {elsewhere})" in err[0], err
    assert (run / "report").is_symlink() and link.is_symlink()
    assert [path.name for path in elsewhere.iterdir()] == ["notes.md"]
    assert sorted(path.name for path in run.iterdir()) == ["report", "study.db", "summary.json"]


def test_report_without_a_finished_trial(tmp_path: Path) -> None:
    space = SimpleNamespace(name="all-failed", search=SimpleNamespace(
        objectives={"val_top1": "max"}))
    trials = [_trial("x_00000", [S, S], None, None, "failed"),
              _trial("x_00001", [D, D], 0.0, 2e4, "infeasible", [])]
    trials[0]["error"] = "ValueError: boom"
    write_summary(build_summary(space, trials), tmp_path)
    assert main(["report", str(tmp_path)]) == 0
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "No trial finished training" in markdown and "ValueError: boom" in markdown
    assert "no study.db" in markdown
    assert not list((tmp_path / "report").glob("*.png"))


# -- plots from plain data ------------------------------------------------------------------------


def test_accuracy_vs_ops_plot(tmp_path: Path) -> None:
    trials = [
        _trial("r_00000", [S, S], 0.90, 100.0),
        _trial("r_00001", [S, D], 0.80, 50.0),
        _trial("r_00002", [D, D], 0.80, 60.0),               # dominated by r_00001
        _trial("r_00003", [D, S], 0.70, 10.0, "stopped"),
        _trial("r_00004", [D, D], 0.60, 20.0),               # dominated by r_00003
        _trial("r_00005", [D, D], None, None, "failed"),     # not plotted
        _trial("r_00006", [D, D], 0.0, 5.0, "infeasible"),   # not plotted
    ]
    data = plots.plot_accuracy_vs_cost(trials, tmp_path / "a.png", best_id="r_00000")
    _assert_png(tmp_path / "a.png")
    assert [p["trial_id"] for p in data["points"]] == [f"r_0000{i}" for i in range(5)]
    assert data["pareto"] == ["r_00003", "r_00001", "r_00000"]  # by OPs
    assert data["best"] == "r_00000"
    # the same trials priced in milliseconds, where the run had a latency table: its own front
    latency = {"r_00000": 0.30, "r_00001": 0.40, "r_00002": 0.20, "r_00003": 0.35}
    for trial in trials:
        if trial["trial_id"] in latency:
            trial["metrics"]["latency_ms"] = latency[trial["trial_id"]]
    data = plots.plot_accuracy_vs_cost(trials, tmp_path / "l.png", cost="latency_ms")
    _assert_png(tmp_path / "l.png")
    assert [p["trial_id"] for p in data["points"]] == [f"r_0000{i}" for i in range(4)]
    assert data["pareto"] == ["r_00002", "r_00000"]  # 0.2 ms at 80 %, 0.3 ms at 90 %


def test_best_so_far_follows_trial_numbers(tmp_path: Path) -> None:
    trials = [  # listed out of order, as a resumed run may list them
        _trial("q_00002", [S], 0.5, 1.0),
        _trial("q_00000", [S], 0.3, 1.0),
        _trial("q_00003", [S], None, None, "failed"),
        _trial("q_00001", [S], 0.7, 1.0, "stopped"),
        _trial("q_00004", [S], 0.6, 1.0),
    ]
    data = plots.plot_best_so_far(trials, tmp_path / "b.png")
    _assert_png(tmp_path / "b.png")
    rows = data["rows"]
    assert [r["trial_id"] for r in rows] == [f"q_0000{i}" for i in range(5)]
    assert [r["val_top1"] for r in rows] == [0.3, 0.7, 0.5, None, 0.6]
    assert [r["best"] for r in rows] == [0.3, 0.7, 0.7, 0.7, 0.7]


def test_trial_order_from_the_optuna_study(tmp_path: Path) -> None:
    """Ray 2.60's trial ids are random hashes: the study's numbers give the order."""
    suggested = []
    for i, (lr, blocks) in enumerate([(1e-3, [S]), (2e-3, [D]), (1e-3, [S]), (3e-3, [S])]):
        trial = _trial(f"{'fedcba'[i]}9e1c0{i}", blocks, 0.5 + i / 10, 1.0)
        trial["config"] = {"params": {"blocks.0.threshold": "static" if blocks == [S]
                                      else "dynamic", "train.lr": lr}}
        trial["arch_summary"] = f"arch{i}"
        suggested.append(trial)
    write_study(tmp_path, "order", {"val_top1": "max"}, suggested)
    listed = [suggested[i] for i in (3, 0, 2, 1)]  # as summary.json sorts them: by path
    study = load_run_study(tmp_path).study
    numbers = trial_numbers(study, listed)
    # Trials 0 and 2 share their parameters: matched in order.
    assert numbers == {t["trial_id"]: i for i, t in enumerate(suggested)}
    ordered = analysis.in_trial_order([{**t, "number": numbers[t["trial_id"]]} for t in listed])
    assert [t["trial_id"] for t in ordered] == [t["trial_id"] for t in suggested]
    assert [t["trial_id"] for t in analysis.in_trial_order(listed)] == [
        t["trial_id"] for t in listed]  # no numbers, no counters: summary order


def test_block_threshold_statistics(tmp_path: Path) -> None:
    trials = [
        _trial("b_00000", [S, S], 0.50, 1.0, history=[{"epoch": 1, "val_top1": 0.40},
                                                       {"epoch": 2, "val_top1": 0.50}]),
        _trial("b_00001", [S, D], 0.70, 1.0, history=[{"epoch": 1, "val_top1": 0.60},
                                                       {"epoch": 2, "val_top1": 0.70}]),
        _trial("b_00002", [D, SITES_D], 0.30, 1.0, "stopped",
               history=[{"epoch": 1, "val_top1": 0.30}]),
        _trial("b_00003", [S, S], None, None, "failed", history=[]),
    ]
    data = plots.plot_block_thresholds(trials, tmp_path / "c.png")
    _assert_png(tmp_path / "c.png")
    # Equal budget: the stopped trial ran 1 epoch, so everyone's best of epoch 1 counts.
    assert data["epochs"] == 1
    rows = {(r["block"], r["group"]): r for r in data["rows"]}
    assert rows[(0, "static")]["values"] == [0.40, 0.60]
    assert rows[(0, "static")]["mean"] == pytest.approx(0.50)
    assert rows[(0, "static")]["sd"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    assert rows[(0, "dynamic")]["values"] == [0.30] and rows[(0, "dynamic")]["sd"] is None
    # Block 1: b_00001 is dynamic everywhere, b_00002 at one site: both count as dynamic.
    assert rows[(1, "dynamic")]["trial_ids"] == ["b_00001", "b_00002"]
    assert rows[(1, "static")]["values"] == [0.40]
    assert [d["delta"] for d in data["deltas"]] == pytest.approx([-0.20, 0.05])
    # Without a stopped trial the budget is the full run and the values are val_top1.
    budget, accuracy = analysis.equal_budget_accuracy(trials[:2])
    assert budget == 2 and accuracy == {"b_00000": 0.50, "b_00001": 0.70}


# -- fANOVA -------------------------------------------------------------------------------------


def test_importance_on_the_real_study(run_dir: Path, tmp_path: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    result = param_importances(run_dir, summary)
    assert result.ok, result.note
    assert set(result.values) <= set(summary["trials"][0]["config"]["params"])
    assert sum(result.values.values()) == pytest.approx(1.0)
    assert result.trials == 3 and "1 over-budget excluded" in result.note
    data = plots.plot_importance(result.values, tmp_path / "d.png")
    _assert_png(tmp_path / "d.png")
    assert list(data["importances"]) == list(result.values)


def test_importance_skipped_with_a_note(tmp_path: Path) -> None:
    def study(name: str, trials: list) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for trial in trials:
            trial["arch_summary"] = trial["trial_id"]
        write_study(folder, name, {"val_top1": "max"}, trials)
        return folder

    one = _trial("o_00000", [S], 0.5, 1.0)
    one["config"] = {"params": {"blocks.0.threshold": "static", "train.lr": 1e-3}}
    result = param_importances(study("one-trial", [one]))
    assert not result.ok and "1 completed feasible trial" in result.note

    single = []
    for i, lr in enumerate((1e-3, 2e-3, 3e-3)):
        trial = _trial(f"s_0000{i}", [S], 0.5 + i / 10, 1.0)
        trial["config"] = {"params": {"train.lr": lr}}
        single.append(trial)
    result = param_importances(study("single-param", single))
    assert not result.ok and "1 parameter(s)" in result.note

    flat = []  # every trial told the same accuracy: fANOVA raised "zero total variance"
    for i, (kind, lr) in enumerate((("static", 1e-3), ("dynamic", 2e-3), ("static", 3e-3))):
        trial = _trial(f"f_0000{i}", [S], 0.125, 1.0)
        trial["config"] = {"params": {"blocks.0.threshold": kind, "train.lr": lr}}
        flat.append(trial)
    result = param_importances(study("flat", flat))
    assert not result.ok and result.note == (
        "skipped: the 3 completed feasible trials all have val_top1 0.125; fANOVA splits "
        "variance, and there is none")
