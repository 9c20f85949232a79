"""The bit-packed model: convert a bnas network to OpenVINO, run it without torch, time it.

::

    from bnas.deploy import to_openvino, load, measure_latency, convert_export

    ov_model = to_openvino(model)                     # BinaryConvolution + 1-bit weights
    convert_export("runs/demo-digits/export/best")    # arch.yaml + safetensors → model.xml/.bin
    logits = load("runs/demo-digits/export/best/model.xml")(batch)     # numpy in, numpy out
    measure_latency(ov_model, threads=1, warmup=10, repeats=100).median_ms

Conversion is a few named steps, each tested alone (as Larq Compute Engine's converter):
:mod:`~bnas.deploy.fold` (weight scale × BatchNorm → one multiply and add),
:mod:`~bnas.deploy.pack` (sign(W) → ``u1`` constants in the CPU plugin's bit order),
:mod:`~bnas.deploy.threshold` (a sign site → ``FakeQuantize(levels=2)``), and the graph
builders :mod:`~bnas.deploy.layers`, :mod:`~bnas.deploy.sites`, :mod:`~bnas.deploy.networks`;
:mod:`~bnas.deploy.convert` strings them together. The runtime side
(:mod:`~bnas.deploy.runtime`, :mod:`~bnas.deploy.latency`, :mod:`~bnas.deploy.images`) needs
only openvino, numpy and Pillow: ``from bnas.deploy import load`` imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bnas._lazy import lazy_exports

if TYPE_CHECKING:
    from bnas.deploy.convert import convert_export, save_openvino, to_openvino
    from bnas.deploy.latency import Latency, OpTime, measure_latency, profile_ops
    from bnas.deploy.runtime import DeployedModel, load

__all__ = [
    "DeployedModel",
    "Latency",
    "OpTime",
    "convert_export",
    "load",
    "measure_latency",
    "profile_ops",
    "save_openvino",
    "to_openvino",
]
__getattr__, __dir__ = lazy_exports(__name__, {
    "convert_export": "bnas.deploy.convert",
    "save_openvino": "bnas.deploy.convert",
    "to_openvino": "bnas.deploy.convert",
    "Latency": "bnas.deploy.latency",
    "OpTime": "bnas.deploy.latency",
    "measure_latency": "bnas.deploy.latency",
    "profile_ops": "bnas.deploy.latency",
    "DeployedModel": "bnas.deploy.runtime",
    "load": "bnas.deploy.runtime",
})
