"""Export: the best / top-k / Pareto trials of a search run as self-describing folders.

::

    from bnas.export import export_run

    records = export_run("runs/demo-digits", mode="top-k", k=3, onnx=True)
    records[0]["verified"]["val_top1"], records[0]["onnx"]["max_abs_diff"]

Each folder holds ``arch.yaml``, ``model.safetensors``, ``retrain.yaml``, ``MODEL_CARD.md``,
``export.json`` and, with ``onnx=True``, ``model.onnx`` plus a sample batch; see
:mod:`bnas.export.exporter`. :mod:`bnas.export.onnx_runtime` runs the ONNX model with numpy
and onnxruntime only. Importing this package imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bnas._lazy import lazy_exports
from bnas.export.selection import Choice, rank_trials, safe_name, select_trials

if TYPE_CHECKING:
    from bnas.export.exporter import export_run, export_trial

__all__ = ["Choice", "export_run", "export_trial", "rank_trials", "safe_name", "select_trials"]
__getattr__, __dir__ = lazy_exports(
    __name__, {"export_run": "bnas.export.exporter", "export_trial": "bnas.export.exporter"}
)
