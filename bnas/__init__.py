"""bnas: neural architecture search over binary neural networks with dynamic thresholds.

What a user imports lives here; everything else is a room of the data flow
(``space → models/nn/profile → train → search → export/report``). The heavy entry points
(torch, Ray) are imported on first use, so ``import bnas`` and ``bnas --help`` stay fast::

    from bnas import Architecture, build_model, profile_architecture, load_space

(``bnas.train`` is the training package; its function is ``from bnas.train import train``.)
"""

from __future__ import annotations

from bnas._lazy import lazy_exports
from bnas.architecture import Architecture, Threshold
from bnas.errors import BnasError

__version__ = "0.1.0"

# name → module that defines it, imported on first access
_LAZY = {
    "build_model": "bnas.models",
    "profile_architecture": "bnas.profile",
    "load_splits": "bnas.data",
    "TrainConfig": "bnas.train",
    "load_space": "bnas.space",
    "run_search": "bnas.search",
    "load_summary": "bnas.search",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


__all__ = ["Architecture", "BnasError", "Threshold", "__version__", *_LAZY]
