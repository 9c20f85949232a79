"""``run_search``: the search strategy of ``search.strategy`` run on a space — a multi-trial
search (:mod:`bnas.search.multitrial`) or a one-shot one (:mod:`bnas.search.oneshot`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bnas.search.multitrial import run_multitrial


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
    can have written (:mod:`bnas.search.run_dir`). SIGINT / SIGTERM end the search with
    :class:`~bnas.search.shutdown.SearchInterrupted` and no summary; the run can be resumed
    once Tune has saved its state (an interrupted new run without one is removed).
    """
    if space.search.strategy == "oneshot":
        from bnas.search.oneshot import run_oneshot

        return run_oneshot(space, name=name, storage=storage, address=address, resume=resume)
    return run_multitrial(space, name=name, storage=storage, address=address, resume=resume)
