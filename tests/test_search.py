"""End-to-end searches with a real Ray: local, on a 2-node loopback cluster, killed and resumed.

Each search is the real CLI in a subprocess (``python -m bnas search``), on the digits demo
space shrunk with ``--set`` so the whole file runs in a few minutes on 2 cores. Every Ray
process these tests start lives under one private temp dir (``RAY_TMPDIR``), and teardown
ends exactly those processes: ``ray stop`` would also end other Ray clusters on the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bnas.pareto import pareto_front

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "search_spaces" / "demo_digits.yaml"
pytestmark = pytest.mark.slow


# Short: Ray puts Unix sockets below it, and their paths may not exceed 107 bytes.
RAY_TMP = tempfile.mkdtemp(prefix="bnas-ray-", dir="/tmp")


def ray_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_TMPDIR": RAY_TMP, **extra}


def bnas(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bnas", *args], capture_output=True, text=True,
        timeout=600, env=env or ray_env(), cwd=REPO,
    )


def ray_stop() -> None:
    """SIGKILL every process started with this module's ``RAY_TMPDIR`` (its environment or
    command line names the temp dir; Ray renames some processes, e.g. ``ray::DashboardAgent``,
    but they inherit the environment)."""
    marker = RAY_TMP.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes() or marker in (
                proc / "cmdline"
            ).read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
        except OSError:
            continue
    time.sleep(1)
    # A dead cluster's address file would make the next `ray start` / ray.init look for it.
    Path(RAY_TMP, "ray", "ray_current_cluster").unlink(missing_ok=True)


@pytest.fixture(scope="module", autouse=True)
def no_ray_left_behind():
    yield
    ray_stop()
    shutil.rmtree(RAY_TMP, ignore_errors=True)


SMALL = [
    "--set", "search.num_samples=6",
    "--set", "train.epochs=4",
    "--set", "search.scheduler.asha.grace_period=1",
    "--set", "search.scheduler.asha.reduction_factor=2",
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    storage = tmp_path_factory.mktemp("runs")
    started = time.monotonic()
    done = bnas("search", str(DEMO), "--storage", str(storage), "--name", "demo", *SMALL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = storage / "demo"
    return run_dir, json.loads((run_dir / "summary.json").read_text()), done.stdout, (
        time.monotonic() - started
    )


def test_demo_search_lists_every_trial_and_asha_stops_some(demo_run):
    run_dir, summary, stdout, _ = demo_run
    trials = summary["trials"]
    assert len(trials) == 6
    assert len({t["trial_id"] for t in trials}) == 6
    for trial in trials:
        assert {"arch", "config", "metrics", "status"} <= set(trial)
        assert trial["status"] in ("completed", "stopped", "infeasible")
        assert 0.0 <= trial["metrics"]["val_top1"] <= 1.0
        assert trial["metrics"]["ops"] > 0
    statuses = [t["status"] for t in trials]
    assert "stopped" in statuses, statuses  # ASHA cut at least one trial short
    assert "completed" in statuses
    assert any(t["epochs_run"] < 4 for t in trials if t["status"] == "stopped")
    best = summary["best"]
    assert best["metrics"]["val_top1"] == max(t["metrics"]["val_top1"] for t in trials)
    assert (run_dir / "space.yaml").read_text() == DEMO.read_text()
    assert (run_dir / "study.db").is_file()
    assert best["arch_summary"] in stdout and "best:" in stdout


def test_summary_pareto_set_is_the_non_dominated_trials(demo_run):
    _, summary, _, _ = demo_run
    trained = [t for t in summary["trials"] if t["status"] in ("completed", "stopped")]
    front = pareto_front([t["metrics"] for t in trained], summary["pareto_objectives"])
    assert sorted(summary["pareto"]) == sorted(trained[i]["trial_id"] for i in front)


def test_each_trial_writes_tensorboard_events_and_a_checkpoint(demo_run):
    run_dir, summary, _, _ = demo_run
    events = list(run_dir.rglob("events.out.tfevents.*"))
    assert len(events) >= len(summary["trials"])
    for trial in summary["trials"]:
        assert (run_dir / trial["checkpoint"] / "model.safetensors").is_file()


def test_existing_run_is_not_overwritten(demo_run):
    run_dir, _, _, _ = demo_run
    done = bnas("search", str(DEMO), "--storage", str(run_dir.parent), "--name", "demo")
    assert done.returncode == 2
    assert "already holds a run" in done.stderr


def test_failing_trial_is_marked_failed_with_its_reason(tmp_path):
    # lr 1e30 blows the weights up to inf within a step: the trial must fail, not train on NaN.
    done = bnas(
        "search", str(DEMO), "--storage", str(tmp_path), "--name", "nan",
        "--set", "search.num_samples=2", "--set", "train.epochs=2",
        "--set", "train.lr=1e30", "--set", "search.scheduler=none",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "nan" / "summary.json").read_text())
    assert [t["status"] for t in summary["trials"]] == ["failed", "failed"]
    assert all("nan" in t["error"].lower() or "inf" in t["error"].lower()
               for t in summary["trials"])
    assert summary["best"] is None


def completed_trial_dirs(run_dir: Path, epochs: int) -> list[Path]:
    """Trial folders whose last reported epoch is the final one."""
    finished = []
    for result in run_dir.glob("*/result.json"):
        lines = [line for line in result.read_text().splitlines() if line.strip()]
        if lines and json.loads(lines[-1]).get("training_iteration") == epochs:
            finished.append(result.parent)
    return finished


def test_sigkill_then_resume_keeps_completed_trials_exactly_once(tmp_path):
    args = [
        sys.executable, "-m", "bnas", "search", str(DEMO), "--storage", str(tmp_path),
        "--name", "killed", "--set", "search.num_samples=6", "--set", "train.epochs=3",
        "--set", "search.scheduler=none", "--set", "search.max_concurrent=1",
    ]
    process = subprocess.Popen(
        args, cwd=REPO, env=ray_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    run_dir = tmp_path / "killed"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(completed_trial_dirs(run_dir, 3)) < 2:
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = {path.name for path in completed_trial_dirs(run_dir, 3)}
    assert 2 <= len(before) < 6, before
    assert not (run_dir / "summary.json").exists()  # killed mid-run
    ray_stop()

    done = bnas("search", str(DEMO), "--storage", str(tmp_path), "--name", "killed", "--resume")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    paths = [Path(t["path"]).name for t in summary["trials"]]
    assert len(paths) == len(set(paths)) == 6
    assert before <= set(paths)
    assert all(t["status"] == "completed" for t in summary["trials"])


def test_two_node_loopback_cluster_runs_trials_on_both_nodes(tmp_path):
    ray = str(Path(sys.executable).with_name("ray"))
    # Token auth: joining nodes fail with InvalidAuthToken without it. Multi-node on: a library
    # caller may have set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, which makes worker nodes refuse.
    env = ray_env(RAY_AUTH_MODE="token", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1")
    ray_stop()
    head = subprocess.run(
        [ray, "start", "--head", "--node-ip-address=127.0.0.2", "--port=6399", "--num-cpus=1",
         "--object-store-memory=200000000", "--include-dashboard=false",
         "--disable-usage-stats"],
        capture_output=True, text=True, env=env, timeout=180,
    )
    assert head.returncode == 0, head.stderr[-2000:]
    try:
        worker = subprocess.run(
            [ray, "start", "--address=127.0.0.2:6399", "--node-ip-address=127.0.0.3",
             "--num-cpus=1", "--object-store-memory=200000000", "--disable-usage-stats"],
            capture_output=True, text=True, env=env, timeout=180,
        )
        assert worker.returncode == 0, worker.stderr[-2000:]
        done = bnas(
            "search", str(DEMO), "--storage", str(tmp_path), "--name", "cluster",
            "--address", "127.0.0.2:6399", "--set", "search.num_samples=4",
            "--set", "train.epochs=2", "--set", "search.scheduler=none", env=env,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        summary = json.loads((tmp_path / "cluster" / "summary.json").read_text())
        assert len(summary["trials"]) == 4
        assert {t["node_ip"] for t in summary["trials"]} == {"127.0.0.2", "127.0.0.3"}
    finally:
        ray_stop()


def test_over_budget_candidates_are_not_trained_and_told_to_optuna(tmp_path):
    import optuna

    limit = 0.04  # MiB: all-static is 0.028, all-dynamic at r=2 on every site 0.102
    done = bnas(
        "search", str(DEMO), "--storage", str(tmp_path), "--name", "budget",
        "--set", "search.num_samples=6", "--set", "train.epochs=1",
        "--set", "search.algorithm=random", "--set", "search.scheduler=none",
        "--set", f"search.constraints.max_size_mib={limit}",
        "--set", "backbone.channel_multiple=1",  # any declared backbone argument reaches trials
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = json.loads((tmp_path / "budget" / "summary.json").read_text())["trials"]
    over = [t for t in trials if t["status"] == "infeasible"]
    within = [t for t in trials if t["status"] == "completed"]
    assert over and within, [t["status"] for t in trials]
    assert all(t["metrics"]["size_mib"] > limit and t["epochs_run"] == 0 for t in over)
    assert all(t["metrics"]["size_mib"] <= limit and t["epochs_run"] == 1 for t in within)
    study = optuna.load_study(
        study_name="budget", storage=f"sqlite:///{tmp_path / 'budget' / 'study.db'}"
    )
    constraint_values = [
        value for trial in study.trials for key, value in trial.system_attrs.items()
        if key.startswith("constraints")
    ]
    assert sum(value > 0 for value in constraint_values) == len(over)
