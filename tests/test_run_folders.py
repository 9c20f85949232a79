"""One run folder, one writer; every path a run's files name kept inside it; every file read
back checked; nothing a search cannot finish passes validate. The pieces without Ray (the
end-to-end cases run in tests/test_search.py and tests/test_oneshot.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bnas.cli import main
from bnas.errors import BnasError

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "search_spaces" / "demo_digits.yaml"
HOLDER = ("import sys, time; from bnas.run_lock import RunLock; "
          "RunLock(sys.argv[1], 'bnas search', create=True).acquire(); "
          "print('held', flush=True); time.sleep(600)")


def test_a_second_command_is_refused_naming_the_holder_and_a_killed_one_blocks_no_one(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from bnas.files import LOCK_FILE
    from bnas.run_lock import RunLock

    run = tmp_path / "runs" / "demo"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE,
                              text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "held"
        in_use = f"{run} is in use by bnas search (PID {holder.pid}): one bnas command"
        with pytest.raises(BnasError, match=r"in use by bnas search \(PID"):
            RunLock(run, "bnas export").acquire()
        with pytest.raises(BnasError) as error:
            RunLock(run, "bnas report").check_free()
        assert str(error.value).startswith(in_use)
        # a second search of that name, before the preflight and before Ray: one line
        assert main(["search", str(DEMO), "--name", "demo", "--storage",
                     str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"bnas: error: {in_use}") and err.count("\n") == 1, err
        # a --resume while the holder starts (its space.yaml not written yet): the holder too
        assert main(["search", str(DEMO), "--name", "demo", "--storage",
                     str(tmp_path / "runs"), "--resume"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"bnas: error: {in_use}") and err.count("\n") == 1, err
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        holder.kill()
        holder.stdout.close()
    assert (run / LOCK_FILE).is_file()  # a kill -9 leaves the file, but not the lock
    with RunLock(run, "bnas export"):
        assert (run / LOCK_FILE).read_text() == f"{os.getpid()} bnas export\n"
    assert list(run.iterdir()) == []  # its holder removes the lock file as it ends
    with RunLock(tmp_path / "new" / "run", "bnas search", create=True):
        pass
    assert not (tmp_path / "new").exists()  # a folder made for the lock alone goes again


def test_paths_a_run_names_stay_inside_it(tmp_path: Path) -> None:
    from bnas.run_paths import inside_run

    run = tmp_path / "run"
    (run / "supernet" / "epoch_0001").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    (run / "inside").symlink_to(run / "supernet")
    (run / "export").symlink_to(tmp_path / "other")
    assert inside_run(run, "supernet/epoch_0001", "x") == run / "supernet" / "epoch_0001"
    assert inside_run(run, "inside/epoch_0001", "x") == run / "inside" / "epoch_0001"
    for relative in ("../other", "/etc/passwd", "supernet/../../other"):
        with pytest.raises(BnasError, match="lies outside the run folder"):
            inside_run(run, relative, "oneshot.json supernet.checkpoint")
    with pytest.raises(BnasError, match="leads out of the run folder through a link"):
        inside_run(run, "export/best", "export folder")


def test_writes_never_go_through_a_planted_link(tmp_path: Path) -> None:
    from bnas.writing import staged_folder, write_text_atomic

    target = tmp_path / "elsewhere"
    target.write_text("keep")
    run = tmp_path / "run"
    run.mkdir()
    # the old fixed temporary names, planted as links: followed before, ignored now
    (run / ".summary.json.partial").symlink_to(target)
    (run / ".report.partial").symlink_to(tmp_path)
    write_text_atomic(run / "summary.json", "{}")
    with staged_folder(run / "report") as stage:
        (stage / "report.md").write_text("#")
    assert target.read_text() == "keep" and (run / "report" / "report.md").is_file()
    (run / "export").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(BnasError, match="is a link .* never through a link"):
        with staged_folder(run / "export"):
            pass
    assert not (tmp_path / "outside").exists()


def test_run_record_fields_are_checked_where_they_are_read(tmp_path: Path) -> None:
    from bnas.run_record import OneShotState, read_trainer_state

    bad = {
        "phases: supernet: done, but no checkpoint recorded": {"supernet": {
            "done": True}},
        "phases.supernet.checkpoint: '../../other-run/supernet/epoch_0001' lies outside the "
        "run folder": {"supernet": {"done": True,
                                    "checkpoint": "../../other-run/supernet/epoch_0001"}},
        "phases.search.seconds: -1.0 is not >= 0": {"search": {"seconds": -1.0}},
        "phases.search.selected[0].supernet_val_top1: 7 is not <= 1": {"search": {
            "selected": [{"number": 1, "params": {}, "cost": {}, "arch_summary": "x",
                          "supernet_val_top1": 7}]}},
    }
    for expected, phases in bad.items():
        path = tmp_path / "oneshot.json"
        path.write_text(json.dumps({"phases": phases}))
        with pytest.raises(BnasError) as error:
            OneShotState.load(path)
        assert str(error.value).startswith(f"{path}: {expected}"), error.value
    state = tmp_path / "trainer_state.json"
    state.write_text(json.dumps({"format": 1, "epoch": 2, "history": [
        {"epoch": 1, "val_top1": 0.5, "dynamic_share": [0.5, float("nan")]}]}))
    with pytest.raises(BnasError, match=r"history\[0\]: dynamic_share\[1\] is nan, not a finite"):
        read_trainer_state(state)


def test_a_damaged_journal_is_read_line_by_line(tmp_path: Path) -> None:
    from bnas.study_journal import CREATE_STUDY_OP, CREATE_TRIAL_OP, check_journal

    study = json.dumps({"op_code": CREATE_STUDY_OP}) + "\n"
    trial = json.dumps({"op_code": CREATE_TRIAL_OP}) + "\n"
    path = tmp_path / "study.journal"
    path.write_text(study + trial + '{"op_code": 4, "dam' + "\n" + trial + trial[:9])
    check = check_journal(path)
    assert (check.trials, check.damaged) == (2, [3, 5])
    assert check.describe_damage() == "2 damaged lines (3, 5)"
    assert check.whole_text() == (study + trial + trial).encode()
    path.write_text("x" + study[1:] + trial)
    with pytest.raises(BnasError, match="study.journal:1 damaged: the journal's first line"):
        check_journal(path)


def test_optuna_journal_operations_are_the_ones_read() -> None:
    from optuna.storages.journal._storage import JournalOperation

    from bnas.study_journal import CREATE_STUDY_OP, CREATE_TRIAL_OP

    assert (JournalOperation.CREATE_STUDY, JournalOperation.CREATE_TRIAL) == (
        CREATE_STUDY_OP, CREATE_TRIAL_OP)


def test_a_resumed_sampler_continues_instead_of_starting_over() -> None:
    import optuna

    from bnas.search.sampler import make_sampler, resumed_seed
    from bnas.space import parse_space

    space = parse_space(DEMO.read_text().replace("algorithm: tpe", "algorithm: random"),
                        "demo.yaml")
    first = [make_sampler(space).sample_independent(
        None, optuna.trial.create_trial(value=0.0), "x",
        optuna.distributions.FloatDistribution(0, 1))]
    again = [make_sampler(space, resumed_after=6).sample_independent(
        None, optuna.trial.create_trial(value=0.0), "x",
        optuna.distributions.FloatDistribution(0, 1))]
    assert first != again
    assert resumed_seed(0, 6) == resumed_seed(0, 6) != resumed_seed(0, 12)
    assert 0 <= resumed_seed(2**32 - 1, 10**9) < 2**32


def test_address_and_cluster_wait_are_refused_in_bounded_time(monkeypatch) -> None:  # noqa: ANN001
    from bnas.search.cluster import _is_loopback, check_address, cluster_wait_seconds

    started = time.monotonic()
    with pytest.raises(BnasError, match=r"--address 127.0.0.1:1: cannot connect \(Connection "
                                        "refused\\): is a Ray head node running there"):
        check_address("127.0.0.1:1")
    assert time.monotonic() - started < 10
    for value in ("abc", "-1", "nan", "inf"):
        monkeypatch.setenv("BNAS_CLUSTER_WAIT_SECONDS", value)
        with pytest.raises(BnasError, match=f"BNAS_CLUSTER_WAIT_SECONDS='{value}': expected a "
                                            "number of seconds"):
            check_address("auto")
    monkeypatch.setenv("BNAS_CLUSTER_WAIT_SECONDS", "2.5")
    assert cluster_wait_seconds() == 2.5
    assert _is_loopback("127.0.0.1:6379") and _is_loopback("localhost:1")
    assert not _is_loopback("10.0.0.5:6379")


ONESHOT_SPACE = """\
name: clamped
backbone: {name: reactnet_a, preset: tiny, in_chans: 1, img_size: 8, num_classes: 10}
space: {blocks: {threshold: [static, dynamic], rd_ratio: [2], sites: [[conv3x3, conv1x1]]}}
data: {name: digits}
train: {epochs: 1, batch_size: 64}
search:
  strategy: oneshot
  max_concurrent: 64
  evaluate: {candidates: 1000000000000000, top_k: 50, bn_batches: 100000}
"""


def test_settings_that_cannot_happen_are_clamped_with_a_note(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    from bnas.space import parse_space
    from bnas.space.preflight import workers_that_fit

    space = parse_space(ONESHOT_SPACE, "clamped.yaml")
    assert (space.search.evaluate.candidates, space.search.evaluate.top_k) == (16, 16)
    assert space.notes == [
        "search.evaluate.candidates 1,000,000,000,000,000 is more than the space's 16 "
        "architectures: clamped to 16",
        "search.evaluate.top_k 50 is more than the 16 candidates proposed: clamped to 16"]
    # evaluation workers: as many as fit (64 asked, 1 CPU each, 2 CPUs), never none
    assert workers_that_fit(space, 2, 0) == 2 and workers_that_fit(space, 0.5, 0) == 1
    path = tmp_path / "clamped.yaml"
    path.write_text(ONESHOT_SPACE)
    assert main(["validate", str(path), "--no-ops"]) == 0
    out = capsys.readouterr().out
    assert "note: search.evaluate.top_k 50 is more than the 16 candidates" in out
    # the preflight knows the data: BatchNorm is recalibrated on the batches there are
    assert ("note: search.evaluate.bn_batches 100,000 is more than the training split holds "
            "(1,293 images in batches of 64): clamped to 21") in out
    assert "BatchNorm re-estimated on 21 batches," in out
    assert "note: search.max_concurrent 64: " in out and "evaluation worker(s) at a time" in out


def test_imagefolder_classes_are_counted_from_their_folders(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    for split in ("train", "val"):
        for name in ("ant", "bee", "cat"):
            folder = tmp_path / "data" / split / name
            folder.mkdir(parents=True)
            for index in range(4):
                Image.new("RGB", (12, 12), (index * 40, 0, 0)).save(folder / f"{index}.png")
    (tmp_path / "data" / "train" / "notes.txt").write_text("a file is not a class")
    space = tmp_path / "space.yaml"
    space.write_text(f"backbone: {{name: reactnet_a, preset: tiny}}\n"
                     f"data: {{name: imagefolder, root: {tmp_path / 'data'}, img_size: 8}}\n"
                     "train: {epochs: 1}\nsearch: {num_samples: 1}\n")
    assert main(["validate", str(space), "--no-ops"]) == 0
    out = capsys.readouterr().out
    assert "num_classes=3" in out
    assert "imagefolder at " in out and ", 3 classes (its class folders" in out
