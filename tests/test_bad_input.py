"""Bad input to every command is one located line, exit 2, and nothing written.

The corpus: the YAML files of ``tests/bad_inputs/`` (each says in its first line what is wrong)
and, generated here, what is awkward to keep in a repository: NUL and other control bytes,
non-UTF-8 text, nesting thousands of levels deep, damaged run records. Every case runs through
``bnas.cli.main`` in this process (a handful also as real processes, at the end), and must

- exit 2 with exactly one line on stderr, ``bnas: error: ...``, containing what it expects;
- print no ``Traceback`` anywhere;
- leave every folder it could write to as it was (compared file by file, before and after);
- for ``bnas search``: fail before Ray starts (a tripwire replaces the Ray session).

The ``preflight`` cases are searches that cannot succeed (a missing data root, 64 CPUs per
trial, ...): bnas validate and bnas search refuse each with the same line, before Ray starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bnas.cli import main

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "bad_inputs"
ARCH = ROOT / "architectures" / "reactnet_a_tiny_mixed.yaml"
# A bad file must fail at once: the alias bombs kept `bnas validate` busy for 100+ s.
SECONDS_PER_CASE = 20

SPACE = "backbone: {name: reactnet_a, preset: tiny}\ndata: {name: digits}\n" \
        "train: {epochs: 1}\nsearch: {num_samples: 1}\n"
TRAIN_CONFIG = f"arch: {ARCH}\ndata: {{name: digits}}\nepochs: 1\n"
DEEP = "[" * 3000 + "]" * 3000  # PyYAML's composer recursed once per level: RecursionError
SUMMARY = '{"name": "run", "objectives": {"val_top1": "max"}, "trials": []}'


@dataclass(frozen=True)
class Case:
    """``argv`` runs in a fresh folder holding ``files`` (bytes, or None for a folder)."""

    argv: tuple[str, ...]
    expect: str  # in the error line
    files: dict[str, bytes | None] = field(default_factory=dict)


def _bad(name: str) -> str:
    return str(BAD / name)


def _case(*argv: str, expect: str, files: dict[str, bytes | None] | None = None) -> Case:
    return Case(tuple(argv), expect, files or {})


def _space(text: str | bytes) -> dict[str, bytes | None]:
    return {"space.yaml": text.encode() if isinstance(text, str) else text}


def _run(summary: bytes | None, **more: bytes | None) -> dict[str, bytes | None]:
    """A run folder ``run/`` with this ``summary.json`` (None: a folder in its place)."""
    return {"run/summary.json": summary, **more}


TRIAL = ('{"trial_id": "t1", "arch": {}, "arch_summary": "", "status": "completed", '
         '"checkpoint": "t1/ckpt", "metrics": {"val_top1": 0.5}}')
TAKEN = {"taken": b"a file\n"}
ONESHOT = ('{"supernet_checkpoint": "supernet/epoch_0001", "candidates_file": "candidates.csv", '
           '"candidates_scored": 8, "candidates_over_budget": 0, "retrain": "top_k", '
           '"warm_start": false, "standalone_epochs": 1, "kendall_tau": 0.5, "phases": '
           '{"supernet": {"candidate_epochs": 1, "seconds": 3}}}')
TRIALS_NOT_RECORDS = SUMMARY.replace("[]", "[1, 2]").encode()

CASES: dict[str, Case] = {
    # ---- bnas validate: search-space files ------------------------------------------------
    "validate/deep_nesting": _case(
        "validate", "space.yaml", files=_space(SPACE + f"extra: {DEEP}\n"),
        expect="space.yaml:5 not valid YAML: nested deeper than 100 levels"),
    "validate/deep_block_nesting": _case(
        "validate", "space.yaml", expect="nested deeper than 100 levels",
        files=_space(SPACE + "extra:\n" + "".join("  " * i + "-\n" for i in range(200))
                     + "  " * 200 + "- 1\n")),
    "validate/alias_bomb": _case("validate", _bad("space_alias_bomb.yaml"),
                                 expect="its aliases expand to"),
    "validate/recursive_alias": _case(
        "validate", _bad("space_recursive_alias.yaml"),
        expect="space_recursive_alias.yaml:8 not valid YAML: recursive alias"),
    "validate/recursive_merge": _case("validate", _bad("space_recursive_merge.yaml"),
                                      expect="recursive alias"),
    "validate/deep_alias": _case("validate", _bad("space_deep_alias.yaml"),
                                 expect="nested deeper than 100 levels once its aliases"),
    "validate/nul_byte": _case(
        "validate", "space.yaml", files=_space(SPACE.replace("digits", "dig\0its")),
        expect="space.yaml:2 not valid YAML: character U+0000"),
    "validate/escape_byte": _case("validate", "space.yaml", expect="character U+001B",
                                  files=_space("name: \x1b[31mred\n" + SPACE)),
    "validate/latin1": _case("validate", "space.yaml", files=_space(b"name: caf\xe9\n"),
                             expect="space.yaml:1 not UTF-8 text (byte 9 is 0xe9)"),
    "validate/utf16": _case("validate", "space.yaml", expect="not UTF-8 text",
                            files=_space(SPACE.encode("utf-16"))),
    "validate/folder": _case("validate", "space.yaml", expect="space.yaml: is a folder",
                             files={"space.yaml": None}),
    "validate/seed_2**70": _case("validate", _bad("space_seed_too_large.yaml"),
                                 expect="search.seed: 1180591620717411303424 is not <= "
                                 "4294967295"),
    "validate/train_seed_2**70": _case("validate", _bad("space_train_seed_too_large.yaml"),
                                       expect="train.seed: 1180591620717411303424 is not <="),
    "validate/train_seed_negative": _case("validate", _bad("space_train_seed_negative.yaml"),
                                          expect="train.seed: -1 is not >= 0"),
    # ---- bnas search: fails before Ray starts ---------------------------------------------
    "search/alias_bomb": _case("search", _bad("space_alias_bomb.yaml"),
                               expect="its aliases expand to"),
    "search/seed_2**70": _case("search", _bad("space_seed_too_large.yaml"),
                               expect="search.seed: 1180591620717411303424 is not <="),
    "search/nul_byte": _case("search", "space.yaml", expect="character U+0000",
                             files=_space(SPACE + "name: x\0\n")),
    "search/set_seed_2**70": _case(
        "search", "space.yaml", "--set", "search.seed=1180591620717411303424",
        files=_space(SPACE), expect="search.seed: 1180591620717411303424 is not <="),
    "search/set_recursive_alias": _case(
        "search", "space.yaml", "--set", "train.lr=&a [*a]", files=_space(SPACE),
        expect="--set 'train.lr=&a [*a]': the value is not valid YAML: recursive alias"),
    "search/set_deep_nesting": _case(
        "search", "space.yaml", "--set", f"train.lr={DEEP}", files=_space(SPACE),
        expect="the value is not valid YAML: nested deeper"),
    # ---- bnas profile: architecture files -------------------------------------------------
    "profile/threshold_unknown_key": _case(
        "profile", _bad("arch_threshold_unknown_key.yaml"),
        expect="blocks[1].conv1x1.type: unknown key 'type'; valid: kind, rd_ratio, "
        "min_hidden, pool, act, bound"),
    "profile/static_with_generator": _case(
        "profile", _bad("arch_static_with_generator.yaml"),
        expect="blocks[1]: rd_ratio, pool set on a static threshold"),
    "profile/alias_bomb": _case("profile", _bad("arch_alias_bomb.yaml"),
                                expect="its aliases expand to"),
    "profile/latin1": _case("profile", "arch.yaml", expect="arch.yaml:2 not UTF-8 text",
                            files={"arch.yaml": b"backbone: reactnet_a\n# caf\xe9\n"}),
    "profile/nul_byte": _case("profile", "arch.yaml", files={"arch.yaml": b"backbone: x\0\n"},
                              expect="arch.yaml:1 not valid YAML: character U+0000"),
    "profile/deep_nesting": _case("profile", "arch.yaml", expect="nested deeper than 100",
                                  files={"arch.yaml": f"args: {DEEP}\n".encode()}),
    "profile/folder": _case("profile", "arch.yaml", expect="arch.yaml: is a folder",
                            files={"arch.yaml": None}),
    # ---- bnas train: config files (and retrain.yaml), arch files, flags, --out ------------
    "train/latin1_config": _case("train", "config.yaml", expect="config.yaml:4 not UTF-8",
                                 files={"config.yaml": TRAIN_CONFIG.encode() + b"# \xe9\n"}),
    "train/nul_config": _case(
        "train", "config.yaml", files={"config.yaml": (TRAIN_CONFIG + "seed: 0\0\n").encode()},
        expect="config.yaml:4 not valid YAML: character U+0000"),
    "train/deep_config": _case(
        "train", "config.yaml", expect="nested deeper than 100",
        files={"config.yaml": (TRAIN_CONFIG + f"extra: {DEEP}\n").encode()}),
    "train/recursive_alias": _case("train", _bad("train_recursive_alias.yaml"),
                                   expect="recursive alias"),
    "train/seed_2**70": _case("train", _bad("train_seed_too_large.yaml"),
                              expect="seed: 1180591620717411303424 is not <= 4294967295"),
    "train/seed_flag_2**70": _case("train", "--backbone", "reactnet_a", "--data", "digits",
                                   "--seed", "1180591620717411303424",
                                   expect="seed: 1180591620717411303424 is not <="),
    "train/inline_arch_unknown_key": _case(
        "train", _bad("train_inline_arch_unknown_key.yaml"),
        expect="blocks[1].conv3x3.ratio: unknown key 'ratio'"),
    "train/arch_static_with_generator": _case(
        "train", _bad("train_arch_static_with_generator.yaml"),
        expect="arch_static_with_generator.yaml: blocks[1]: rd_ratio, pool set on a static"),
    "train/latin1_arch": _case("train", "--arch", "arch.yaml", "--data", "digits",
                               expect="arch.yaml:1 not UTF-8",
                               files={"arch.yaml": b"backbone: r\xe9actnet_a\n"}),
    "train/out_is_a_file": _case("train", "--backbone", "reactnet_a", "--data", "digits",
                                 "--epochs", "1", "--out", "taken", files=TAKEN,
                                 expect="--out taken: exists and is not a folder"),
    "train/out_under_a_file": _case("train", "--backbone", "reactnet_a", "--data", "digits",
                                    "--epochs", "1", "--out", "taken/run", files=TAKEN,
                                    expect="--out taken/run: taken is a file"),
    # ---- bnas export / report: run records ------------------------------------------------
    "export/trials_not_records": _case("export", "run", files=_run(TRIALS_NOT_RECORDS),
                                       expect="run/summary.json: trials[0]: expected a mapping"),
    "export/summary_latin1": _case("export", "run", expect="summary.json:1 not UTF-8",
                                   files=_run(b'{"name": "caf\xe9"}')),
    "export/summary_deep": _case("export", "run", files=_run(b"[" * 100_000),
                                 expect="summary.json: not valid JSON: nested too deeply"),
    "export/summary_nul": _case("export", "run", expect="summary.json:1 not valid JSON",
                                files=_run(b'{"name": "run\0"}')),
    "export/summary_folder": _case("export", "run", expect="run: no summary.json",
                                   files=_run(None)),
    "export/out_is_a_file": _case("export", "run", "--out", "taken",
                                  files={**TAKEN, **_run(SUMMARY.encode())},
                                  expect="--out taken: exists and is not a folder"),
    "export/trainer_state_deep": _case(
        "export", "run", expect="trainer_state.json: not valid JSON: nested too deeply",
        files=_run(SUMMARY.replace("[]", f"[{TRIAL}]").encode(),
                   **{"run/t1/ckpt/trainer_state.json": b"[" * 100_000})),
    "export/trainer_state_high": _case(
        "export", "run", expect="trainer_state.json: best_val_top1: expected a number, got 'high'",
        files=_run(SUMMARY.replace("[]", f"[{TRIAL}]").encode(),
                   **{"run/t1/ckpt/trainer_state.json":
                      b'{"format": 1, "epoch": 2, "best_val_top1": "high"}'})),
    "export/checkpoint_outside_the_run": _case(
        "export", "run", expect="trials[0].checkpoint: '../other/ckpt' lies outside the run",
        files=_run(SUMMARY.replace("[]", f"[{TRIAL}]").replace("t1/ckpt", "../other/ckpt")
                   .encode())),
    "export/val_top1_nan": _case(
        "export", "run", expect="trials[0].metrics: val_top1 is nan, not a finite number",
        files=_run(SUMMARY.replace("[]", f"[{TRIAL}]").replace("0.5", "NaN").encode())),
    **{f"report/{name}": _case("report", "run", expect=expect, files=_run(
        SUMMARY.replace("[]", f"[{TRIAL}]").replace(old, new).encode()))
       for name, old, new, expect in (
        ("val_top1_1e308", "0.5}", "1e308}", "trials[0].metrics: val_top1 is 1e+308, not an "
         "accuracy (0 to 1)"),
        ("ops_negative", "0.5}", '0.5, "ops": -5}', "trials[0].metrics: ops is -5; it cannot "
         "be negative"),
        ("size_negative", "0.5}", '0.5, "size_mib": -1e9}', "size_mib is -1000000000.0; it "
         "cannot be negative"),
        ("epochs_1e18", '"status"', '"epochs_run": 1000000000000000000, "status"',
         "trials[0].epochs_run: 1000000000000000000 is not <= 1000000"),
        ("history_epoch_0", '"status"', '"history": [{"epoch": 0}], "status"',
         "trials[0].history[0]: epoch is 0, not an epoch number"),
       )},
    **{f"report/oneshot_{name}": _case("report", "run", expect=expect, files=_run(
        (SUMMARY[:-1] + f', "oneshot": {ONESHOT.replace(old, new)}}}').encode()))
       for name, old, new, expect in (
        ("kendall_tau_7", '"kendall_tau": 0.5', '"kendall_tau": 7', "oneshot.kendall_tau: 7 is "
         "not <= 1"),
        ("candidates_scored_negative", '"candidates_scored": 8', '"candidates_scored": -3',
         "oneshot.candidates_scored: -3 is not >= 0"),
        ("seconds_infinite", '"seconds": 3', '"seconds": Infinity',
         "oneshot.phases.supernet.seconds: expected a finite number"),
        ("candidates_file_outside", '"candidates.csv"', '"../candidates.csv"',
         "oneshot.candidates_file: '../candidates.csv' lies outside the run folder"),
       )},
    "report/trials_not_records": _case("report", "run", files=_run(TRIALS_NOT_RECORDS),
                                       expect="trials[0]: expected a mapping"),
    "report/summary_latin1": _case("report", "run", expect="not UTF-8",
                                   files=_run(b'{"name": "\xff"}')),
    "report/summary_deep": _case("report", "run", expect="nested too deeply",
                                 files=_run(b'{"trials": ' + b"[" * 100_000)),
    "report/out_is_a_file": _case("report", "run", "--out", "taken",
                                  files={**TAKEN, **_run(SUMMARY.encode())},
                                  expect="--out taken: exists and is not a folder"),
    "report/out_under_a_file": _case("report", "run", "--out", "taken/report",
                                     files={**TAKEN, **_run(SUMMARY.encode())},
                                     expect="--out taken/report: taken is a file"),
}

# Searches that cannot succeed: the one preflight refuses them before Ray starts, with the
# same line in bnas validate and bnas search.
PREFLIGHT_EXPECTED = {
    "data_root_missing": "data: cifar10: no CIFAR-10 pickle batches under no/such/folder",
    "cpu_64": "search.resources_per_trial.cpu: a trial asks for 64 CPUs",
    "supernet_seeds_64": "search.resources_per_trial.cpu: 64 supernet seeds × 1 workers ask "
                         "for 64 CPUs",
    "max_ops_1": "search.constraints.max_ops: even the cheapest candidate is over budget",
    "device_quantum": "train.device: unknown device 'quantum'",
    "lr_inf": "train.lr: expected a finite number, got inf",
    "min_hidden_huge": "space: training reactnet_a[D16 D16 D16 D16] at batch 128 needs about",
    "teacher_missing": "train.teacher: no such folder no/such/run",
    "grid_3e13": "search.algorithm: grid: the space has 3.32e+13 grid points, more than a grid "
                 "search lists (100,000), for num_samples 8",
    "reduction_factor_inf": "search.scheduler.asha.reduction_factor: expected a finite number",
}
PREFLIGHT: dict[str, Case] = {
    f"{command}/{name}": _case(command, _bad(f"preflight_{name}.yaml"), expect=expected)
    for name, expected in PREFLIGHT_EXPECTED.items()
    for command in ("validate", "search")
}
# `--name` is confined to --storage, and `--set` errors name the --set.
CONFINEMENT: dict[str, Case] = {
    "search/name_escapes_storage": _case("search", "space.yaml", "--name", "../../escaped",
                                         expect="--name", files=_space(SPACE)),
    "search/name_absolute": _case("search", "space.yaml", "--name", "/tmp/absolute-run",
                                  expect="--name", files=_space(SPACE)),
    "search/name_too_long": _case("search", "space.yaml", "--name", "n" * 300,
                                  expect="--name", files=_space(SPACE)),
    "search/set_unknown_key": _case("search", "space.yaml", "--set", "search.bogus=1",
                                    expect="--set", files=_space(SPACE)),
}


def _params() -> list[Any]:
    return (
        [pytest.param(case, id=name) for name, case in CASES.items()]
        + [pytest.param(case, id=name) for name, case in PREFLIGHT.items()]
        + [pytest.param(case, id=name) for name, case in CONFINEMENT.items()]
    )


def _write(folder: Path, files: dict[str, bytes | None]) -> None:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            path.mkdir()
        else:
            path.write_bytes(data)


def _snapshot(*folders: Path) -> dict[Path, tuple[bool, int, int]]:
    """Every file and folder below ``folders``: (is a folder, size, modification time)."""
    found = {}
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            stat = path.stat()
            found[path] = (path.is_dir(), stat.st_size, stat.st_mtime_ns)
    return found


def _check_one_error_line(code: int, out: str, err: str, expect: str) -> None:
    assert "Traceback" not in out + err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bnas: error: "), err
    assert expect in lines[0]


class RayStarted(AssertionError):
    """A bad input reached the Ray session: it should have failed before."""


@pytest.fixture
def ray_tripwire(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make starting Ray fail loudly: `bnas search` must refuse bad input before it."""
    import bnas.search.cluster
    import bnas.search.multitrial
    import bnas.search.oneshot

    def refuse(*args: object, **kwargs: object) -> None:
        raise RayStarted("bnas search started Ray on bad input")

    for module in (bnas.search.cluster, bnas.search.multitrial, bnas.search.oneshot):
        monkeypatch.setattr(module, "ray_session", refuse)


@pytest.mark.parametrize("case", _params())
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
    ray_tripwire: None,
) -> None:
    _write(tmp_path, case.files)
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path, BAD)
    started = time.perf_counter()
    code = main(list(case.argv))
    seconds = time.perf_counter() - started
    out, err = capsys.readouterr()
    _check_one_error_line(code, out, err, case.expect)
    assert _snapshot(tmp_path, BAD) == before
    assert seconds < SECONDS_PER_CASE


def test_the_corpus_covers_every_command() -> None:
    commands = {case.argv[0] for case in CASES.values()}
    assert commands == {"validate", "search", "profile", "train", "export", "report"}
    assert len(CASES) >= 30


# One case per command through a real process: nothing of the above depends on pytest's
# capture, and `bnas search` never even imports Ray.
PROCESS_SAMPLE = ["validate/alias_bomb", "search/seed_2**70", "profile/latin1",
                  "train/nul_config", "export/trials_not_records", "report/trials_not_records"]
RUNNER = ("import sys; from bnas.cli import main; code = main(sys.argv[1:]); "
          "assert 'ray' not in sys.modules, 'Ray was imported'; sys.exit(code)")


def test_bad_input_in_real_processes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = []
    for name in PROCESS_SAMPLE:
        case = CASES[name]
        folder = tmp_path / name.replace("/", "-")
        folder.mkdir()
        _write(folder, case.files)
        runs.append((name, case, folder, _snapshot(folder, BAD), subprocess.Popen(
            [sys.executable, "-c", RUNNER, *case.argv], cwd=folder, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    for name, case, folder, before, process in runs:
        out, err = process.communicate(timeout=120)
        _check_one_error_line(process.returncode, out, err, case.expect)
        assert _snapshot(folder, BAD) == before, name


# ---- a full disk during `bnas train` ----------------------------------------------------------
# The kernel itself fails the writes, at whatever write runs out of room, for every writer
# (Python, safetensors, TensorBoard's thread):
# - before anything is trained: a file-size limit (RLIMIT_FSIZE, EFBIG "File too large") on
#   this process, which needs no privilege and takes the same path through bnas as ENOSPC;
# - after a checkpoint: a real tmpfs of 3 MB (ENOSPC) mounted in a private user and mount
#   namespace (`unshare`, no root needed where the kernel allows user namespaces).
TRAIN_ARGV = ("train", "--backbone", "reactnet_a", "--data", "digits", "--epochs", "2",
              "--batch-size", "64", "--subset", "20", "--no-augment", "--threads", "1",
              "--no-progress", "--out", "runs/run")
# A run's checkpoint is ~1.7 MB, its best model 0.4 MB: 64 kB per file fails the first model
# file; 3 MB holds epoch 1 but not epoch 2's checkpoint beside it.
FILE_SIZE_LIMIT = 64 * 1024
DISK_SIZE = "3m"
ON_A_SMALL_DISK = (
    'mount -t tmpfs -o size="$1" bnas-small-disk "$2" || exit 99; cd "$2"; shift 2; '
    '"$@"; echo "exit $?"; find . -mindepth 1 | sort'
)


def test_disk_full_before_a_checkpoint_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import resource
    import signal

    monkeypatch.chdir(tmp_path)
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail writes, not die
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, limits[1]))
    try:
        code = main(list(TRAIN_ARGV))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous_handler)
    out, err = capsys.readouterr()
    _check_one_error_line(code, out, err, "runs/run/best/model.safetensors: File too large; "
                          "runs/run removed (nothing was trained to keep)")
    assert list(tmp_path.iterdir()) == []  # runs/ too: it was made for this run


def _namespaces_work() -> bool:
    if sys.platform != "linux" or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _namespaces_work(), reason="no user namespaces to mount a tmpfs in")
def test_disk_full_after_a_checkpoint_keeps_it_resumable(tmp_path: Path) -> None:
    process = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", ON_A_SMALL_DISK, "sh",
         DISK_SIZE, str(tmp_path), sys.executable, "-c", RUNNER, *TRAIN_ARGV],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=300)
    assert process.returncode != 99, f"cannot mount a tmpfs: {process.stderr}"
    lines = process.stdout.splitlines()
    status = next(line for line in lines if line.startswith("exit "))
    _check_one_error_line(int(status.split()[1]), "", process.stderr,
                          "No space left on device; runs/run keeps the checkpoint of epoch 1: "
                          "make room, then continue with --resume")
    left = lines[lines.index(status) + 1:]
    assert not [name for name in left if name.endswith((".partial", ".tmp", ".old"))]
    assert {"./runs/run/last/model.safetensors", "./runs/run/last/optimizer.safetensors",
            "./runs/run/last/trainer_state.json", "./runs/run/config.yaml"} <= set(left)
