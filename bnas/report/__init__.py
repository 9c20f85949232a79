"""Report: plots (PNG) and a Markdown summary of a search run, from its ``summary.json``.

::

    from bnas.report import build_report

    report = build_report("runs/demo-digits")   # → runs/demo-digits/report/report.md

The pieces are usable on their own: :mod:`bnas.report.analysis` (plain-Python numbers),
:mod:`bnas.report.plots` (one PNG per function, from trial dicts), :mod:`bnas.report.importance`
(fANOVA on the Optuna study) and :mod:`bnas.report.markdown`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bnas._lazy import lazy_exports

if TYPE_CHECKING:
    from bnas.report.builder import build_report

__all__ = ["build_report"]
__getattr__, __dir__ = lazy_exports(__name__, {"build_report": "bnas.report.builder"})
