"""Run a bit-packed model without torch: OpenVINO's CPU plugin and numpy, nothing else.

::

    from bnas.deploy import load
    model = load("runs/demo-digits/export/best/model.xml")   # threads=1, precision="f32"
    logits = model(batch)                                     # float32 N×C×H×W → N×classes

This module, :mod:`bnas.deploy.latency`, :mod:`bnas.deploy.images` and ``bnas predict`` import
no torch (an import-linter contract keeps it so): a deployed model runs where only
``openvino`` and numpy are installed.

**Precision.** ``f32`` (the default) sets the CPU plugin's ``INFERENCE_PRECISION_HINT`` to
f32: on CPUs with bf16 arithmetic (AVX-512 BF16, AMX) OpenVINO otherwise runs float ops in
bf16, and the outputs drift from PyTorch's. ``bf16`` asks for that default; where the CPU has
no bf16 arithmetic the plugin runs f32 anyway (``runtime_precision`` says what ran).

**Batch.** The IR's batch dimension is dynamic, but the CPU plugin's ``BinaryConvolution``
accepts only static shapes; the model is therefore compiled once per batch size it is called
with (a few hundred ms for a full ReActNet-A, then cached).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bnas.errors import BnasError

if TYPE_CHECKING:
    import openvino as ov

PRECISIONS = ("f32", "bf16")
DEVICE = "CPU"


@cache
def openvino_core() -> ov.Core:
    """The process's OpenVINO runtime; one line if openvino is missing or has no CPU device."""
    try:
        import openvino as ov
    except ImportError as error:
        raise BnasError(f"OpenVINO is not installed ({error}); pip install openvino") from None
    core = ov.Core()
    if DEVICE not in core.available_devices:
        raise BnasError(f"OpenVINO has no {DEVICE} device on this machine (devices: "
                        f"{', '.join(core.available_devices) or 'none'})")
    return core


def cpu_name() -> str:
    """The CPU as OpenVINO names it (e.g. ``AMD EPYC``)."""
    return str(openvino_core().get_property(DEVICE, "FULL_DEVICE_NAME"))


def check_settings(threads: int, precision: str) -> None:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise BnasError(f"threads: expected a positive integer, got {threads!r}")
    if precision not in PRECISIONS:
        raise BnasError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")


def compile_config(threads: int, precision: str, *, profile: bool = False) -> dict[str, Any]:
    """CPU plugin settings: ``threads`` threads, one stream, the latency hint, ``precision``."""
    check_settings(threads, precision)
    return {
        "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": precision,
        "PERF_COUNT": profile,
    }


def read_model(model: ov.Model | str | Path) -> ov.Model:
    """An OpenVINO model, read from ``model`` when it is a path (an IR's .xml, or an .onnx)."""
    core = openvino_core()
    if not isinstance(model, (str, Path)):
        return model
    path = Path(model)
    if not path.is_file():
        raise BnasError(f"{path}: no such model file")
    try:
        if path.suffix.lower() != ".xml":
            return core.read_model(str(path))
        # The IR reader alone: Core.read_model tries every frontend on a damaged .xml, and
        # TensorFlow's writes its own parse errors to stderr.
        import openvino as ov

        frontend = ov.frontend.FrontEndManager().load_by_framework("ir")
        return frontend.convert(frontend.load(str(path)))
    except RuntimeError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else "unreadable"
        raise BnasError(f"{path}: not a readable OpenVINO model ({reason})") from None


def input_dims(model: ov.Model) -> tuple[int, ...]:
    """The input's C, H, W (all but the batch dimension)."""
    shape = model.input(0).get_partial_shape()
    return tuple(shape[i].get_length() for i in range(1, shape.rank.get_length()))


def compile_model(model: ov.Model, *, batch: int, threads: int, precision: str,
                  profile: bool = False) -> ov.CompiledModel:
    """``model`` compiled for the CPU at a static ``batch`` (see the module notes)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise BnasError(f"batch: expected a positive integer, got {batch!r}")
    static = model.clone()
    static.reshape({static.input(0).get_any_name(): [batch, *input_dims(model)]})
    config = compile_config(threads, precision, profile=profile)
    try:
        return openvino_core().compile_model(static, DEVICE, config)
    except RuntimeError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        raise BnasError(f"OpenVINO cannot compile the model for {DEVICE} "
                        f"({lines[-1] if lines else error})") from None


class DeployedModel:
    """A bit-packed model on the CPU: call it on a float32 N×C×H×W batch, get N×K logits."""

    def __init__(self, model: ov.Model, *, threads: int = 1, precision: str = "f32",
                 source: str = "model") -> None:
        check_settings(threads, precision)
        self.model = model
        self.threads = threads
        self.precision = precision
        self.source = source
        self.input_shape = input_dims(model)
        self._compiled: dict[int, ov.CompiledModel] = {}

    def compiled(self, batch: int) -> ov.CompiledModel:
        if batch not in self._compiled:
            self._compiled[batch] = compile_model(self.model, batch=batch, threads=self.threads,
                                                  precision=self.precision)
        return self._compiled[batch]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        array = np.ascontiguousarray(batch, dtype=np.float32)
        if array.ndim != 1 + len(self.input_shape) or array.shape[1:] != self.input_shape:
            expected = "N×" + "×".join(map(str, self.input_shape))
            raise BnasError(f"{self.source}: expects a float32 batch of {expected}, got shape "
                            f"{tuple(array.shape)}")
        if len(array) == 0:
            raise BnasError(f"{self.source}: empty batch")
        return self.compiled(len(array))(array)[0].copy()


def load(path: str | Path, *, threads: int = 1, precision: str = "f32") -> DeployedModel:
    """The IR at ``path`` (``model.xml``; ``model.bin`` beside it) as a callable on numpy
    batches, on ``threads`` CPU threads in ``precision`` (``f32`` or ``bf16``)."""
    check_settings(threads, precision)
    return DeployedModel(read_model(path), threads=threads, precision=precision,
                         source=str(path))
