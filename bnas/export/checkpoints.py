"""Find a trial's weights in a run directory and check them before anything is loaded.

A trial's ``checkpoint`` in ``summary.json`` is a folder relative to the run directory holding
``best_model.safetensors`` (the weights of the trial's best epoch) and/or ``model.safetensors``
(its last epoch) next to ``trainer_state.json``. Which file is used decides which recorded
number the reloaded weights must reproduce:

=========================  ==========================================================
weights                    reference accuracy
=========================  ==========================================================
best_model.safetensors     ``best_val_top1`` of trainer_state.json (else ``val_top1``)
model.safetensors          ``metrics.final_val_top1`` (the last epoch's)
=========================  ==========================================================

Only the standard library and safetensors (without torch) are used here, so a missing folder
or a truncated weights file is reported in one line before torch is imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnas.errors import BnasError
from bnas.files import BEST_MODEL_FILE, MODEL_FILE, STATE_FILE
from bnas.reading import read_json
from bnas.run_record import TrialRecord

# safetensors' words for a file whose length does not fit its header, and what they mean.
_LENGTH_FAULTS = {
    "header too small": "is truncated or not a safetensors file",
    "invalid header length": "is truncated or not a safetensors file",
    "incomplete metadata": "is truncated or has trailing bytes",
}


@dataclass(frozen=True)
class TrialWeights:
    """The weights file of one trial and the accuracy it must reproduce."""

    checkpoint_dir: Path
    weights: Path
    reference_key: str  # where the reference number comes from, for the user
    reference: float
    state: dict[str, Any]  # trainer_state.json ({} when absent)
    note: str | None = None  # e.g. a summary number that disagrees with the checkpoint's


def check_safetensors(path: Path, what: str) -> None:
    """Check a safetensors file's layout with safetensors' own reader; one line if it fails.

    ``safe_open`` validates what loading relies on (header length and JSON, dtypes, every
    tensor's offsets against its shape, the offsets tiling the data, the file's length) and
    reads no tensor. What it misses: its errors do not say whether a file whose length
    disagrees with its header lacks bytes or has extra ones, so both read "truncated or has
    trailing bytes" here.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy"):
            pass  # opening validates the header against the file
    except OSError as error:
        raise BnasError(f"{what}: cannot read {path} ({error.strerror or error})") from None
    except SafetensorError as error:
        reason = str(error).removeprefix("Error while deserializing header: ")
        fault = next((text for sign, text in _LENGTH_FAULTS.items() if sign in reason),
                     "is corrupt")
        raise BnasError(f"{what}: {path} {fault} ({path.stat().st_size} bytes; "
                        f"safetensors: {reason})") from None


def resolve_checkpoint(run_dir: Path, trial: TrialRecord) -> Path:
    """The trial's checkpoint folder; it must exist and lie inside the run directory."""
    trial_id = trial.trial_id
    relative = trial.checkpoint
    if not relative:
        raise BnasError(f"trial {trial_id}: summary.json records no checkpoint for it "
                        f"(status {trial.status}); nothing to export")
    normal = os.path.normpath(str(relative))
    if os.path.isabs(normal) or normal == ".." or normal.startswith(".." + os.sep):
        raise BnasError(f"trial {trial_id}: checkpoint {relative!r} lies outside the run "
                        f"directory {run_dir}")
    folder = run_dir / normal
    if not folder.is_dir():
        raise BnasError(f"trial {trial_id}: checkpoint folder {folder} is missing")
    return folder


def _read_state(folder: Path, trial_id: str) -> dict[str, Any]:
    path = folder / STATE_FILE
    if not path.is_file():
        return {}
    try:
        state = read_json(path, "trainer state")
    except BnasError as error:
        raise BnasError(f"trial {trial_id}: {error}") from None
    if not isinstance(state, dict):
        raise BnasError(f"trial {trial_id}: {path} is not a trainer state (expected a mapping)")
    return state


def trial_weights(run_dir: Path, trial: TrialRecord) -> TrialWeights:
    """Locate and check a trial's weights; say which recorded accuracy they must reproduce."""
    trial_id = trial.trial_id
    folder = resolve_checkpoint(run_dir, trial)
    state = _read_state(folder, trial_id)
    metrics = trial.metrics
    note = None
    if (folder / BEST_MODEL_FILE).is_file():
        weights = folder / BEST_MODEL_FILE
        reference_key, reference = "metrics.val_top1 (best epoch)", metrics.get("val_top1")
        state_best = state.get("best_val_top1")
        if state_best is not None:
            if reference is not None and abs(float(state_best) - float(reference)) > 1e-9:
                # bnas.train's best skips step-1 epochs of the two-step recipe; an older
                # summary may have picked one of them.
                note = (f"summary.json says val_top1 {float(reference):.4f}; the checkpoint's "
                        f"best (epoch {state.get('best_epoch')}) is {float(state_best):.4f}")
            reference_key = f"{STATE_FILE} best_val_top1 (epoch {state.get('best_epoch')})"
            reference = state_best
    elif (folder / MODEL_FILE).is_file():
        weights = folder / MODEL_FILE
        reference_key, reference = "metrics.final_val_top1 (last epoch)", metrics.get(
            "final_val_top1")
    else:
        raise BnasError(f"trial {trial_id}: checkpoint folder {folder} holds neither "
                        f"{BEST_MODEL_FILE} nor {MODEL_FILE}")
    if reference is None:
        raise BnasError(f"trial {trial_id}: summary.json records no accuracy for the weights "
                        f"in {weights.name} ({reference_key})")
    check_safetensors(weights, f"trial {trial_id}")
    return TrialWeights(folder, weights, reference_key, float(reference), state, note)
