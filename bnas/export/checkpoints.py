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

Only the standard library is used here, so a missing folder or a truncated weights file is
reported in one line before torch is imported.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnas.errors import BnasError
from bnas.files import BEST_MODEL_FILE, MODEL_FILE, STATE_FILE
from bnas.reading import read_json
from bnas.run_record import TrialRecord

_MAX_HEADER = 100 * 2**20  # safetensors' own limit on the JSON header
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
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


def check_safetensors(path: Path, what: str) -> int:
    """Validate a safetensors file's layout (header, offsets, length); return its tensor count.

    Layout: 8-byte little-endian header length N, N bytes of JSON ``{name: {dtype, shape,
    data_offsets: [begin, end]}}``, then the tensor bytes; the offsets must tile the data
    exactly. A truncated or tampered file fails here with one line.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise BnasError(f"{what}: {path} is truncated ({size} bytes; not safetensors)")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > min(_MAX_HEADER, size - 8):
                raise BnasError(f"{what}: {path} is truncated or not a safetensors file "
                                f"(header of {header_len} bytes in a {size}-byte file)")
            header = json.loads(handle.read(header_len))
    except OSError as error:
        raise BnasError(f"{what}: cannot read {path} ({error.strerror})") from None
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise BnasError(f"{what}: {path} has a corrupt safetensors header") from None
    if not isinstance(header, dict):
        raise BnasError(f"{what}: {path} has a corrupt safetensors header")
    header.pop("__metadata__", None)
    end = 0
    for name, entry in header.items():
        try:
            begin, stop = entry["data_offsets"]
            count = 1
            for dim in entry["shape"]:
                count *= int(dim)
            expected = count * _DTYPE_BYTES[entry["dtype"]]
        except (KeyError, TypeError, ValueError):
            raise BnasError(f"{what}: {path} has a corrupt safetensors header "
                            f"(entry {name!r})") from None
        if stop - begin != expected or begin < 0:
            raise BnasError(f"{what}: {path} is corrupt (tensor {name!r} has {stop - begin} "
                            f"bytes, its shape needs {expected})")
        end = max(end, stop)
    data = size - 8 - header_len
    if data != end:
        state = "truncated" if data < end else "corrupt (trailing bytes)"
        raise BnasError(f"{what}: {path} is {state}: {data} data bytes, the header "
                        f"describes {end}")
    return len(header)


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
