"""A real search run directory, built without Ray, for the export and report tests.

Three tiny ReActNet-A architectures are really trained on scikit-learn's digits with
:func:`bnas.train.train` (one is cut short after its first epoch, as ASHA would stop it); each
one's checkpoint is copied where Ray Tune would keep it (``trial_x/checkpoint_000001``); one
infeasible and one failed trial complete the picture. ``summary.json`` comes from
:func:`bnas.search.summary.build_summary` and ``study.db`` is a real Optuna SQLite study with
the same trials, as the search's OptunaSearch leaves it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bnas import Architecture

RUN_NAME = "demo-digits-test"
SPACE_FILE = Path(__file__).resolve().parents[1] / "search_spaces" / "demo_digits.yaml"
TRAIN = {"data": {"name": "digits"}, "epochs": 2, "batch_size": 64, "lr": 5e-3,
         "seed": 0}
EPOCH_KEYS = ("epoch", "train_loss", "val_loss", "val_top1", "val_top5", "epoch_seconds",
              "images_per_second", "lr")
# (trial id, blocks, learning rate, epochs to run before "ASHA" stops it)
TRIALS = (
    ("a1b2c_00000", ["static", "static", "static", "static"], 1e-2, 2),
    ("a1b2c_00001", ["static", "dynamic", "static", "dynamic"], 5e-3, 2),
    ("a1b2c_00002", ["dynamic", "dynamic", "dynamic", "dynamic"], 2e-3, 1),
)


class _Stop(Exception):
    """Raised from on_epoch to cut a trial short, as Ray's ASHA would."""


def epoch_checkpoint(run_dir: Path, trial_id: str, epoch: int) -> Path:
    """Where the fixture keeps a copy of trial ``trial_id``'s checkpoint after ``epoch``."""
    return run_dir.parent / f"{run_dir.name}-epochs" / trial_id / f"epoch{epoch}"


def _space() -> Any:
    """The demo space when bnas.space can load it; else just its name and objectives."""
    try:
        from bnas.space import load_space

        if SPACE_FILE.is_file():
            return load_space(SPACE_FILE)
    except ImportError:
        pass
    return SimpleNamespace(
        name=RUN_NAME, search=SimpleNamespace(objectives={"val_top1": "max", "ops": "min"})
    )


def _arch(blocks: list[str]) -> Architecture:
    return Architecture.from_dict(
        {"backbone": "reactnet_a", "args": {"preset": "tiny", "stem": "cifar", "width": 0.5},
         "blocks": blocks}
    )


def _params(blocks: list[str], lr: float) -> dict[str, Any]:
    return {**{f"blocks.{i}.threshold": kind for i, kind in enumerate(blocks)}, "train.lr": lr}


def _trained_trial(run_dir: Path, trial_id: str, blocks: list[str], lr: float,
                   stop_after: int) -> dict[str, Any]:
    from bnas.train import train

    arch = _arch(blocks)
    settings = {**TRAIN, "lr": lr}
    trial_dir = run_dir / f"run_trial_{trial_id}"
    checkpoint = trial_dir / "checkpoint_000001"

    def on_epoch(metrics: dict[str, Any], folder: Path | None) -> None:
        shutil.rmtree(checkpoint, ignore_errors=True)
        shutil.copytree(folder, checkpoint)
        # Every epoch's checkpoint, outside the run directory, for tests that need one.
        shutil.copytree(folder, epoch_checkpoint(run_dir, trial_id, metrics["epoch"]))
        if metrics["epoch"] >= stop_after:
            raise _Stop

    try:
        train(arch, {**settings, "threads": 1}, on_epoch=on_epoch, progress=False)
    except _Stop:
        pass
    import json

    state = json.loads((checkpoint / "trainer_state.json").read_text())
    history = [{k: row[k] for k in EPOCH_KEYS if k in row} for row in state["history"]]
    best = max(history, key=lambda row: row["val_top1"])
    from bnas.profile import profile_architecture

    cost = profile_architecture(Architecture.from_dict(state["arch"])).to_dict()
    return {
        "trial_id": trial_id,
        "arch": arch.to_dict(),
        "arch_summary": arch.summary(),
        "arch_id": arch.arch_id,
        "config": {"params": _params(blocks, lr), "train": settings},
        "metrics": {**cost, **best, "final_val_top1": history[-1]["val_top1"]},
        "history": history,
        "epochs_run": len(history),
        "status": "completed" if len(history) == TRAIN["epochs"] else "stopped",
        "error": None,
        "node_ip": "127.0.0.1",
        "checkpoint": str(checkpoint.relative_to(run_dir)),
        "path": str(trial_dir.relative_to(run_dir)),
    }


def _untrained_trial(trial_id: str, blocks: list[str], status: str) -> dict[str, Any]:
    from bnas.profile import profile_architecture

    arch = _arch(blocks)
    cost = profile_architecture(arch.with_args(num_classes=10, in_chans=1, img_size=8)).to_dict()
    return {
        "trial_id": trial_id, "arch": arch.to_dict(), "arch_summary": arch.summary(),
        "arch_id": arch.arch_id,
        "config": {"params": _params(blocks, 1e-3), "train": {**TRAIN, "lr": 1e-3}},
        "metrics": {**cost, "val_top1": 0.0} if status == "infeasible" else {},
        "history": [], "epochs_run": 0, "status": status,
        "error": "RuntimeError: out of memory" if status == "failed" else None,
        "node_ip": "127.0.0.1", "checkpoint": None, "path": f"run_trial_{trial_id}",
    }


def write_study(run_dir: Path, name: str, objectives: dict[str, str],
                trials: list[dict[str, Any]]) -> Path:
    """The Optuna study OptunaSearch would have left: values = last reported metrics."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = ["maximize" if mode == "max" else "minimize" for mode in objectives.values()]
    path = run_dir / "study.db"
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name=name,
                                directions=directions)
    for trial in trials:
        params = trial["config"]["params"]
        distributions = {
            key: optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
            if key == "train.lr" else
            optuna.distributions.CategoricalDistribution(["static", "dynamic"])
            for key in params
        }
        last = trial["history"][-1] if trial["history"] else trial["metrics"]
        infeasible = trial["status"] == "infeasible"
        failed = trial["status"] == "failed"
        values = None if failed else [
            float(last.get(key, trial["metrics"].get(key, 0.0))) for key in objectives]
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL if failed else optuna.trial.TrialState.COMPLETE,
            params=params, distributions=distributions, values=values,
            user_attrs={"arch": trial["arch_summary"]},
            constraints={"max_ops": 0.5 if infeasible else -0.5},
        ))
    return path


def build_run_dir(run_dir: Path) -> Path:
    """Fill ``run_dir`` with a finished run (see module docstring); returns it."""
    from bnas.search.summary import build_summary, write_summary

    run_dir.mkdir(parents=True, exist_ok=True)
    space = _space()
    trials = [_trained_trial(run_dir, *spec) for spec in TRIALS]
    trials.append(_untrained_trial("a1b2c_00003", ["dynamic"] * 4, "infeasible"))
    trials.append(_untrained_trial("a1b2c_00004", ["static", "dynamic", "dynamic", "static"],
                                   "failed"))
    if SPACE_FILE.is_file():
        shutil.copyfile(SPACE_FILE, run_dir / "space.yaml")
    summary = build_summary(space, trials)
    write_summary(summary, run_dir)
    write_study(run_dir, summary["name"], dict(space.search.objectives), trials)
    return run_dir
