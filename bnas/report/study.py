"""The run's Optuna study (``RUN_DIR/study.db``) and how its trials map to ``summary.json``'s.

Ray Tune's trial ids (random hashes) say nothing about order; Optuna numbers its trials in
the order its sampler suggested them. A summary trial's ``config.params`` are exactly the
Optuna trial's ``params`` (OptunaSearch hands them to Ray as the config), so matching the two
gives every summary trial its Optuna number. Identical parameter sets (a sampler may suggest
one twice) are matched in order.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnas.errors import BnasError
from bnas.files import STUDY_FILE, STUDY_JOURNAL_FILE
from bnas.run_paths import inside_run
from bnas.study_journal import check_journal


@dataclass
class RunStudy:
    """The loaded study, or None with the reason in ``note``; ``damage``: what of its file
    could not be read (the study holds the rest)."""

    study: Any = None
    name: str | None = None
    note: str = ""
    damage: str = ""


def load_run_study(run_dir: str | Path, summary: dict[str, Any] | None = None) -> RunStudy:
    """Open ``sqlite:///RUN_DIR/study.db``, or the Optuna journal ``RUN_DIR/study.journal`` of
    a one-shot search: the study named like the run (or its only one). A journal with damaged
    lines is read without them (:mod:`bnas.study_journal`), and ``damage`` says so."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_dir = Path(run_dir)
    path = inside_run(run_dir, STUDY_FILE, "study")
    journal = inside_run(run_dir, STUDY_JOURNAL_FILE, "study")
    if not path.is_file() and not journal.is_file():
        return RunStudy(note=f"no {STUDY_FILE} or {STUDY_JOURNAL_FILE} in the run directory")
    if path.is_file():
        return _open(run_dir, path, f"sqlite:///{path}", summary)
    try:
        check = check_journal(journal)
    except BnasError as error:
        return RunStudy(note=f"cannot read {journal.name}: {error}")
    with _journal_storage(check.whole_text()) as storage:
        study = _open(run_dir, journal, storage, summary)
    if check.damaged:
        study.damage = f"{journal.name}: {check.describe_damage()} skipped"
    return study


@contextlib.contextmanager
def _journal_storage(text: bytes) -> Iterator[Any]:
    """An Optuna journal storage over ``text`` (a private copy: the report changes nothing
    in the run folder, and Optuna's reader never meets a damaged line)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    with tempfile.TemporaryDirectory(prefix="bnas-report-") as folder:
        copy = Path(folder) / STUDY_JOURNAL_FILE
        copy.write_bytes(text)
        yield JournalStorage(JournalFileBackend(str(copy)))


def _open(run_dir: Path, path: Path, storage: Any, summary: dict[str, Any] | None) -> RunStudy:
    """The study of ``storage`` named like the run (or its only one), loaded whole."""
    import optuna

    try:
        names = optuna.study.get_all_study_names(storage)
        preferred = [run_dir.name, str((summary or {}).get("name"))]
        name = next((n for n in preferred if n in names), names[0] if len(names) == 1 else None)
        if name is None:
            return RunStudy(note=f"{path.name} holds {len(names)} studies "
                                 f"({', '.join(names) or 'none'}), none named {run_dir.name}")
        study = optuna.load_study(study_name=name, storage=storage)
        if not isinstance(storage, str):  # a journal's private copy goes: keep it in memory
            kept = optuna.create_study(study_name=name, directions=study.directions)
            kept.add_trials(study.get_trials(deepcopy=False))
            study = kept
        return RunStudy(study, name)
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
