"""``run_search``: the search strategy of ``search.strategy`` run on a space — a multi-trial
search (:mod:`bnas.search.multitrial`) or a one-shot one (:mod:`bnas.search.oneshot`) — after
what both share: the run folder checked (:class:`bnas.search.run_dir.RunFolder`) and the
preflight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bnas.search.multitrial import run_multitrial
from bnas.search.run_dir import RunFolder
from bnas.space.preflight import preflight


def run_search(
    space: Any,
    *,
    name: str | None = None,
    storage: str | Path = "runs",
    address: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Run (or resume) a search; returns the summary also written to ``RUN_DIR/summary.json``.

    The run directory is ``storage/name`` (``name`` defaults to the space's name). A new run
    refuses an existing run directory; ``resume=True`` requires one that only the current user
    can have written; either refuses a run folder another bnas command is working on
    (:mod:`bnas.search.run_dir`). What every trial would find out (data, teacher, device,
    budgets, this machine) is found before Ray starts and before anything is written (the
    preflight); settings it or the space's checks clamped are printed as notes. SIGINT /
    SIGTERM end the search with :class:`~bnas.search.shutdown.SearchInterrupted` and no
    summary; the run can be resumed once Tune has saved its state (an interrupted new run
    without one is removed).
    """
    run = RunFolder(name or space.name, storage, resume)
    preflight(space, local=address is None)
    for note in space.notes:
        print(f"note: {note}", flush=True)
    if space.search.strategy == "oneshot":
        from bnas.search.oneshot import run_oneshot

        return run_oneshot(space, run, address=address)
    return run_multitrial(space, run, address=address)
