"""bnas: neural architecture search over binary neural networks with dynamic thresholds.

What a user imports lives here; everything else is a room of the data flow
(``space → models/nn/profile → train → search → export/report``).
"""

from bnas.architecture import Architecture, Threshold
from bnas.errors import BnasError

__version__ = "0.1.0"

__all__ = ["Architecture", "BnasError", "Threshold", "__version__"]
