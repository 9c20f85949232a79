"""A one-shot run's Optuna journal (``study.journal``) checked line by line before Optuna reads it.

Optuna's journal is one JSON operation per line; a one-shot search writes its study and then
one ``CREATE_TRIAL`` line per candidate it told. Optuna's reader raises on a damaged line in
the middle (a traceback) and silently stops at a partial last one (a journal cut short reads
as a shorter search). :func:`check_journal` reads the lines itself, so that a reader can say
what it found: the whole lines, the damaged ones (by number), how many candidates the whole
ones hold. The candidate search resumes from a repaired journal (:func:`whole_text`: the
damaged lines dropped, and said how many); the report reads a repaired copy and says so.
Plain JSON, no Optuna: the report and the search read it alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bnas.errors import BnasError

# Optuna's JournalOperation numbers (its journal format): a study, and a trial told whole.
CREATE_STUDY_OP = 0
CREATE_TRIAL_OP = 4


@dataclass
class JournalCheck:
    """What :func:`check_journal` found in a journal file."""

    path: Path
    whole: list[bytes] = field(default_factory=list)  # the lines that parse, in order
    damaged: list[int] = field(default_factory=list)  # 1-based numbers of those that do not
    trials: int = 0  # CREATE_TRIAL operations among the whole lines

    def describe_damage(self) -> str:
        """``"2 damaged lines (3, 7)"``; empty when there are none."""
        if not self.damaged:
            return ""
        shown = ", ".join(map(str, self.damaged[:5])) + (", …" if len(self.damaged) > 5 else "")
        return f"{len(self.damaged)} damaged line{'s' * (len(self.damaged) > 1)} ({shown})"

    def whole_text(self) -> bytes:
        """The journal without its damaged lines."""
        return b"".join(self.whole)


def check_journal(path: str | Path) -> JournalCheck:
    """Read ``path`` line by line (see the module docstring). A journal whose study line is
    damaged or missing holds nothing to recover: one BnasError line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise BnasError(f"{path}: cannot read the study journal ({error.strerror or error})"
                        ) from None
    check = JournalCheck(path)
    for number, line in enumerate(raw.splitlines(keepends=True), start=1):
        operation = _operation(line)
        if operation is None:
            check.damaged.append(number)
            continue
        check.whole.append(line)
        check.trials += operation == CREATE_TRIAL_OP
    if raw and _operation(check.whole[0] if check.whole else b"") != CREATE_STUDY_OP:
        raise BnasError(f"{path}:1 damaged: the journal's first line (its study) is not "
                        "whole, so none of its candidates can be read")
    return check


def _operation(line: bytes) -> int | None:
    """The operation code of a whole journal line, or None."""
    if not line.endswith(b"\n"):
        return None  # cut off while it was written
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError and bad UTF-8 are ValueErrors
        return None
    operation = entry.get("op_code") if isinstance(entry, dict) else None
    return operation if isinstance(operation, int) and not isinstance(operation, bool) else None
