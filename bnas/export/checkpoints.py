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

Only the standard library and safetensors (without torch) are used here, so a missing folder,
a checkpoint path leading out of the run folder, a damaged ``trainer_state.json`` or a
truncated weights file is reported in one line before torch is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnas.errors import BnasError
from bnas.files import BEST_MODEL_FILE, MODEL_FILE, STATE_FILE, SUMMARY_FILE
from bnas.reading import check_safetensors
from bnas.run_paths import inside_run
from bnas.run_record import TrialRecord, read_trainer_state


@dataclass(frozen=True)
class TrialWeights:
    """The weights file of one trial and the accuracy it must reproduce."""

    checkpoint_dir: Path
    weights: Path
    reference_key: str  # where the reference number comes from, for the user
    reference: float
    state: dict[str, Any]  # trainer_state.json ({} when absent)
    note: str | None = None  # e.g. a summary number that disagrees with the checkpoint's


def resolve_checkpoint(run_dir: Path, trial: TrialRecord) -> Path:
    """The trial's checkpoint folder; it must exist and lie inside the run directory, links
    followed (:func:`bnas.run_paths.inside_run`)."""
    trial_id = trial.trial_id
    relative = trial.checkpoint
    if not relative:
        raise BnasError(f"trial {trial_id}: summary.json records no checkpoint for it "
                        f"(status {trial.status}); nothing to export")
    folder = inside_run(run_dir, relative, f"{SUMMARY_FILE} trial {trial_id} checkpoint")
    if not folder.is_dir():
        raise BnasError(f"trial {trial_id}: checkpoint folder {folder} is missing")
    return folder


def _read_state(folder: Path, trial_id: str) -> dict[str, Any]:
    path = folder / STATE_FILE
    if not path.is_file():
        return {}
    try:
        return read_trainer_state(path)
    except BnasError as error:
        raise BnasError(f"trial {trial_id}: {error}") from None


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
    inside_run(run_dir, Path(str(trial.checkpoint)) / weights.name,
               f"{SUMMARY_FILE} trial {trial_id} weights")
    check_safetensors(weights, f"trial {trial_id}")
    return TrialWeights(folder, weights, reference_key, float(reference), state, note)
