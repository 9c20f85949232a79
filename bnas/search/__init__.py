"""Search: Ray Tune trains candidates, Optuna samples them, ASHA stops bad ones early.

The only room that imports Ray, and only when a search runs: ``pareto`` and ``summary``
are plain Python for export and report.
"""

from typing import TYPE_CHECKING

from bnas._lazy import lazy_exports
from bnas.files import SUMMARY_FILE
from bnas.pareto import dominates, pareto_front
from bnas.search.summary import load_summary

if TYPE_CHECKING:
    from bnas.search.controller import run_search

__all__ = ["SUMMARY_FILE", "dominates", "load_summary", "pareto_front", "run_search"]
__getattr__, __dir__ = lazy_exports(__name__, {"run_search": "bnas.search.controller"})
