"""End-to-end searches with a real Ray: local, on a 2-node loopback cluster, killed and resumed.

Each search is the real CLI in a subprocess (``python -m bnas search``), on the digits demo
space shrunk with ``--set`` so the whole file runs in a few minutes on 2 cores; a one-shot
supernet trains on Ray Train through ``tests/supernet_ray_driver.py``, in a subprocess too.
Every Ray process these tests start lives under one private temp dir (``RAY_TMPDIR``, see
``tests/private_ray.py``), and teardown ends exactly those processes: ``ray stop`` would also
end other Ray clusters on the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from private_ray import HEAD_IP, WORKER_IP, PrivateRay

from bnas.pareto import pareto_front

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "search_spaces" / "demo_digits.yaml"
pytestmark = pytest.mark.slow


RAY = PrivateRay()
ray_env, ray_stop = RAY.env, RAY.stop


def bnas(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bnas", *args], capture_output=True, text=True,
        timeout=600, env=env or ray_env(), cwd=REPO,
    )


@pytest.fixture(scope="module", autouse=True)
def no_ray_left_behind():
    yield
    RAY.remove()


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


@pytest.fixture(scope="module")
def two_node_cluster():
    """A real 2-node Ray cluster on loopback addresses, shared by the tests that need one."""
    with RAY.two_node_cluster(port=6399) as cluster:
        yield cluster


def test_two_node_loopback_cluster_runs_trials_on_both_nodes(two_node_cluster, tmp_path):
    address, env = two_node_cluster
    done = bnas(
        "search", str(DEMO), "--storage", str(tmp_path), "--name", "cluster",
        "--address", address, "--set", "search.num_samples=4",
        "--set", "train.epochs=2", "--set", "search.scheduler=none", env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((tmp_path / "cluster" / "summary.json").read_text())
    assert len(summary["trials"]) == 4
    assert {t["node_ip"] for t in summary["trials"]} == {HEAD_IP, WORKER_IP}


# A one-shot space whose supernet trains with two data-parallel Ray Train workers.
SUPERNET_SPACE = """\
name: two-workers
backbone: {name: reactnet_a, preset: tiny}
space:
  blocks: {threshold: [static, dynamic], rd_ratio: [2, 4]}
  overrides: {"0": {threshold: static}}
data: {name: digits, subset: 30}
train: {epochs: 2, batch_size: 16, lr: 0.005}
search:
  strategy: oneshot
  supernet: {sampling: sandwich, candidates_per_step: 3, workers: 2}
  evaluate: {bn_batches: 2}
"""


def test_supernet_trains_with_two_ray_train_workers_one_per_node(two_node_cluster, tmp_path):
    from bnas.space import load_space
    from bnas.supernet import load_supernet

    address, env = two_node_cluster
    space_file = tmp_path / "space.yaml"
    space_file.write_text(SUPERNET_SPACE)
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "supernet_ray_driver.py"), str(space_file),
         str(run_dir), "--address", address],
        capture_output=True, text=True, timeout=600, env=env, cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    attempt = json.loads(done.stdout.strip().splitlines()[-1])["attempts"][0]
    assert attempt["error"] is None, attempt
    assert Path(attempt["checkpoint"]) == run_dir / "supernet" / "epoch_0002"

    history = json.loads((run_dir / "supernet" / "history.json").read_text())
    assert [record["epoch"] for record in history] == [1, 2]
    for record in history:
        workers = record["workers"]
        assert [w["rank"] for w in workers] == [0, 1]
        assert {w["node_ip"] for w in workers} == {HEAD_IP, WORKER_IP}  # one per node
        # DDP kept the replicas identical: gradients were averaged over both workers, the
        # generators a static candidate leaves unused included.
        assert workers[0]["weights_checksum"] == workers[1]["weights_checksum"]
        metrics = record["metrics"]
        assert metrics["candidate_epochs"] == 3 * record["epoch"]
        # 270 training images, 135 per worker in batches of 8: 16 steps of 3 candidates
        assert metrics["candidates_sampled"] == 3 * 16
        assert 0.0 <= metrics["val_top1_largest"] <= 1.0
    lines = [line for line in done.stdout.splitlines() if "supernet epoch" in line]
    assert len(lines) == 2 and all(f"2 workers on {HEAD_IP}, {WORKER_IP}" in line
                                   for line in lines)
    supernet = load_supernet(load_space(space_file), attempt["checkpoint"])
    assert not supernet.training


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
