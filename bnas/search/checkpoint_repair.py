"""Resume after a hard kill: give each trial the checkpoint Ray Tune's saved state names.

Ray Tune deletes a trial's older checkpoints (``CheckpointConfig(num_to_keep)``) as soon as it
registers a newer one, but saves its experiment state — which names each trial's latest
checkpoint — only later, at the end of its loop or after a sync still in progress. A run
killed in between (SIGKILL, out of memory, a lost machine) leaves a state that names a deleted
checkpoint, and ``Tuner.restore`` then fails that trial on every retry ("Could not recover from
checkpoint as it does not exist on storage anymore"). The checkpoints written after the named
one are still in the trial's folder: the oldest of them is copied under the missing name
before the restore, so the trial continues from there. Ray's iteration count then trails the
trial's epochs by the epochs it had trained past the saved state (ASHA's rungs count Ray's
iterations): the kill's only trace.

Ray's state file is read as JSON, without unpickling anything (its trial entries are JSON
texts; only their ``trial_id``, ``status``, ``relative_logdir`` and the last result's
``checkpoint_dir_name`` are used).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from bnas.files import MODEL_FILE, STATE_FILE

_CHECKPOINT = re.compile(r"checkpoint_(\d+)")


def repair_checkpoint_references(run_dir: Path) -> list[str]:
    """Copy, for each unfinished trial whose named checkpoint is gone, the oldest later
    checkpoint under the missing name; returns one line per repair (nothing when nothing
    was missing)."""
    states = sorted(run_dir.glob("experiment_state-*.json"))
    if not states:
        return []
    try:
        entries = json.loads(states[-1].read_text())["trial_data"]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # a damaged state is Tuner.restore's to report
    repairs = []
    for entry in entries:
        try:
            trial, runtime = json.loads(entry[0]), json.loads(entry[1])
            trial_id, folder = trial["trial_id"], trial["relative_logdir"]
            named = (runtime.get("last_result") or {}).get("checkpoint_dir_name")
        except (ValueError, KeyError, TypeError, IndexError):
            continue
        if trial.get("status") in ("TERMINATED", "ERROR") or not isinstance(named, str):
            continue
        if not isinstance(folder, str) or Path(folder).name != folder or folder in ("", "..", "."):
            continue  # a trial folder is a name in the run folder, nothing else
        repair = _repair_trial(run_dir / str(folder), named)
        if repair:
            repairs.append(f"resume: trial {trial_id} continues from {repair} (Ray's saved "
                           f"state named {named}, deleted before the state was saved)")
    return repairs


def _repair_trial(trial_dir: Path, named: str) -> str | None:
    match = _CHECKPOINT.fullmatch(named)
    if match is None or not trial_dir.is_dir() or (trial_dir / named).exists():
        return None
    later = sorted(
        (int(m.group(1)), path) for path in trial_dir.iterdir()
        if (m := _CHECKPOINT.fullmatch(path.name)) and int(m.group(1)) > int(match.group(1))
    )
    # A checkpoint is complete once a later one exists (Ray copies one before the trial
    # trains on); the latest may be a copy the kill cut short.
    complete = [path for _, path in later[:-1]] + [
        path for _, path in later[-1:] if _has_checkpoint_files(path)]
    if not complete:
        return None
    partial = trial_dir / f".{named}.copying"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(complete[0], partial)
    partial.rename(trial_dir / named)
    return complete[0].name


def _has_checkpoint_files(folder: Path) -> bool:
    return (folder / STATE_FILE).is_file() and (folder / MODEL_FILE).is_file()
