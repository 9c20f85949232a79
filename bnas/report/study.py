"""The run's Optuna study (``RUN_DIR/study.db``) and how its trials map to ``summary.json``'s.

Ray Tune's trial ids (random hashes) say nothing about order; Optuna numbers its trials in
the order its sampler suggested them. A summary trial's ``config.params`` are exactly the
Optuna trial's ``params`` (OptunaSearch hands them to Ray as the config), so matching the two
gives every summary trial its Optuna number. Identical parameter sets (a sampler may suggest
one twice) are matched in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnas.files import STUDY_FILE, STUDY_JOURNAL_FILE


@dataclass
class RunStudy:
    """The loaded study, or None with the reason in ``note``."""

    study: Any = None
    name: str | None = None
    note: str = ""


def load_run_study(run_dir: str | Path, summary: dict[str, Any] | None = None) -> RunStudy:
    """Open ``sqlite:///RUN_DIR/study.db``, or the Optuna journal ``RUN_DIR/study.journal`` of
    a one-shot search: the study named like the run (or its only one)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_dir = Path(run_dir)
    path = run_dir / STUDY_FILE
    journal = run_dir / STUDY_JOURNAL_FILE
    if not path.is_file() and not journal.is_file():
        return RunStudy(note=f"no {STUDY_FILE} in the run directory")
    try:
        if path.is_file():
            storage: Any = f"sqlite:///{path}"
        else:
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            path, storage = journal, JournalStorage(JournalFileBackend(str(journal)))
        names = optuna.study.get_all_study_names(storage)
        preferred = [run_dir.name, str((summary or {}).get("name"))]
        name = next((n for n in preferred if n in names), names[0] if len(names) == 1 else None)
        if name is None:
            return RunStudy(note=f"{path.name} holds {len(names)} studies "
                                 f"({', '.join(names) or 'none'}), none named {run_dir.name}")
        return RunStudy(optuna.load_study(study_name=name, storage=storage), name)
    except Exception as error:  # sqlalchemy / optuna errors on a damaged file
        return RunStudy(note=f"cannot read {path.name} ({type(error).__name__})")


def trial_numbers(study: Any, trials: list[dict[str, Any]]) -> dict[str, int]:
    """{summary trial id: Optuna trial number} for the trials whose params match one."""
    free: dict[str, list[int]] = {}
    for frozen in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        free.setdefault(_key(frozen.params), []).append(frozen.number)
    numbers = {}
    for trial in trials:
        params = (trial.get("config") or {}).get("params")
        candidates = free.get(_key(params or {}))
        if params and candidates:
            numbers[str(trial["trial_id"])] = candidates.pop(0)
    return numbers


def _key(params: dict[str, Any]) -> str:
    return repr(sorted((str(k), repr(v)) for k, v in params.items()))
