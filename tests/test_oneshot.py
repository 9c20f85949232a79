"""One-shot search end to end, and its pieces.

The end-to-end run is the real CLI in a subprocess (``python -m bnas search`` of
``search_spaces/oneshot_demo.yaml``, shrunk with ``--set``, random sampler): two supernets
(seeds) train side by side on Ray Train and are killed with SIGKILL in their second epoch;
``--resume`` goes on after the last complete epoch (one planted incomplete checkpoint is passed
over) while a second ``--resume``, an export and a report of the live run are refused; that run
is killed in the middle of the candidate search (candidates scored with both supernets on Ray
actors under a size budget) and resumed again, proposing no candidate of the first run a second
time; the best two candidates retrain (warm-started) on Ray Tune, killed again once one reported
and resumed to the end; then ``bnas export`` and ``bnas report`` read its run directory, and
copies of it, damaged, are refused or read with what is whole.
Every Ray process lives under a private ``RAY_TMPDIR`` (``tests/private_ray.py``) and is ended
by this module alone.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from private_ray import PrivateRay

from bnas.architecture import Architecture
from bnas.pareto import pareto_front

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "search_spaces" / "oneshot_demo.yaml"
LIMIT = 0.05  # MiB: all-static is 0.028, all-dynamic at r=2 on every site 0.102
# max_concurrent 3 × batch 3 per round; 3 evaluation workers of 1 CPU do not fit 2 CPUs: 2
# start (more would wait for resources forever), and the retraining runs 2 at a time
CANDIDATES, PER_ROUND, MAX_CONCURRENT = 18, 9, 3
SUPERNET_EPOCHS = 3
SMALL = [
    "--set", "data.subset=40", "--set", "train.epochs=1",
    "--set", f"search.supernet.epochs={SUPERNET_EPOCHS}", "--set", "search.algorithm=random",
    "--set", f"search.evaluate.candidates={CANDIDATES}", "--set", "search.evaluate.batch=3",
    "--set", f"search.max_concurrent={MAX_CONCURRENT}",
    "--set", "search.evaluate.top_k=2", "--set", "search.evaluate.warm_start=true",
    "--set", f"search.constraints.max_size_mib={LIMIT}", "--set", "search.supernet.seeds=2",
]
RAY = PrivateRay()


@pytest.fixture(scope="module", autouse=True)
def no_ray_left_behind():
    yield
    RAY.remove()


def bnas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bnas", *args], capture_output=True, text=True,
                          timeout=600, env=RAY.env(), cwd=REPO)


def journal_trials(run_dir: Path) -> list:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(run_dir / "study.journal")))
    return optuna.load_study(study_name=run_dir.name, storage=storage).get_trials()


def read_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "candidates.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def run_until_killed(args: list[str], pattern: str,
                     while_live: tuple[str, Callable[[int], None]] | None = None) -> str:
    """Run ``bnas ARGS`` until a line of its output matches ``pattern``, then SIGKILL it and
    every Ray process it started; its output so far. ``while_live``: (a pattern, a function
    of the process id) called once, while the run goes on, at the first line matching it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bnas", *args], cwd=REPO, env=RAY.env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        if while_live is not None and re.search(while_live[0], line):
            while_live[1](process.pid)
            while_live = None
        if re.search(pattern, line):
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait()
    process.stdout.close()
    RAY.stop()
    return "".join(lines)


RETRAINED = r"\] trial\s+(\d+)/2 .*epoch 1/1"


def complete_epochs(run_dir: Path) -> list[int]:
    """Epochs of the supernet checkpoints whose every file is whole (read here, with
    safetensors and json alone)."""
    from safetensors import safe_open

    whole = []
    for folder in sorted((run_dir / "supernet").glob("epoch_*")):
        try:
            epochs = set()
            for seed in ("seed_0", "seed_1"):
                for name in ("model.safetensors", "optimizer.safetensors"):
                    with safe_open(str(folder / seed / name), framework="numpy"):
                        pass
                epochs.add(json.loads((folder / seed / "trainer_state.json").read_text())[
                    "epoch"])
        except Exception:  # noqa: BLE001 - mid-copy: any file may be missing or short
            continue
        if len(epochs) == 1:
            whole.append(epochs.pop())
    return whole


def plant_an_incomplete_checkpoint(run_dir: Path, after: int) -> Path:
    """What a kill while Ray copies epoch ``after + 1``'s checkpoint leaves: its files, the
    weights cut short. Returns the weights file."""
    source = run_dir / "supernet" / f"epoch_{after:04d}"
    target = run_dir / "supernet" / f"epoch_{after + 1:04d}"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    for seed in ("seed_0", "seed_1"):
        state = json.loads((target / seed / "trainer_state.json").read_text())
        (target / seed / "trainer_state.json").write_text(
            json.dumps({**state, "epoch": after + 1}))
    weights = target / "seed_1" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    return weights


def refused_while_live(run_dir: Path, where: list[str], found: dict) -> Callable[[int], None]:
    """A ``while_live`` check: a second resume, an export and a report of the live run, all
    at once; their (exit code, stderr) and the live process id go into ``found``."""
    def check(pid: int) -> None:
        commands = [["search", str(SPACE), *where, "--resume"], ["export", str(run_dir)],
                    ["report", str(run_dir)]]
        others = [subprocess.Popen([sys.executable, "-m", "bnas", *command], cwd=REPO,
                                   env=RAY.env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for command in commands]
        found.update(pid=pid, results=[(other.wait(timeout=120), other.communicate()[1])
                                       for other in others])

    return check


@pytest.fixture(scope="module")
def oneshot_run(tmp_path_factory):
    """Search, SIGKILL in the supernet's second epoch, resume (refusing other commands while
    it runs), SIGKILL after the first round of candidates is saved, resume, SIGKILL once a
    retraining reported, resume to the end."""
    storage = tmp_path_factory.mktemp("runs")
    run_dir = storage / "os"
    where = ["--storage", str(storage), "--name", "os"]
    first = run_until_killed(["search", str(SPACE), *where, *SMALL],
                             rf"supernet epoch 1/{SUPERNET_EPOCHS}\b")
    assert f"supernet epoch 1/{SUPERNET_EPOCHS}" in first, first[-3000:]
    complete = max(complete_epochs(run_dir))
    assert complete < SUPERNET_EPOCHS, "killed after the supernet was trained"
    truncated = plant_an_incomplete_checkpoint(run_dir, complete)
    supernet_seconds = json.loads((run_dir / "oneshot.json").read_text())["phases"][
        "supernet"]["seconds"]

    live: dict = {}
    supernet_resumed = run_until_killed(
        ["search", str(SPACE), *where, "--resume"], rf"candidates\s+{PER_ROUND}/{CANDIDATES}\b",
        while_live=("resuming after epoch", refused_while_live(run_dir, where, live)))
    assert re.search(rf"candidates\s+{PER_ROUND}/", supernet_resumed), supernet_resumed[-3000:]
    told_before_kill = len(journal_trials(run_dir))
    assert not (run_dir / "summary.json").exists()  # killed mid-run

    resumed = run_until_killed(["search", str(SPACE), *where, "--resume"], RETRAINED)
    assert re.search(RETRAINED, resumed), resumed[-3000:]
    assert not (run_dir / "summary.json").exists()
    retrain_dirs = sorted(path.name for path in run_dir.glob("trial_*"))
    finished = bnas("search", str(SPACE), *where, "--resume")
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"run_dir": run_dir, "summary": summary, "first": first,
            "supernet_resumed": supernet_resumed, "resumed": resumed,
            "finished": finished.stdout, "told_before_kill": told_before_kill,
            "retrain_dirs_at_kill": retrain_dirs, "complete_at_kill": complete,
            "truncated": truncated, "supernet_seconds_at_kill": supernet_seconds,
            "live": live, "where": where}


def test_the_best_scored_candidates_are_retrained_with_their_supernet_scores(oneshot_run):
    run_dir, summary = oneshot_run["run_dir"], oneshot_run["summary"]
    rows = read_rows(run_dir)
    scored = [r for r in rows if r["status"] == "scored"]
    best_two = sorted(scored, key=lambda r: (-float(r["val_top1"]), float(r["ops"]),
                                             int(r["number"])))[:2]
    trials = summary["trials"]
    assert [t["number"] for t in trials] == sorted(int(r["number"]) for r in best_two)
    by_number = {int(r["number"]): r for r in rows}
    for trial in trials:
        assert trial["status"] == "completed" and trial["epochs_run"] == 1
        row = by_number[trial["number"]]
        assert trial["metrics"]["supernet_val_top1"] == float(row["val_top1"])
        assert trial["arch_summary"] == row["arch"]
        assert 0.0 < trial["metrics"]["val_top1"] <= 1.0
        assert (run_dir / trial["checkpoint"] / "model.safetensors").is_file()
        assert trial["node_ip"] == "127.0.0.1"  # an embedded cluster stays on loopback
    oneshot = summary["oneshot"]
    assert oneshot["candidates_scored"] == len(scored)
    phases = oneshot["phases"]
    assert list(phases) == ["supernet", "search", "retrain"]
    # every epoch of both seeds once, though two processes trained them
    assert phases["supernet"]["candidate_epochs"] == SUPERNET_EPOCHS * 2.0
    assert phases["supernet"]["processes"] == 2
    assert phases["retrain"]["candidate_epochs"] == 2.0  # 2 candidates × 1 epoch
    assert phases["search"]["candidate_epochs"] > 0
    assert all(phase["seconds"] > 0 for phase in phases.values())
    assert "one-shot cost:" in oneshot_run["finished"]
    assert "2 workers on 127.0.0.1" in oneshot_run["first"]  # Ray Train's too: one per seed
    workers = os.cpu_count() or 1
    if workers < MAX_CONCURRENT:  # as many evaluation workers as fit, never one waiting
        assert (f"candidate search: {workers} evaluation worker(s), not search.max_concurrent "
                f"{MAX_CONCURRENT}: the cluster has {workers} CPUs, 1 per worker"
                ) in oneshot_run["supernet_resumed"]


def test_two_supernet_seeds_score_every_candidate_and_the_search_follows_their_mean(
        oneshot_run):
    run_dir, summary = oneshot_run["run_dir"], oneshot_run["summary"]
    epoch = run_dir / summary["oneshot"]["supernet_checkpoint"]
    assert sorted(path.name for path in epoch.iterdir()) == ["seed_0", "seed_1"]
    history = json.loads((run_dir / "supernet" / "history.json").read_text())
    assert [seed["seed_index"] for seed in history[-1]["seeds"]] == [0, 1]
    assert len({seed["weights_checksum"] for seed in history[-1]["seeds"]}) == 2
    scored = [r for r in read_rows(run_dir) if r["status"] == "scored"]
    for row in scored:
        seeds = [float(row["val_top1_seed0"]), float(row["val_top1_seed1"])]
        assert float(row["val_top1"]) == pytest.approx(sum(seeds) / 2, abs=1e-12)
    assert any(r["val_top1_seed0"] != r["val_top1_seed1"] for r in scored)  # two networks
    oneshot = summary["oneshot"]
    assert oneshot["seeds"] == 2
    effects = oneshot["site_effects"]
    assert effects and all(len(e["per_seed"]) == 2 for e in effects)
    def sign(value: float) -> int:  # ±1e-17 from scores that do not depend on a site: 0
        return 0 if abs(value) < 1e-9 else (1 if value > 0 else -1)

    assert all(e["seeds_agree"] == (sign(e["per_seed"][0]) == sign(e["per_seed"][1]))
               for e in effects)
    assert [pair["seeds"] for pair in oneshot["seed_rank_agreement"]] == [[0, 1]]
    assert "site effects (dynamic − static" in oneshot_run["resumed"]


def test_a_killed_candidate_search_resumes_from_the_candidates_it_told(oneshot_run):
    run_dir, told = oneshot_run["run_dir"], oneshot_run["told_before_kill"]
    assert PER_ROUND <= told < CANDIDATES
    rows = read_rows(run_dir)
    assert sorted(int(r["number"]) for r in rows) == list(range(CANDIDATES))
    resumed = oneshot_run["resumed"]
    assert f"resuming after {told} candidates" in resumed
    assert "supernet epoch" not in resumed  # the finished supernet is not trained again
    rounds = re.findall(rf"candidates\s+(\d+)/{CANDIDATES}", resumed)
    assert rounds and int(rounds[-1]) == CANDIDATES
    # The sampler goes on: a sampler rebuilt from its seed proposed the first run's
    # candidates once more, one for one (the same architecture drawn at the same place by
    # chance: all-static, 1 in 16 here, is the likeliest at 1 in 256).
    rows.sort(key=lambda r: int(r["number"]))
    compared = min(told, CANDIDATES - told)
    again = sum(rows[told + i]["params"] == rows[i]["params"] for i in range(compared))
    assert again <= 1, f"{again} of {compared} proposed again at the same place"


def test_a_supernet_killed_in_an_epoch_resumes_after_its_last_complete_one(oneshot_run):
    run_dir, complete = oneshot_run["run_dir"], oneshot_run["complete_at_kill"]
    resumed = oneshot_run["supernet_resumed"]
    assert (f"supernet: not resuming from an incomplete checkpoint: "
            f"{oneshot_run['truncated']} is truncated") in resumed
    assert f"; resuming after epoch {complete}\n" in resumed
    epochs = [int(epoch) for epoch in re.findall(rf"supernet epoch (\d+)/{SUPERNET_EPOCHS}",
                                                 resumed)]
    assert epochs == list(range(complete + 1, SUPERNET_EPOCHS + 1))  # none trained twice
    history = json.loads((run_dir / "supernet" / "history.json").read_text())
    assert [record["epoch"] for record in history] == list(range(1, SUPERNET_EPOCHS + 1))
    assert [path.name for path in (run_dir / "supernet").glob("epoch_*")] == [
        f"epoch_{SUPERNET_EPOCHS:04d}"]  # the resumed-from and the incomplete one are gone
    # the cost adds both processes' time: the killed one's, as it had been recorded, and
    # the resumed one's (at least until its last epoch's line)
    phase = oneshot_run["summary"]["oneshot"]["phases"]["supernet"]
    resumed_seconds = float(re.findall(r"\[\s*([\d.]+)s\] supernet epoch", resumed)[-1])
    assert oneshot_run["supernet_seconds_at_kill"] > 0
    assert phase["seconds"] >= oneshot_run["supernet_seconds_at_kill"] + resumed_seconds


def test_a_live_run_refuses_a_second_resume_an_export_and_a_report(oneshot_run):
    live = oneshot_run["live"]
    in_use = (f"bnas: error: {oneshot_run['run_dir']} is in use by bnas search --resume "
              f"(PID {live['pid']}): one bnas command at a time works on a run folder")
    assert len(live["results"]) == 3
    for code, stderr in live["results"]:
        assert code == 2 and stderr.strip().splitlines() == [in_use + "; wait for it to end, "
                                                             "or stop it"], stderr[-2000:]


def _damaged_copy(oneshot_run, tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / "os"
    shutil.copytree(oneshot_run["run_dir"], copy, symlinks=True)
    return copy


def _resume_refused(copy: Path, capsys, monkeypatch) -> str:  # noqa: ANN001
    """``bnas search --resume`` of ``copy`` in this process: exit 2 before Ray starts; the
    one line."""
    import bnas.search.oneshot
    from bnas.cli import main

    def no_ray(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("Ray started on a damaged run")

    monkeypatch.setattr(bnas.search.oneshot, "ray_session", no_ray)
    assert main(["search", str(SPACE), "--name", copy.name, "--storage", str(copy.parent),
                 "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bnas: error: "), err
    return err[0]


def test_a_damaged_supernet_or_phase_record_is_one_line_before_ray_starts(
        oneshot_run, tmp_path, capsys, monkeypatch):
    copy = _damaged_copy(oneshot_run, tmp_path)
    state = json.loads((copy / "oneshot.json").read_text())
    weights = copy / state["phases"]["supernet"]["checkpoint"] / "seed_0" / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[: len(original) // 2])
    assert f"supernet: {weights} is truncated or has trailing bytes" in _resume_refused(
        copy, capsys, monkeypatch)
    weights.write_bytes(original)
    for field, value, expected in (
            ("checkpoint", "../../other-run/supernet/epoch_0003",
             "phases.supernet.checkpoint: '../../other-run/supernet/epoch_0003' lies outside "
             "the run folder"),
            ("seconds", "high", "phases.supernet.seconds: expected a number, got 'high'")):
        damaged = json.loads(json.dumps(state))
        damaged["phases"]["supernet"][field] = value
        (copy / "oneshot.json").write_text(json.dumps(damaged))
        assert f"{copy / 'oneshot.json'}: {expected}" in _resume_refused(copy, capsys,
                                                                        monkeypatch)
    other = tmp_path / "other-supernet"
    shutil.copytree(copy / state["phases"]["supernet"]["checkpoint"], other)
    (copy / "supernet-link").symlink_to(other)
    state["phases"]["supernet"]["checkpoint"] = "supernet-link"
    (copy / "oneshot.json").write_text(json.dumps(state))
    assert (f"oneshot.json supernet.checkpoint {copy / 'supernet-link'} leads out of the run "
            "folder through a link") in _resume_refused(copy, capsys, monkeypatch)


def test_a_damaged_journal_is_reported_over_what_is_whole(oneshot_run, tmp_path, capsys):
    from bnas.cli import main

    copy = _damaged_copy(oneshot_run, tmp_path)
    journal = copy / "study.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    trial_lines = [number for number, line in enumerate(lines)
                   if json.loads(line)["op_code"] == 4]  # Optuna's CREATE_TRIAL
    damaged = trial_lines[2]
    lines[damaged] = lines[damaged][:20] + b"\n"  # one candidate's line damaged in the middle
    kept = lines[: trial_lines[CANDIDATES // 2]]  # and the file cut in half
    journal.write_bytes(b"".join(kept))
    assert main(["report", str(copy)]) == 0
    out = capsys.readouterr().out
    held = CANDIDATES // 2 - 1
    assert (f"study.journal: 1 damaged line ({damaged + 1}) skipped: the study holds {held} "
            f"of the run's {CANDIDATES} candidates (its file is damaged or cut short)") in out


def test_a_search_killed_while_retraining_resumes_its_tune_experiment(oneshot_run):
    finished = oneshot_run["finished"]
    assert "retraining: resuming the Ray Tune experiment" in finished
    assert "supernet epoch" not in finished
    assert not re.search(r"candidates\s+\d+/", finished)  # no candidate scored again
    # Tune's own trials went on (work since its last snapshot is done again), none was added
    trials = oneshot_run["summary"]["trials"]
    assert oneshot_run["retrain_dirs_at_kill"]  # one had reported
    assert set(oneshot_run["retrain_dirs_at_kill"]) <= {t["path"] for t in trials}
    assert [t["status"] for t in trials] == ["completed", "completed"]


def test_over_budget_candidates_are_told_but_never_scored(oneshot_run):
    run_dir, told = oneshot_run["run_dir"], oneshot_run["told_before_kill"]
    rows = read_rows(run_dir)
    over = [r for r in rows if r["status"] == "over_budget"]
    within = [r for r in rows if r["status"] != "over_budget"]
    assert over and within, [r["status"] for r in rows]
    assert all(float(r["size_mib"]) > LIMIT and r["val_top1"] == "" for r in over)
    assert all(float(r["size_mib"]) <= LIMIT and r["val_top1"] != "" for r in within)
    # The workers of the resumed process scored exactly its new, distinct, feasible candidates.
    scored_here = sum(r["status"] == "scored" and int(r["number"]) >= told for r in rows)
    work = re.search(r"the workers scored (\d+) candidates", oneshot_run["resumed"])
    assert work and int(work[1]) == scored_here
    constraints = {t.number: max(t.constraints.values()) for t in journal_trials(run_dir)}
    assert all(constraints[int(r["number"])] > 0 for r in over)
    assert all(constraints[int(r["number"])] <= 0 for r in within)


def _supernets_and_batches(run_dir: Path):
    """The run's supernets (one per seed) and the scoring batches, built here from the
    documented recipe."""
    from bnas.search.run_dir import load_run_space
    from bnas.supernet import load_supernet
    from bnas.supernet.training import scoring_batches, supernet_data

    space = load_run_space(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    epoch = run_dir / summary["oneshot"]["supernet_checkpoint"]
    supernets = [load_supernet(space, epoch / f"seed_{i}") for i in range(2)]
    calibration, ranking = scoring_batches(space, supernet_data(space))
    return supernets, calibration, ranking


def test_scores_are_evaluate_candidates_and_warm_starts_are_extractions(oneshot_run,
                                                                       one_torch_thread):
    from safetensors.torch import load_file

    from bnas.supernet import evaluate_candidate

    run_dir, summary = oneshot_run["run_dir"], oneshot_run["summary"]
    supernets, calibration, ranking = _supernets_and_batches(run_dir)
    scored = [r for r in read_rows(run_dir) if r["status"] == "scored"]
    for row in random.Random(0).sample(scored, 3):
        arch = Architecture.from_dict(json.loads(row["architecture"]))
        for seed, supernet in enumerate(supernets):
            here = evaluate_candidate(supernet, arch, calibration, ranking,
                                      device=torch.device("cpu"))
            assert here["top1"] == float(row[f"val_top1_seed{seed}"]), row["arch"]
            assert here["loss"] == pytest.approx(float(row[f"val_loss_seed{seed}"]), abs=1e-6)
    supernet = supernets[0]  # warm starts come from the first seed's supernet
    for trial in summary["trials"]:
        arch = Architecture.from_dict(trial["arch"])
        evaluate_candidate(supernet, arch, calibration, ranking, device=torch.device("cpu"))
        expected = supernet.extract(arch).state_dict()
        path = run_dir / "warm_start" / f"candidate_{trial['number']}.safetensors"
        saved = load_file(str(path))
        assert set(saved) == set(expected)
        for name, tensor in expected.items():
            torch.testing.assert_close(saved[name], tensor.cpu(), atol=1e-6, rtol=0)
        params = json.loads((run_dir / trial["path"] / "params.json").read_text())
        assert params["init_weights"] == str(path)


def test_export_and_report_read_a_oneshot_run(oneshot_run):
    run_dir = oneshot_run["run_dir"]
    exported = bnas("export", str(run_dir), "--top-k", "2", "--onnx")
    assert exported.returncode == 0, exported.stdout[-2000:] + exported.stderr[-2000:]
    for folder in ("top1", "top2"):
        assert (run_dir / "export" / folder / "model.onnx").is_file()
    reported = bnas("report", str(run_dir))
    assert reported.returncode == 0, reported.stderr[-2000:]
    report = (run_dir / "report" / "report.md").read_text()
    assert "## One-shot search" in report and "Kendall's τ" in report
    for figure in ("supernet_vs_standalone", "best_so_far", "block_thresholds"):
        assert (run_dir / "report" / f"{figure}.png").is_file(), figure
    assert "The candidate search on the supernet" in report  # progress drawn over candidates
    # Per-site effects: every site with both seeds' effects, the seeds' agreement said.
    assert (run_dir / "report" / "site_effects.png").is_file()
    section = report[report.index("## Where DySign pays"):]
    effects = oneshot_run["summary"]["oneshot"]["site_effects"]
    for effect in effects:
        assert f"b{effect['block']}.{effect['site']}" in section
        for value in effect["per_seed"]:
            assert f"{100 * value:+.2f}" in section
    if any(not e["seeds_agree"] for e in effects):
        assert "**Warning**" in section
    assert "seed 0 vs seed 1" in section


# -- pieces without Ray -------------------------------------------------------------------------


def test_front_tracker_keeps_what_pareto_front_finds():
    from bnas.search.candidates import SCORED, Candidate, FrontTracker

    rng = random.Random(0)
    arch = Architecture.uniform("reactnet_a", "static", preset="tiny")
    candidates = [Candidate(i, arch, {}, {"ops": rng.choice([1, 2, 3, 4]) * 1e3,
                                          "params_binary": 0, "params_real": 0},
                            SCORED, {"val_top1": rng.choice([0.5, 0.6, 0.7, 0.8])})
                  for i in range(60)]
    objectives = {"val_top1": "max", "ops": "min"}
    tracker = FrontTracker(objectives)
    for candidate in candidates:
        tracker.add(candidate)
    front = pareto_front([c.metrics for c in candidates], objectives)
    expected = {(c.metrics["val_top1"], c.metrics["ops"]) for c in (candidates[i] for i in front)}
    kept = tracker.candidates()
    # One candidate per point of the front (an equal point proposed later adds nothing).
    assert sorted((c.metrics["val_top1"], c.metrics["ops"]) for c in kept) == sorted(expected)


def test_candidate_list_suggests_each_config_once_across_a_restore(tmp_path):
    from ray.tune.search import Searcher

    from bnas.search.oneshot import CandidateList

    configs = [{"b0.threshold": "static", "optuna_number": 3},
               {"b0.threshold": "dynamic", "optuna_number": 7}]
    first = CandidateList(configs)
    assert first.suggest("a") == configs[0]
    first.save(str(tmp_path / "state.json"))
    restored = CandidateList([])
    restored.restore(str(tmp_path / "state.json"))
    assert restored.suggest("b") == configs[1]
    assert restored.suggest("c") == Searcher.FINISHED


# -- the candidate search without Ray: the same loop, scored in this process --------------------

GRID_SPACE = """\
name: grid
backbone: {name: reactnet_a, preset: tiny, in_chans: 1, img_size: 8, num_classes: 10}
space:
  blocks: {threshold: [static, dynamic], rd_ratio: [2], sites: [[conv3x3, conv1x1]]}
data: {name: digits, subset: 20}
train: {epochs: 1, batch_size: 32}
search:
  strategy: oneshot
  algorithm: grid
  supernet: {epochs: 1, sampling: uniform}
  evaluate: {candidates: 100, batch: 4, bn_batches: 1}
"""


class InProcessWorkers:
    """search_candidates' workers, scoring with a real CandidateScorer in this process."""

    def __init__(self, space, checkpoint: Path) -> None:
        from bnas.supernet.scoring import CandidateScorer

        self.scorer = CandidateScorer.from_checkpoints(space, [checkpoint])
        self.scored: list[str] = []

    def start(self) -> None:
        """Nothing to start."""

    def score(self, archs: list) -> list[dict]:
        self.scored += [arch.arch_id for arch in archs]
        return self.scorer.score_many(archs)

    def work(self) -> tuple[int, float]:
        return len(self.scored), 1.0

    def scoring_images(self) -> tuple[int, int]:
        data = self.scorer.data
        return data.images_per_candidate, data.train_images


@pytest.fixture(scope="module")
def grid_supernet(tmp_path_factory):
    from bnas.space import parse_space
    from bnas.supernet import train_supernet

    space = parse_space(GRID_SPACE, "grid.yaml")
    out = tmp_path_factory.mktemp("supernet")
    return train_supernet(space, out_dir=out, device="cpu", threads=1).checkpoint


def test_grid_scores_every_architecture_once_and_nsga2_resumes(grid_supernet, tmp_path,
                                                               one_torch_thread):
    from bnas.search.candidates import SCORED, search_candidates
    from bnas.space import parse_space

    grid = parse_space(GRID_SPACE, "grid.yaml")
    assert grid.search.evaluate.candidates == grid.size() == 16  # capped to the grid
    workers = InProcessWorkers(grid, grid_supernet)
    (tmp_path / "grid").mkdir()
    outcome = search_candidates(grid, tmp_path / "grid", workers, name="grid", log=lambda _: None)
    assert sorted(c.arch.arch_id for c in outcome.candidates) == sorted(
        arch.arch_id for arch in grid.enumerate())
    assert all(c.status == SCORED for c in outcome.candidates)
    assert len(workers.scored) == 16

    nsga2 = parse_space(GRID_SPACE.replace("algorithm: grid", "algorithm: nsga2\n  objectives: "
                                           "{val_top1: max, size_mib: min}"), "nsga2.yaml")
    nsga2.search.evaluate.candidates = 16
    half = nsga2.model_copy(deep=True)
    half.search.evaluate.candidates = 8
    run_dir = tmp_path / "nsga2"
    run_dir.mkdir()
    first = search_candidates(half, run_dir, InProcessWorkers(half, grid_supernet), name="n",
                              log=lambda _: None)
    lines: list[str] = []
    workers = InProcessWorkers(nsga2, grid_supernet)
    whole = search_candidates(nsga2, run_dir, workers, name="n", log=lines.append)
    assert "candidate search: resuming after 8 candidates" in lines
    assert [c.number for c in whole.candidates] == list(range(16))
    assert [(c.arch.arch_id, c.scores) for c in whole.candidates[:8]] == [
        (c.arch.arch_id, c.scores) for c in first.candidates]
    earlier = {c.arch.arch_id for c in first.candidates if c.status == SCORED}
    assert not earlier & set(workers.scored)  # what was scored is not scored again
    front = {(c.metrics["val_top1"], c.metrics["size_mib"]) for c in whole.front}
    scored = [c.metrics for c in whole.candidates if c.status == SCORED]
    expected = pareto_front(scored, {"val_top1": "max", "size_mib": "min"})
    assert front == {(scored[i]["val_top1"], scored[i]["size_mib"]) for i in expected}


def test_a_damaged_journal_resumes_from_what_is_whole_and_says_what_was_lost(
        grid_supernet, tmp_path, one_torch_thread):
    from bnas.search.candidates import search_candidates
    from bnas.space import parse_space

    space = parse_space(GRID_SPACE.replace("algorithm: grid", "algorithm: random"), "r.yaml")
    space.search.evaluate.candidates = 12
    half = space.model_copy(deep=True)
    half.search.evaluate.candidates = 8
    search_candidates(half, tmp_path, InProcessWorkers(half, grid_supernet), name="r",
                      log=lambda _: None)
    journal = tmp_path / "study.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    trial_lines = [number for number, line in enumerate(lines)
                   if json.loads(line)["op_code"] == 4]  # Optuna's CREATE_TRIAL
    assert len(trial_lines) == 8
    lines[trial_lines[3]] = b'{"op_code": 4, "study_id": 0, "sta\n'
    journal.write_bytes(b"".join(lines))
    log: list[str] = []
    whole = search_candidates(space, tmp_path, InProcessWorkers(space, grid_supernet),
                              name="r", log=log.append, told_before=8)
    assert log[:3] == [
        f"candidate search: study.journal: 1 damaged line ({trial_lines[3] + 1}) dropped, 7 "
        "candidates recovered",
        "candidate search: study.journal holds 7 of the 8 candidates told before: 1 lost (the "
        "file was damaged or cut short) are proposed anew",
        "candidate search: resuming after 7 candidates"]
    assert [c.number for c in whole.candidates] == list(range(12))
    assert b"sta\n" not in journal.read_bytes()  # the journal the search goes on with is whole
