"""Convert a bnas network into a bit-packed OpenVINO model, and an export folder into an IR.

::

    from bnas.deploy import to_openvino
    ov_model = to_openvino(build_model(arch))          # openvino.Model, batch dimension dynamic
    convert_export("runs/demo-digits/export/best")     # → model.xml + model.bin beside the weights

Every binary conv / linear becomes a ``BinaryConvolution`` with 1-bit weights, fed by a
``FakeQuantize(levels=2)`` (the sign site) and followed by one per-channel multiply and add
(the weight scale and BatchNorm folded); the float parts are OpenVINO's float ops, computed in
float32. The IR's ``.bin`` holds the binary weights 1 bit each (``compress_to_fp16`` off: the
float weights stay float32, as PyTorch has them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import torch
from torch import nn

from bnas.deploy.networks import network
from bnas.errors import BnasError
from bnas.files import ARCH_FILE, MODEL_FILE, OPENVINO_FILE
from bnas.models import BinaryBackbone, BinaryCCT

INPUT_NAME = "input"  # as in bnas's ONNX export
OUTPUT_NAME = "logits"


def default_input_shape(model: BinaryBackbone) -> tuple[int, int, int, int]:
    """1 × in_chans × img_size × img_size, from the backbone's arguments."""
    args = model.args
    return (1, int(args["in_chans"]), int(args["img_size"]), int(args["img_size"]))


@torch.no_grad()
def to_openvino(model: nn.Module, *, input_shape: tuple[int, ...] | None = None) -> ov.Model:
    """``model`` (a bnas backbone) as a bit-packed OpenVINO model of what ``model.eval()``
    computes; input N × C × H × W with the batch dimension dynamic (``input_shape`` gives
    C, H, W; default: the backbone's ``in_chans`` and ``img_size``)."""
    if not isinstance(model, BinaryBackbone):
        raise BnasError(f"to_openvino: expected a bnas backbone (bnas.models.build_model), got "
                        f"{type(model).__name__}")
    shape = tuple(input_shape) if input_shape is not None else default_input_shape(model)
    if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise BnasError(f"to_openvino: input_shape must be (N, C, H, W) of positive ints, "
                        f"got {input_shape}")
    if shape[1] != model.in_chans:
        raise BnasError(f"to_openvino: the model takes {model.in_chans} input channels, "
                        f"input_shape has {shape[1]}")
    if isinstance(model, BinaryCCT) and shape[2:] != default_input_shape(model)[2:]:
        raise BnasError(f"to_openvino: binary_cct was built for {model.args['img_size']} px "
                        f"inputs (its position embedding), input_shape is {shape[2]}x{shape[3]}")
    parameter = ops.parameter(ov.PartialShape([-1, *shape[1:]]), np.float32, name=INPUT_NAME)
    parameter.output(0).set_names({INPUT_NAME})
    logits = network(model, parameter.output(0))
    logits.set_names({OUTPUT_NAME})
    result = ops.result(logits)
    result.set_friendly_name(OUTPUT_NAME)
    converted = ov.Model([result], [parameter], f"bnas_{model.arch.backbone}")
    converted.set_rt_info(model.arch.summary(), ["bnas", "architecture"])
    return converted


def save_openvino(model: ov.Model, path: str | Path) -> Path:
    """Write ``model`` as IR (``path`` = the .xml; the .bin beside it), float weights kept in
    float32."""
    path = Path(path)
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


def convert_export(export_dir: str | Path) -> Path:
    """An export folder's ``arch.yaml`` + ``model.safetensors`` → ``model.xml`` / ``model.bin``
    in the same folder; returns the .xml path."""
    from bnas.architecture import Architecture
    from bnas.models import build_model, load_model_weights

    folder = Path(export_dir)
    arch_file = folder / ARCH_FILE
    if not folder.is_dir() or not arch_file.is_file():
        raise BnasError(f"{folder}: not an export folder (expected {ARCH_FILE} and {MODEL_FILE} "
                        "from bnas export)")
    arch = Architecture.load(arch_file)
    model = build_model(arch)
    load_model_weights(model, folder / MODEL_FILE, what=str(folder))
    model.eval()
    return save_openvino(to_openvino(model), folder / OPENVINO_FILE)
