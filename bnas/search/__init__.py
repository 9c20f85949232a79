"""Search: Ray Tune trains candidates, Optuna samples them, ASHA stops bad ones early; Ray
Train trains a one-shot search's supernet (:func:`train_supernet_on_ray`).

The only room that imports Ray, and only when a search runs: ``pareto`` and ``summary``
are plain Python for export and report.
"""

from typing import TYPE_CHECKING

from bnas._lazy import lazy_exports
from bnas.files import SUMMARY_FILE
from bnas.pareto import dominates, pareto_front
from bnas.search.summary import load_summary

if TYPE_CHECKING:
    from bnas.search.dispatch import run_search
    from bnas.search.supernet_training import train_supernet_on_ray

__all__ = ["SUMMARY_FILE", "dominates", "load_summary", "pareto_front", "run_search",
           "train_supernet_on_ray"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "run_search": "bnas.search.dispatch",
    "train_supernet_on_ray": "bnas.search.supernet_training",
})
