"""Run an exported ``model.onnx`` with onnxruntime alone: no torch, no bnas model code.

This module imports only the standard library, numpy and onnxruntime, so it also works as a
stand-alone script copied next to a model on a machine without torch::

    python -m bnas.export.onnx_runtime runs/NAME/export/best/model.onnx \\
        runs/NAME/export/best/sample_input.npy --expect runs/NAME/export/best/sample_logits.npy

``INPUT.npy`` is a float32 batch ``N×C×H×W``, already normalized as bnas.data's evaluation
transform does (see the model card); ``sample_input.npy`` from ``bnas export --onnx`` is one.
It prints the top-1 class of each image; with ``--expect`` it compares the logits with a
reference (PyTorch's) and exits 1 when the largest absolute difference exceeds ``--atol``.
Exit code 2: unreadable input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort


def load_session(model: str | Path, threads: int | None = None) -> ort.InferenceSession:
    """A CPU inference session; graph optimisations on (they keep results within float eps);
    ``threads`` intra-op threads (default: onnxruntime's choice, one per core)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


class OnnxRuntimeProbe:
    """An ONNX model in onnxruntime on a random batch, as a latency probe
    (:func:`bnas.deploy.latency.compare_latencies`): the float twin as bnas exports it."""

    precision = runtime_precision = "f32"

    def __init__(self, model: str | Path, *, threads: int = 1, batch: int = 1,
                 seed: int = 0) -> None:
        self.session = load_session(model, threads)
        node = self.session.get_inputs()[0]
        shape = [batch, *node.shape[1:]]
        self.feed = {node.name: np.random.default_rng(seed).standard_normal(shape).astype(
            np.float32)}
        self.threads, self.batch = threads, batch

    def infer(self) -> None:
        self.session.run(None, self.feed)


def run_onnx(model: str | Path | ort.InferenceSession, inputs: np.ndarray) -> np.ndarray:
    """Logits of ``inputs`` (float32 N×C×H×W) from the ONNX model's first output."""
    session = model if isinstance(model, ort.InferenceSession) else load_session(model)
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(inputs, dtype=np.float32)})[0]


class _BadInput(Exception):
    """An unreadable input file: one line on stderr, exit code 2."""


def _load_array(path: str, what: str) -> np.ndarray:
    """A .npy array; ``allow_pickle=False``, so a file cannot run code when loaded."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise _BadInput(f"{what} {path}: {' '.join(str(error).split())}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bnas.export.onnx_runtime",
        description="top-1 predictions of an exported bnas model with onnxruntime (no torch)",
    )
    parser.add_argument("model", help="model.onnx")
    parser.add_argument("inputs", help="float32 N×C×H×W batch as .npy (normalized)")
    parser.add_argument("--expect", metavar="LOGITS.npy", help="reference logits to compare")
    parser.add_argument("--atol", type=float, default=1e-3,
                        help="largest allowed absolute logit difference (default 1e-3)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except _BadInput as error:
        print(f"onnx_runtime: error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    inputs = _load_array(args.inputs, "inputs")
    if inputs.ndim != 4:
        raise _BadInput(f"inputs {args.inputs}: expected N×C×H×W, got shape {inputs.shape}")
    try:
        session = load_session(args.model)
        logits = run_onnx(session, inputs)
    except Exception as error:  # onnxruntime raises its own types
        raise _BadInput(f"{args.model}: {' '.join(str(error).split())}") from None
    top1 = logits.argmax(axis=1)
    print(f"{args.model}: {len(inputs)} images, {logits.shape[1]} classes")
    print("top-1: " + " ".join(str(int(c)) for c in top1))
    if args.expect is None:
        return 0
    expected = _load_array(args.expect, "expected logits")
    if expected.shape != logits.shape:
        raise _BadInput(f"expected logits {args.expect} have shape {expected.shape}, the model "
                        f"gave {logits.shape}")
    diff = float(np.abs(logits - expected).max())
    agree = int((top1 == expected.argmax(axis=1)).sum())
    ok = diff <= args.atol
    print(f"max |logit - expected| = {diff:.3g} (atol {args.atol:g}), top-1 agrees on "
          f"{agree}/{len(top1)}: {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
