"""PyTorch → ONNX for bnas models, and the parity check against onnxruntime.

The export uses the TorchScript exporter (``dynamo=False``): bnas models are plain
feed-forward modules, it needs no ``torch.export``-able code, and the graph it writes
(opset 17 by default) runs in any onnxruntime ≥ 1.14. The batch axis is dynamic; the parity
check runs a batch of a *different* size from the traced one, so a batch size frozen into the
graph (e.g. by a reshape) fails it.

Binarized activations make ONNX parity a sharp test: sign(x − τ) flips when float rounding
moves x across its threshold, and one flip changes the logits visibly. The check reports the
largest absolute logit difference and the top-1 agreement; above ``atol`` it fails.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bnas.errors import BnasError
from bnas.export.onnx_runtime import load_session, run_onnx

DEFAULT_OPSET = 17
DEFAULT_ATOL = 1e-3
MIN_OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


@dataclass(frozen=True)
class OnnxParity:
    """How closely onnxruntime reproduces PyTorch's logits on one batch."""

    max_abs_diff: float
    images: int
    top1_agree: int
    atol: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.atol

    def to_dict(self) -> dict[str, float | int]:
        return {"max_abs_diff": self.max_abs_diff, "images": self.images,
                "top1_agree": self.top1_agree, "atol": self.atol}


def export_onnx(
    model: nn.Module, sample: torch.Tensor, path: str | Path, *, opset: int = DEFAULT_OPSET
) -> Path:
    """Write ``model`` (put in eval mode) as ONNX with a dynamic batch axis; check the graph."""
    import onnx

    if opset < MIN_OPSET:
        raise BnasError(f"--opset: bnas exports need opset >= {MIN_OPSET}, got {opset}")
    path = Path(path)
    model.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated upstream (we choose it on purpose), and the
        # tracer warns about Python control flow that is constant for a given architecture.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model, (sample,), str(path), dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    onnx.checker.check_model(str(path))
    return path


@torch.no_grad()
def onnx_parity(
    model: nn.Module, path: str | Path, images: torch.Tensor, *, atol: float = DEFAULT_ATOL
) -> tuple[OnnxParity, np.ndarray]:
    """Compare onnxruntime with PyTorch on ``images``; returns (parity, PyTorch logits)."""
    model.eval()
    expected = model(images).float().cpu().numpy()
    actual = run_onnx(load_session(path), images.cpu().numpy())
    if actual.shape != expected.shape:
        raise BnasError(f"onnx: {path} gives logits of shape {actual.shape}, PyTorch "
                        f"{expected.shape}")
    parity = OnnxParity(
        max_abs_diff=float(np.abs(actual - expected).max()),
        images=len(images),
        top1_agree=int((actual.argmax(1) == expected.argmax(1)).sum()),
        atol=atol,
    )
    return parity, expected
