"""The output folder of ``bnas train``: what it holds, and never mixing two runs in it.

::

    arch.yaml      the architecture, args filled from the data
    config.yaml    the TrainConfig in the config-file form of ``bnas train`` (rerunnable)
    last/          the latest checkpoint (see :mod:`bnas.train.checkpoint`)
    best/          model.safetensors + arch.yaml of the best fully binary epoch
    tb/            TensorBoard scalars
    summary.json   written by ``bnas train`` when the run ends
"""

from __future__ import annotations

import shutil
from pathlib import Path

from torch import nn

from bnas.architecture import Architecture
from bnas.errors import BnasError
from bnas.files import (
    ARCH_FILE,
    BEST_DIR,
    CONFIG_FILE,
    LAST_DIR,
    MODEL_FILE,
    SUMMARY_FILE,
    TENSORBOARD_DIR,
)
from bnas.train.checkpoint import find_checkpoint, read_checkpoint_state, save_model
from bnas.train_config import TrainConfig
from bnas.writing import os_problem, write_text_atomic

# What a run leaves behind besides arch.yaml / config.yaml (rewritten by every run anyway).
_RUN_ENTRIES = (LAST_DIR, f"{LAST_DIR}.old", f"{LAST_DIR}.tmp", BEST_DIR, TENSORBOARD_DIR)


def refuse_existing_run(out_dir: Path) -> None:
    """A BnasError when ``out_dir`` already holds a run's checkpoint."""
    previous = find_checkpoint(out_dir / LAST_DIR)
    if previous is not None:
        raise BnasError(
            f"{out_dir} already holds a training run ({previous}); resume it "
            "(--resume), start over (--overwrite) or choose another output folder"
        )


def open_run_folder(out_dir: Path, arch: Architecture, config: TrainConfig,
                    start_over: bool) -> None:
    """Create ``out_dir`` with ``arch.yaml`` and ``config.yaml``.

    ``start_over`` first removes a previous run's checkpoints, best model, curves and summary,
    which would mislead next to the new run's.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if start_over:
        for name in _RUN_ENTRIES:
            shutil.rmtree(out_dir / name, ignore_errors=True)
        (out_dir / SUMMARY_FILE).unlink(missing_ok=True)
    arch.save(out_dir / ARCH_FILE)
    _write_config(out_dir, config)


def abandon_run_folder(out_dir: Path, created: list[Path], error: OSError) -> BnasError:
    """What is left after the file system failed a run (a full disk, say): one error line.

    Every file of a run folder is written atomically, so nothing in it is half written. A
    run with a checkpoint keeps its folder, resumable once there is space; a run without one
    removes the folders it created (``created``: ``out_dir`` and the parents it needed,
    deepest first), leaving no trace.
    """
    problem = os_problem(error)
    checkpoint = find_checkpoint(out_dir / LAST_DIR)
    if checkpoint is not None:
        epoch = read_checkpoint_state(checkpoint).get("epoch")
        return BnasError(f"{problem}; {out_dir} keeps the checkpoint of epoch {epoch}: make "
                         "room, then continue with --resume")
    if out_dir in created:
        shutil.rmtree(out_dir, ignore_errors=True)
        for parent in created[1:]:
            try:
                parent.rmdir()
            except OSError:  # not empty: something else lives there now
                break
        return BnasError(f"{problem}; {out_dir} removed (nothing was trained to keep)")
    return BnasError(f"{problem}; {out_dir} holds no checkpoint of this run")


def save_best(out_dir: Path, model: nn.Module, arch: Architecture) -> None:
    """``best/model.safetensors`` + ``best/arch.yaml`` (what ``--teacher`` reads)."""
    best = out_dir / BEST_DIR
    best.mkdir(exist_ok=True)
    save_model(model, best / MODEL_FILE)
    arch.save(best / ARCH_FILE)


def _write_config(out_dir: Path, config: TrainConfig) -> None:
    import yaml

    text = f"# bnas train config; rerun with: bnas train {CONFIG_FILE} --out NEW_FOLDER\n"
    text += yaml.safe_dump({"arch": ARCH_FILE, **config.to_dict()}, sort_keys=False)
    write_text_atomic(out_dir / CONFIG_FILE, text)
