"""``bnas export --openvino``: the trial's bit-packed model beside its ONNX float twin.

The network is converted by :func:`bnas.deploy.to_openvino` (1-bit ``BinaryConvolution``
weights, thresholds as ``FakeQuantize``), saved as ``model.xml`` / ``model.bin``, read back
the way a user runs it (:func:`bnas.deploy.load`, no torch) and checked on validation images:
the top-1 class must agree with PyTorch's on at least 99.9 % of them. Logits are compared too
(the largest absolute and relative difference are recorded), but not held to a tolerance: a
binary network's sign flips where float rounding puts an input right at its threshold (about
one site output in a few million, measured), and one flip moves the logits visibly.

Then the bit-packed model is timed against the float twin (``model.onnx``) in OpenVINO (f32)
and in ONNX Runtime: one thread, batch 1, interleaved rounds on this machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from bnas.errors import BnasError
from bnas.files import OPENVINO_FILE, OPENVINO_WEIGHTS_FILE

CHECK_IMAGES = 1000  # validation images the bit-packed model is checked on, at most
MIN_TOP1_AGREEMENT = 0.999
CHECK_BATCH = 64
LATENCY_ROUNDS = 3
LATENCY_SECONDS = 0.3  # per model and round: enough calls for a median, a few seconds in all


@torch.no_grad()
def _logits(model: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    return torch.cat([model(images[i:i + CHECK_BATCH])
                      for i in range(0, len(images), CHECK_BATCH)]).float().numpy()


def check_openvino(model: torch.nn.Module, path: Path, val: Dataset) -> dict[str, Any]:
    """The saved IR against PyTorch on up to :data:`CHECK_IMAGES` validation images."""
    from bnas.deploy import load

    count = min(len(val), CHECK_IMAGES)
    images = torch.stack([val[i][0] for i in range(count)])
    labels = np.array([val[i][1] for i in range(count)])
    expected = _logits(model.eval(), images)
    deployed = load(path)
    actual = np.concatenate([deployed(images[i:i + CHECK_BATCH].numpy())
                             for i in range(0, count, CHECK_BATCH)])
    scale = np.abs(expected).max(axis=1)
    return {
        "images": count,
        "top1_agree": int((actual.argmax(1) == expected.argmax(1)).sum()),
        "max_abs_diff": float(np.abs(actual - expected).max()),
        "max_rel_diff": float((np.abs(actual - expected).max(axis=1) / scale).max()),
        "val_top1": float((actual.argmax(1) == labels).mean()),
        "pytorch_val_top1": float((expected.argmax(1) == labels).mean()),
    }


def time_against_float_twin(path: Path, onnx_path: Path) -> dict[str, Any]:
    """Bit-packed vs the float twin: OpenVINO f32 for both, and ONNX Runtime for the twin."""
    from bnas.deploy.latency import LatencyProbe, compare_latencies, runtime_ops, time_calls
    from bnas.deploy.runtime import cpu_name
    from bnas.export.onnx_runtime import OnnxRuntimeProbe

    probes = {"bitpacked": LatencyProbe(path), "float_openvino": LatencyProbe(onnx_path),
              "float_onnxruntime": OnnxRuntimeProbe(onnx_path)}
    slowest = max(float(np.median(time_calls(p.infer, warmup=1, repeats=3)))
                  for p in probes.values())
    repeats = int(min(100, max(5, math.ceil(LATENCY_SECONDS / max(slowest, 1e-6)))))
    latencies = compare_latencies(probes, rounds=LATENCY_ROUNDS, warmup=3, repeats=repeats)
    kernels = sorted({op["primitiveType"] for op in runtime_ops(probes["bitpacked"].compiled)
                      if op.get("layerType") == "BinaryConvolution"})
    return {"cpu": cpu_name(), "threads": 1, "batch": 1, "precision": "f32",
            "rounds": LATENCY_ROUNDS, "calls_per_round": repeats, "binary_conv_kernels": kernels,
            **{f"{name}_ms": latency.median_ms for name, latency in latencies.items()}}


def export_openvino(model: torch.nn.Module, stage: Path, val: Dataset, onnx_path: Path, *,
                    trial_id: str, log: Callable[[str], None]) -> dict[str, Any]:
    """Write, check and time ``stage/model.xml``; return its ``export.json`` record."""
    from bnas.deploy import save_openvino, to_openvino

    path = save_openvino(to_openvino(model), stage / OPENVINO_FILE)
    check = check_openvino(model, path, val)
    agreement = check["top1_agree"] / check["images"]
    log(f"  openvino    top-1 agrees with PyTorch on {check['top1_agree']}/{check['images']} val "
        f"images (val top-1 {check['val_top1']:.4f}), max |Δ logit| {check['max_abs_diff']:.3g}")
    if agreement < MIN_TOP1_AGREEMENT:
        raise BnasError(
            f"trial {trial_id}: the bit-packed model's top-1 agrees with PyTorch on only "
            f"{check['top1_agree']} of {check['images']} val images (< "
            f"{MIN_TOP1_AGREEMENT:.1%}); max |Δ logit| {check['max_abs_diff']:.3g}")
    timing = time_against_float_twin(path, onnx_path)
    bitpacked, ort, ov = (timing[f"{key}_ms"] for key in
                          ("bitpacked", "float_onnxruntime", "float_openvino"))
    log(f"  latency     bit-packed {bitpacked:.3g} ms vs float twin {ort:.3g} ms in ONNX Runtime "
        f"({ort / bitpacked:.1f}x), {ov:.3g} ms in OpenVINO f32 ({ov / bitpacked:.1f}x); "
        f"{timing['cpu']}, 1 thread, batch 1, {', '.join(timing['binary_conv_kernels'])}")
    return {"file": OPENVINO_FILE, "weights_file": OPENVINO_WEIGHTS_FILE,
            "weights_bytes": (stage / OPENVINO_WEIGHTS_FILE).stat().st_size,
            "check": check, "latency": timing}
