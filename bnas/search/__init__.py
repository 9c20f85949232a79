"""Search: Ray Tune trains candidates, Optuna samples them, ASHA stops bad ones early.

The only room that imports Ray, and only when a search runs: ``pareto`` and ``summary``
are plain Python for export and report.
"""

from bnas.search.pareto import dominates, pareto_front
from bnas.search.summary import SUMMARY_FILE, load_summary


def run_search(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - re-exported lazily
    """See :func:`bnas.search.controller.run_search` (imported on first use: Ray is slow)."""
    from bnas.search.controller import run_search as _run_search

    return _run_search(*args, **kwargs)


__all__ = ["SUMMARY_FILE", "dominates", "load_summary", "pareto_front", "run_search"]
