"""Graph building, the binary parts: a sign site and the binary conv / linear it feeds.

A site becomes ``FakeQuantize(levels=2)`` (:mod:`bnas.deploy.threshold`) → ``BinaryConvolution``
with 1-bit weights (:mod:`bnas.deploy.pack`) → one per-channel multiply and add
(:mod:`bnas.deploy.fold`). The threshold in front:

- RSign: its α as the FakeQuantize's constant threshold;
- DySign: the generator on the float input (:func:`bnas.deploy.layers.generator`), τ + α
  subtracted from the input, then the constant threshold 0 — the order PyTorch computes in;
- DySign with ``pool: constant``: τ does not depend on the input, so τ + α (computed once,
  by PyTorch) is a constant threshold, as for RSign.

Binary CCT's linears act on N×L×D tokens: they become 1×1 binary convs on the tokens laid out
as N×D×L×1, and back.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset1 as ops1
import openvino.opset13 as ops
import torch

from bnas.deploy.fold import ScaleShift, fold_scale
from bnas.deploy.layers import (
    batch_norm_module_terms,
    converts,
    generator,
    int64,
    named,
    normalize_last,
    numpy,
    per_channel,
    per_sample,
    rank_of,
    scale_shift,
)
from bnas.deploy.pack import align_channels, binary_weights, valid_taps
from bnas.deploy.threshold import binarize, shift
from bnas.errors import BnasError
from bnas.models import BinaryConvBN, BinaryLinearNorm
from bnas.nn import BinaryConv2d, BinaryLinear, DySign, RSign


@torch.no_grad()
def constant_threshold(site: RSign, channels_last: bool) -> np.ndarray | None:
    """The site's threshold when it does not depend on the input (RSign; DySign with
    ``pool: constant``), as PyTorch computes it; ``None`` for a dynamic one."""
    if not isinstance(site, DySign):
        return numpy(site.alpha)
    if site.generator.pool != "constant":
        return None
    probe = site.alpha.new_zeros((1, 1, site.channels) if channels_last else
                                 (1, site.channels, 1, 1))
    return numpy(site.threshold(probe)).reshape(-1)


def site_input(site: RSign, source: ov.Output, x: ov.Output, name: str
               ) -> tuple[ov.Output, np.ndarray]:
    """What the site compares and with which constant: ``(x, t)`` for a constant threshold,
    ``(x − (τ + α), 0)`` for a dynamic one, in PyTorch's order of operations. ``x`` is
    N×C×H×W; a DySign's generator reads ``source`` (``x``, or the tokens ``x`` was laid out
    from)."""
    if not site.binarize_activations:
        raise BnasError(f"to_openvino: {name} does not binarize its input (set_binarization): "
                        "the float twin has no bit-packed form; export it as ONNX")
    threshold = constant_threshold(site, channels_last=rank_of(source) == 3)
    if threshold is not None:
        return x, threshold
    assert isinstance(site, DySign)
    tau = generator(site.generator, source, f"{name}.generator")
    total = named(ops.add(tau, ops.constant(numpy(site.alpha))), f"{name}.threshold")
    return shift(x, per_sample(total, 4, 1), name=f"{name}.shift"), np.zeros(site.channels,
                                                                              np.float32)


@torch.no_grad()
def weight_scale(layer: BinaryConv2d | BinaryLinear) -> np.ndarray:
    """α_o = mean |W_o| per output channel, computed as :func:`bnas.nn.binarize_weight` does."""
    weight = layer.weight
    return numpy(weight.abs().mean(dim=tuple(range(1, weight.dim()))))


def _geometry(layer: BinaryConv2d | BinaryLinear, name: str
              ) -> tuple[np.ndarray, list[int], list[int], list[int]]:
    """The layer's weight as O×C×kh×kw, its strides, paddings and dilations."""
    if not layer.binarize_weights:
        raise BnasError(f"to_openvino: {name} has real weights (set_binarization): the float "
                        "twin has no bit-packed form; export it as ONNX")
    if layer.bias is not None:
        raise BnasError(f"to_openvino: {name}: binary layers with a bias are not converted")
    weight = numpy(layer.weight)
    if isinstance(layer, BinaryLinear):
        return weight[:, :, None, None], [1, 1], [0, 0], [1, 1]
    if layer.groups != 1 or layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise BnasError(f"to_openvino: {name}: only ungrouped, zero-padded binary convs with "
                        "explicit padding are converted")
    return weight, list(layer.stride), list(layer.padding), list(layer.dilation)


def binary_product(site: RSign, layer: BinaryConv2d | BinaryLinear, source: ov.Output,
                   x: ov.Output, name: str) -> ov.Output:
    """P = Σ sign(x − t) · sign(W) over each window, exact (an integer in float32): the site's
    binarization (``FakeQuantize``) and the layer's ``BinaryConvolution`` with 1-bit weights.
    The sign output is padded with 0, as PyTorch pads it (``pad_value`` 0)."""
    layer_name = f"{name}.{'linear' if isinstance(layer, BinaryLinear) else 'conv'}"
    weight, stride, pads, dilations = _geometry(layer, layer_name)
    values, threshold = site_input(site, source, x, f"{name}.sign")
    weight, extra, unpaired = align_channels(weight)
    if extra:
        rank = rank_of(values)
        values = ops.pad(values, int64([0] * rank), int64([0, extra] + [0] * (rank - 2)),
                         "constant", ops.constant(np.float32(1))).output(0)
        threshold = np.concatenate([np.broadcast_to(threshold, site.channels),
                                    np.zeros(extra, np.float32)])
    bits = binarize(values, threshold, name=f"{name}.sign").output(0)
    node = ops1.binary_convolution(bits, binary_weights(weight, f"{layer_name}.weight"), stride,
                                   pads, pads, dilations, "xnor-popcount", 0.0)
    popcount = named(node, layer_name)
    if not unpaired:
        return popcount
    shape = x.get_partial_shape()
    taps = valid_taps((shape[2].get_length(), shape[3].get_length()), weight.shape[2:],
                      tuple(stride), tuple(pads))
    return named(ops.subtract(popcount, ops.constant(taps[None, None])), f"{name}.unpaired")


@converts(BinaryConvBN)
def binary_conv_bn(unit: BinaryConvBN, x: ov.Output, name: str) -> ov.Output:
    """sign → binary conv → BatchNorm, with α_o and the BatchNorm folded into one affine."""
    popcount = binary_product(unit.sign, unit.conv, x, x, name)
    terms = fold_scale(weight_scale(unit.conv), batch_norm_module_terms(unit.bn))
    return scale_shift(popcount, terms, f"{name}.bn")


@converts(BinaryLinearNorm)
def binary_linear_norm(unit: BinaryLinearNorm, x: ov.Output, name: str) -> ov.Output:
    """sign → binary linear → LayerNorm per chunk → affine, on N×L×D tokens: the linear is a
    1×1 binary conv on the tokens laid out as N×D×L×1."""
    columns = ops.unsqueeze(ops.transpose(x, int64([0, 2, 1])), int64([3])).output(0)
    popcount = binary_product(unit.sign, unit.linear, x, columns, name)
    scaled = named(ops.multiply(popcount, per_channel(weight_scale(unit.linear), 4)),
                   f"{name}.linear.scale")
    tokens = ops.transpose(ops.squeeze(scaled, int64([3])), int64([0, 2, 1])).output(0)
    chunks = ops.reshape(tokens, int64([0, 0, unit.chunks, unit.chunk_features]), True)
    normed = normalize_last(chunks.output(0), 1e-5, f"{name}.norm")
    flat = ops.reshape(normed, int64([0, 0, unit.chunks * unit.chunk_features]), True)
    return scale_shift(flat.output(0),
                       ScaleShift(numpy(unit.norm_weight), numpy(unit.norm_bias)), f"{name}.norm")
