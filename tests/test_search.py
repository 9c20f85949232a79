"""End-to-end searches with a real Ray: local, on a 2-node loopback cluster, killed and resumed.

Each search is the real CLI in a subprocess (``python -m bnas search``), on the digits demo
space shrunk with ``--set`` so the whole file runs in a few minutes on 2 cores; a one-shot
supernet trains on Ray Train through ``tests/supernet_ray_driver.py``, in a subprocess too.
Every Ray
process these tests start lives under one private temp dir (``RAY_TMPDIR``), and teardown
ends exactly those processes: ``ray stop`` would also end other Ray clusters on the machine.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from private_ray import HEAD_IP, WORKER_IP, PrivateRay

from bnas.pareto import pareto_front

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "search_spaces" / "demo_digits.yaml"
pytestmark = pytest.mark.slow


# Short: Ray puts Unix sockets below it, and their paths may not exceed 107 bytes.
RAY_TMP = tempfile.mkdtemp(prefix="bnas-ray-", dir="/tmp")
SUPERNET_RAY = PrivateRay()  # the supernet's 2-node cluster (tests/private_ray.py)


def ray_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_TMPDIR": RAY_TMP, **extra}


def bnas(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bnas", *args], capture_output=True, text=True,
        timeout=600, env=env or ray_env(), cwd=REPO,
    )


def processes_naming(marker: str) -> list[int]:
    """Processes (but this one) whose environment or command line names ``marker``: every
    process of a Ray cluster started with ``RAY_TMPDIR=marker`` or below it (Ray renames some,
    e.g. ``ray::DashboardAgent``, but they inherit the environment)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes() + (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def ray_stop() -> None:
    """SIGKILL every process started with this module's ``RAY_TMPDIR``."""
    for pid in processes_naming(RAY_TMP):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    # A dead cluster's address file would make the next `ray start` / ray.init look for it.
    Path(RAY_TMP, "ray", "ray_current_cluster").unlink(missing_ok=True)


def private_temp(name: str) -> dict[str, str]:
    """Environment for a search whose Ray processes and temporary folders are its own, below
    this module's temp dir: ``RAY_TMPDIR`` (Ray's sessions) and ``TMPDIR`` (everything else)."""
    ray_tmp, tmp = Path(RAY_TMP, name), Path(RAY_TMP, f"{name}-tmp")
    ray_tmp.mkdir()
    tmp.mkdir()
    return {"RAY_TMPDIR": str(ray_tmp), "TMPDIR": str(tmp)}


def assert_nothing_left(env: dict[str, str], ended: float) -> None:
    """By 5 s after a search ended: none of its Ray processes, no temporary folder of bnas, no
    trial working folder or Tune staging copy in the Ray session."""
    while processes_naming(env["RAY_TMPDIR"]) and time.monotonic() < ended + 5:
        time.sleep(0.2)
    assert processes_naming(env["RAY_TMPDIR"]) == []
    assert [entry.name for entry in Path(env["TMPDIR"]).iterdir()
            if entry.name.startswith("bnas")] == []
    assert list(Path(env["RAY_TMPDIR"]).glob("ray/session_*/artifacts")) == []


def wait_for(condition, timeout: float = 300, every: float = 0.2):  # noqa: ANN001, ANN201
    """``condition()``'s first truthy value, polled until ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {condition.__name__}")


def result_rows(run_dir: Path) -> dict[str, list[dict]]:
    """Each trial folder's reported results so far (Ray's result.json, one line per report;
    a trial with none yet is left out)."""
    rows = {}
    for result in run_dir.glob("trial_*/result.json"):
        lines = result.read_text().splitlines(keepends=True)
        # the last line may still be being written
        complete = [json.loads(line) for line in lines if line.endswith("\n") and line.strip()]
        if complete:
            rows[result.parent.name] = complete
    return rows


@pytest.fixture(scope="module", autouse=True)
def no_ray_left_behind():
    yield
    ray_stop()
    shutil.rmtree(RAY_TMP, ignore_errors=True)
    SUPERNET_RAY.remove()


SMALL = [
    "--set", "search.num_samples=6",
    "--set", "train.epochs=4",
    "--set", "search.scheduler.asha.grace_period=1",
    "--set", "search.scheduler.asha.reduction_factor=2",
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo search, started twice at once under one name: one runs, one is refused."""
    storage = tmp_path_factory.mktemp("runs")
    env = private_temp("demo")
    started = time.monotonic()
    searches = [subprocess.Popen(
        [sys.executable, "-m", "bnas", "search", str(DEMO), "--storage", str(storage),
         "--name", "demo", *SMALL], cwd=REPO, env=ray_env(**env), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [search.communicate(timeout=600) for search in searches]
    ended = time.monotonic()
    codes = [search.returncode for search in searches]
    assert sorted(codes) == [0, 2], outputs
    ran = codes.index(0)
    refused = {"stderr": outputs[1 - ran][1], "holder": searches[ran].pid}
    stdout = outputs[ran][0]
    run_dir = storage / "demo"
    return run_dir, json.loads((run_dir / "summary.json").read_text()), stdout, (
        ended - started
    ), env, ended, refused


def test_two_searches_of_one_name_started_together_one_runs_one_is_refused(demo_run):
    run_dir, summary, *_, refused = demo_run
    assert refused["stderr"].strip().splitlines() == [
        f"bnas: error: {run_dir} is in use by bnas search (PID {refused['holder']}): one bnas "
        "command at a time works on a run folder; wait for it to end, or stop it"]
    assert len(summary["trials"]) == 6  # one run's trials, one study
    assert len(optuna_study(run_dir, "demo").trials) == 6


def test_demo_search_lists_every_trial_and_asha_stops_some(demo_run):
    run_dir, summary, stdout, *_ = demo_run
    trials = summary["trials"]
    assert len(trials) == 6
    assert len({t["trial_id"] for t in trials}) == 6
    for trial in trials:
        assert {"arch", "config", "metrics", "status"} <= set(trial)
        assert trial["status"] in ("completed", "stopped", "infeasible")
        assert 0.0 <= trial["metrics"]["val_top1"] <= 1.0
        assert trial["metrics"]["ops"] > 0
        assert trial["node_ip"] == "127.0.0.1"  # an embedded cluster stays on loopback
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
    _, summary, *_ = demo_run
    trained = [t for t in summary["trials"] if t["status"] in ("completed", "stopped")]
    front = pareto_front([t["metrics"] for t in trained], summary["pareto_objectives"])
    assert sorted(summary["pareto"]) == sorted(trained[i]["trial_id"] for i in front)


def test_each_trial_writes_tensorboard_events_and_a_checkpoint(demo_run):
    run_dir, summary, *_ = demo_run
    events = list(run_dir.rglob("events.out.tfevents.*"))
    assert len(events) >= len(summary["trials"])
    for trial in summary["trials"]:
        assert (run_dir / trial["checkpoint"] / "model.safetensors").is_file()


def test_a_finished_search_leaves_no_process_or_temporary_folder(demo_run):
    *_, env, ended, _ = demo_run
    assert_nothing_left(env, ended)


def test_existing_run_is_not_overwritten(demo_run):
    run_dir, *_ = demo_run
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
    # diverging is deterministic: failed at once, not retried (search.max_failures is 2)
    assert [t["retries"] for t in summary["trials"]] == [0, 0]
    assert done.stdout.count("failed: TrainingDiverged") == 2 and "retry" not in done.stdout
    study = optuna_study(tmp_path / "nan", "nan")
    assert [trial.state.name for trial in study.trials] == ["FAIL", "FAIL"]


def optuna_study(run_dir: Path, name: str):  # noqa: ANN201
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{run_dir / 'study.db'}")


def test_sigterm_then_sigint_end_the_search_cleanly_and_resume_goes_on(tmp_path):
    """SIGTERM (a batch system's stop, to the bnas process) and SIGINT (Ctrl-C: the terminal
    sends it to the whole process group): each ends the search with 128 + the signal, one
    line, no summary, nothing left 5 s later; the resumed search numbers on. Between the two,
    the run is given the aftermath of a kill in Ray's checkpoint race (Ray deletes a trial's
    older checkpoint before it saves the state naming the newer): without
    bnas.search.checkpoint_repair the resumed trial fails on every retry."""
    run_dir = tmp_path / "stop"
    args = [sys.executable, "-m", "bnas", "search", str(DEMO), "--storage", str(tmp_path),
            "--name", "stop"]
    outputs = []
    for attempt, (signum, to_group) in enumerate(
        [(signal.SIGTERM, False), (signal.SIGINT, True)]
    ):
        env = private_temp(f"stop{attempt}")
        extra = ["--resume"] if attempt else ["--set", "search.num_samples=4", "--set",
                                              "train.epochs=6", "--set", "search.scheduler=none",
                                              "--set", "search.max_concurrent=1"]
        out, err = tmp_path / f"out{attempt}.txt", tmp_path / f"err{attempt}.txt"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen([*args, *extra], cwd=REPO, env=ray_env(**env),
                                       stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            if attempt == 0:
                wait_for_progress(out)  # a trial is training
            else:  # the raced trial trained an epoch more, or failed to restore
                last = max(map(int, re.findall(r" epoch (\d+)/", outputs[0])))
                went_on = wait_for(epoch_or_failure_after_resume(out, last))
            if to_group:
                os.killpg(process.pid, signum)
            else:
                process.send_signal(signum)
            assert process.wait(timeout=120) == 128 + signum, err.read_text()[-3000:]
        finally:
            process.kill()
        ended = time.monotonic()
        message = f"bnas: search interrupted by {signal.Signals(signum).name}; continue it: "
        assert err.read_text().splitlines()[-1].startswith(message)
        assert "Traceback" not in err.read_text()
        assert not (run_dir / "summary.json").exists()
        assert_nothing_left(env, ended)
        outputs.append(out.read_text())
        if attempt == 0:
            raced = make_checkpoint_race_aftermath(run_dir)
    # the resumed search went on from the first one's numbers and clock
    first, resumed = map(progress_lines, outputs)
    assert resumed[0][1] >= max(number for _, number in first)
    assert resumed[0][0] > first[0][0]
    # the trial whose named checkpoint was gone went on training from the next one
    assert f"resume: trial {raced} continues from checkpoint_" in outputs[1]
    assert went_on == "trained", outputs[1]


def epoch_or_failure_after_resume(out: Path, last: int):  # noqa: ANN201
    """A condition for wait_for: in ``out``, an epoch after ``last`` (the snapshot's last
    epoch, whose line is repeated first) — "trained" — or a failure — "failed"."""
    def trial_went_on() -> str | None:
        text = out.read_text()
        if any(int(epoch) > last for epoch in re.findall(r" epoch (\d+)/", text)):
            return "trained"
        return "failed" if re.search(r"lost its worker|failed", text) else None

    return trial_went_on


def make_checkpoint_race_aftermath(run_dir: Path) -> str:
    """What a kill between Ray's deleting a checkpoint and its saving the state that names the
    next one leaves: the state names a checkpoint that is gone, a later one is there. Made
    from a stopped search whose one unfinished trial is named in the state; its id."""
    raced = []
    state = sorted(run_dir.glob("experiment_state-*.json"))[-1]
    for trial_json, runtime_json in json.loads(state.read_text())["trial_data"]:
        trial, runtime = json.loads(trial_json), json.loads(runtime_json)
        named = (runtime.get("last_result") or {}).get("checkpoint_dir_name")
        if trial["status"] == "TERMINATED" or named is None:
            continue
        folder = run_dir / trial["relative_logdir"]
        later = folder / f"checkpoint_{int(named.split('_')[1]) + 1:06d}"
        if later.exists():  # the worker wrote the next one after the state was saved
            shutil.rmtree(folder / named)
        else:
            (folder / named).rename(later)
        raced.append(trial["trial_id"])
    assert len(raced) == 1, raced  # the trial that was training
    return raced[0]


def test_name_is_confined_to_storage(tmp_path, monkeypatch, capsys):
    from bnas.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("../../esc", "/abs/dir", "n" * 300, ".hidden"):
        assert main(["search", str(DEMO), "--name", name, "--storage", "runs"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("bnas: error: --name ") and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_resume_refuses_a_run_folder_others_could_have_written(tmp_path, monkeypatch, capsys):
    """Resuming unpickles Ray's state: a run someone else could have changed is refused."""
    import grp

    from bnas.cli import main
    from bnas.search.run_dir import check_resume_trust

    monkeypatch.chdir(tmp_path)
    storage = tmp_path / "runs"
    run_dir = storage / "theirs"
    (run_dir / "trial_1").mkdir(parents=True)
    shutil.copyfile(DEMO, run_dir / "space.yaml")
    pickled = run_dir / "tuner.pkl"
    pickled.write_bytes(b"not read: refused before")
    (run_dir / "trial_1" / "params.pkl").write_bytes(b"")
    before = sorted(tmp_path.rglob("*"))

    def refused(path: Path) -> str:
        assert main(["search", str(DEMO), "--name", "theirs", "--storage", "runs",
                     "--resume"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"bnas: error: --resume: {path} ") and err.count("\n") == 1, err
        return err

    if os.geteuid() == 0:  # only root can give a file to any group
        pickled.chmod(0o664)
        os.chown(pickled, 0, 65534)
        assert "writable by group" in refused(pickled)
        os.chown(pickled, 0, 0)
        if not grp.getgrgid(0).gr_mem:  # root's own private group: group-writable is fine
            check_resume_trust(run_dir)
    pickled.chmod(0o646)
    assert "writable by others" in refused(pickled)
    pickled.chmod(0o644)  # trusted now, but not Ray's state: one line too, not a traceback
    monkeypatch.setenv("RAY_TMPDIR", private_temp("trust")["RAY_TMPDIR"])  # Ray starts here
    assert main(["search", str(DEMO), "--name", "theirs", "--storage", "runs", "--resume"]) == 2
    err = capsys.readouterr().err  # after Ray's own notices from starting the cluster
    assert err.splitlines()[-1].startswith(
        f"bnas: error: --resume: cannot restore Ray Tune's state in {run_dir} "), err
    assert "Traceback" not in err
    pickled.chmod(0o644)
    storage.chmod(0o777)  # anyone could swap the run folder (no sticky bit, unlike /tmp)
    assert "a folder above the run" in refused(storage)
    storage.chmod(0o755)
    if os.geteuid() == 0:  # only root can hand a file to someone else
        os.chown(run_dir / "trial_1" / "params.pkl", 65534, 65534)
        assert "not by you" in refused(run_dir / "trial_1" / "params.pkl")
    assert sorted(tmp_path.rglob("*")) == before


def completed_trial_dirs(run_dir: Path, epochs: int) -> list[Path]:
    """Trial folders whose last reported epoch is the final one."""
    finished = []
    for result in run_dir.glob("*/result.json"):
        lines = [line for line in result.read_text().splitlines() if line.strip()]
        if lines and json.loads(lines[-1]).get("training_iteration") == epochs:
            finished.append(result.parent)
    return finished


def test_killed_worker_is_retried_and_killed_search_resumes_exactly_once(tmp_path):
    """Two SIGKILLs. A trial's worker, mid-epoch 2: the trial is retried from its epoch-1
    checkpoint and completes. Then the whole search, after two trials completed: --resume
    keeps those (not rerun), finishes the rest and numbers its progress lines on."""
    args = [
        sys.executable, "-m", "bnas", "search", str(DEMO), "--storage", str(tmp_path),
        "--name", "killed", "--set", "search.num_samples=6", "--set", "train.epochs=3",
        "--set", "search.scheduler=none", "--set", "search.max_concurrent=1",
    ]
    out = tmp_path / "out.txt"
    with out.open("w") as stdout:
        process = subprocess.Popen(
            args, cwd=REPO, env=ray_env(), stdout=stdout, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    run_dir = tmp_path / "killed"

    def first_result() -> tuple[str, dict] | None:
        return next(((trial, rows[0]) for trial, rows in result_rows(run_dir).items()), None)

    retried, first = wait_for(first_result)
    os.kill(first["pid"], signal.SIGKILL)  # Ray adds the reporting process to each result

    def two_completed() -> bool:
        return len(completed_trial_dirs(run_dir, 3)) >= 2

    wait_for(two_completed)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = {path.name for path in completed_trial_dirs(run_dir, 3)}
    assert 2 <= len(before) < 6, before
    assert not (run_dir / "summary.json").exists()  # killed mid-run
    assert "lost its worker or node: retry 1/2 from its last checkpoint" in out.read_text()
    ray_stop()

    done = bnas("search", str(DEMO), "--storage", str(tmp_path), "--name", "killed", "--resume")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    trials = {Path(t["path"]).name: t for t in summary["trials"]}
    assert len(summary["trials"]) == len(trials) == 6
    assert before <= set(trials)
    assert all(t["status"] == "completed" for t in trials.values())
    assert [t["retries"] for t in trials.values()].count(1) == 1
    assert trials[retried]["retries"] == 1
    assert [row["epoch"] for row in trials[retried]["history"]] == [1, 2, 3]
    # the resumed run numbers its trials and counts seconds on from the killed one's snapshot
    lines, killed_lines = progress_lines(done.stdout), progress_lines(out.read_text())
    assert lines, done.stdout[-2000:]
    assert min(number for _, number in lines) >= 2
    assert max(number for _, number in lines) == 6
    # trial 2 began long before the kill (it finished): the snapshot's clock is past that
    assert lines[0][0] > min(seconds for seconds, number in killed_lines if number == 2)


def wait_for_progress(out: Path) -> None:
    """Until the search writing ``out`` printed its first progress line."""
    def progress_printed() -> bool:
        return bool(progress_lines(out.read_text()))

    wait_for(progress_printed)


def progress_lines(stdout: str) -> list[tuple[float, int]]:
    """(seconds, trial number) of each ``[  12.3s] trial   2/6 ...`` line."""
    return [(float(seconds), int(number)) for seconds, number in
            re.findall(r"^\[\s*([\d.]+)s\] trial\s+(\d+)/\d+ ", stdout, flags=re.M)]


def raylet_of(node_ip: str) -> int:
    """The raylet process of the Ray node at ``node_ip`` (its command line names the IP)."""
    for pid in processes_naming(RAY_TMP):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if Path(command[0].decode()).name == "raylet" and (
            f"--node_ip_address={node_ip}".encode() in command
        ):
            return pid
    raise AssertionError(f"no raylet for {node_ip}")


def test_two_node_loopback_cluster_survives_losing_its_worker_node(tmp_path):
    """Trials run on both nodes; the worker node's raylet is SIGKILLed while a trial runs
    there; that trial is retried on the head from its checkpoint and the search completes."""
    ray = str(Path(sys.executable).with_name("ray"))
    # Token auth: joining nodes fail with InvalidAuthToken without it. Multi-node on: a library
    # caller may have set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, which makes worker nodes refuse.
    # A dead node is declared after 3 failed 1-second health checks instead of Ray's 5 × 3 s.
    env = ray_env(RAY_AUTH_MODE="token", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1",
                  RAY_health_check_period_ms="1000", RAY_health_check_failure_threshold="3")
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
        run_dir, out = tmp_path / "cluster", tmp_path / "out.txt"
        with out.open("w") as stdout:
            search = subprocess.Popen(
                [sys.executable, "-m", "bnas", "search", str(DEMO), "--storage", str(tmp_path),
                 "--name", "cluster", "--address", "127.0.0.2:6399",
                 "--set", "search.num_samples=4", "--set", "train.epochs=8",
                 "--set", "search.scheduler=none"],
                cwd=REPO, env=env, stdout=stdout, stderr=subprocess.STDOUT,
            )
        try:
            def running_on_worker_node() -> str | None:
                for trial, rows in result_rows(run_dir).items():
                    # epochs left to run on the node when it dies (reports reach the driver late)
                    if rows[-1]["node_ip"] == "127.0.0.3" and rows[-1]["epoch"] <= 3:
                        return trial
                return None

            lost = wait_for(running_on_worker_node)
            os.kill(raylet_of("127.0.0.3"), signal.SIGKILL)
            assert search.wait(timeout=400) == 0, out.read_text()[-3000:]
        finally:
            search.kill()
        summary = json.loads((run_dir / "summary.json").read_text())
        trials = {Path(t["path"]).name: t for t in summary["trials"]}
        assert len(trials) == 4
        assert all(t["status"] == "completed" and t["epochs_run"] == 8
                   for t in trials.values()), out.read_text()[-3000:]
        assert trials[lost]["retries"] == 1 and trials[lost]["node_ip"] == "127.0.0.2"
        nodes = [row["node_ip"] for row in result_rows(run_dir)[lost]]
        assert nodes[0] == "127.0.0.3" and nodes[-1] == "127.0.0.2"
        assert "lost its worker or node: retry 1/2" in out.read_text()
        # A trial no node can hold: refused after a bounded wait, nothing written.
        too_big = subprocess.run(
            [sys.executable, "-m", "bnas", "search", str(DEMO), "--storage", str(tmp_path),
             "--name", "too-big", "--address", "127.0.0.2:6399",
             "--set", "search.resources_per_trial.cpu=2"],
            cwd=REPO, env={**env, "BNAS_CLUSTER_WAIT_SECONDS": "2"}, capture_output=True,
            text=True, timeout=120,
        )
        assert too_big.returncode == 2, too_big.stderr[-2000:]
        assert "no node of the cluster has what one trial asks for (2 CPU; the largest has " \
            "1 CPU)" in too_big.stderr
        assert not (tmp_path / "too-big").exists()
    finally:
        ray_stop()


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


def test_supernet_trains_with_two_ray_train_workers_one_per_node(tmp_path):
    from bnas.space import load_space
    from bnas.supernet import load_supernet

    with SUPERNET_RAY.two_node_cluster(port=6399) as (address, env):
        _two_workers_one_per_node(tmp_path, address, env, load_space, load_supernet)


def _two_workers_one_per_node(tmp_path, address, env, load_space, load_supernet):  # noqa: ANN001
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
    supernet = load_supernet(load_space(space_file), Path(attempt["checkpoint"]) / "seed_0")
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
        # a metric an over-budget trial never measures: reported as its worst, +inf
        "--set", "search.objectives={val_loss: min}",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "NaN or Inf" not in done.stderr
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
    told = sorted(trial.value for trial in study.trials)
    assert told[-len(over):] == [math.inf] * len(over) and math.isfinite(told[0])
