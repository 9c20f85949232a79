"""Graph building, the float parts: each PyTorch module of a bnas network as OpenVINO ops.

Conversion walks the known module structure (:mod:`bnas.models`): :func:`emit` looks up the
converter registered for a module's class (the nearest in its MRO) and applies it to an
OpenVINO output, naming the ops after the module's path (``blocks.3.act1x1``), so the
compiled model's profile reads like the PyTorch model. Walking the modules, instead of
rewriting a traced graph, keeps each conversion next to the one forward it mirrors, with the
same operations in the same order (the exactness tests compare them layer by layer).

Weights become float32 constants; BatchNorm and the binary parts' folding follow PyTorch's
evaluation-mode arithmetic (:mod:`bnas.deploy.fold`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import openvino.opset14 as ops14
import torch
from torch import nn

from bnas.deploy.fold import ScaleShift, batch_norm_terms
from bnas.errors import BnasError
from bnas.nn import DyRPReLU, RPReLU, ThresholdGenerator

Converter = Callable[[nn.Module, ov.Output, str], ov.Output]
M = TypeVar("M", bound=nn.Module)

_CONVERTERS: dict[type, Converter] = {}


def converts(*types: type) -> Callable[[Callable[[M, ov.Output, str], ov.Output]], Converter]:
    """Register a converter ``(module, x, name) -> output`` for modules of ``types``."""

    def register(function: Callable[[M, ov.Output, str], ov.Output]) -> Converter:
        for kind in types:
            _CONVERTERS[kind] = function
        return function

    return register


def emit(module: nn.Module, x: ov.Output, name: str) -> ov.Output:
    """``module`` applied to ``x`` as OpenVINO ops, by the converter of its nearest class."""
    for kind in type(module).__mro__:
        if kind in _CONVERTERS:
            return _CONVERTERS[kind](module, x, name)
    raise BnasError(f"to_openvino: {name or 'the model'} is a {type(module).__name__}, which has "
                    "no OpenVINO conversion (bnas converts its own backbones)")


def numpy(tensor: torch.Tensor) -> np.ndarray:
    """A parameter or buffer as a float32 numpy array."""
    return tensor.detach().to("cpu", torch.float32).numpy()


def int64(values: list[int]) -> ov.Node:
    """An i64 constant (axes, shapes, orders)."""
    return ops.constant(np.array(values, np.int64))


def named(node: ov.Node, name: str) -> ov.Output:
    node.set_friendly_name(name)
    return node.output(0)


def per_channel(values: np.ndarray, rank: int, channel_axis: int = 1) -> ov.Node:
    """A constant of per-channel ``values`` shaped to broadcast on ``channel_axis``."""
    shape = [1] * rank
    shape[channel_axis] = values.size
    return ops.constant(np.asarray(values, np.float32).reshape(shape))


def rank_of(x: ov.Output) -> int:
    return x.get_partial_shape().rank.get_length()


def channel_axis(x: ov.Output) -> int:
    """Where :mod:`bnas.nn` keeps channels: dim 1 of N×C×H×W, the last dim of tokens."""
    return 1 if rank_of(x) == 4 else rank_of(x) - 1


def scale_shift(x: ov.Output, terms: ScaleShift, name: str) -> ov.Output:
    """``x · scale + shift`` per channel: a Multiply and an Add (fused by the CPU plugin)."""
    rank, axis = rank_of(x), channel_axis(x)
    scaled = named(ops.multiply(x, per_channel(terms.scale, rank, axis)), f"{name}.scale")
    return named(ops.add(scaled, per_channel(terms.shift, rank, axis)), f"{name}.shift")


def linear_terms(x: ov.Output, weight: np.ndarray, bias: np.ndarray | None, name: str
                 ) -> ov.Output:
    """``x Wᵀ + b`` over the last dim (``nn.Linear``)."""
    out = named(ops.matmul(x, ops.constant(weight), False, True), name)
    if bias is None:
        return out
    return named(ops.add(out, ops.constant(bias)), f"{name}.bias")


@converts(nn.Sequential)
def sequential(module: nn.Sequential, x: ov.Output, name: str) -> ov.Output:
    for child_name, child in module.named_children():
        x = emit(child, x, f"{name}.{child_name}" if name else child_name)
    return x


@converts(nn.Identity)
def identity(module: nn.Identity, x: ov.Output, name: str) -> ov.Output:
    return x


@converts(nn.ReLU)
def relu(module: nn.ReLU, x: ov.Output, name: str) -> ov.Output:
    return named(ops.relu(x), name)


@converts(nn.Conv2d)
def conv2d(module: nn.Conv2d, x: ov.Output, name: str) -> ov.Output:
    """A float convolution (stem, downsample, tokenizer): zero padding, one group."""
    if module.groups != 1 or module.padding_mode != "zeros" or isinstance(module.padding, str):
        raise BnasError(f"to_openvino: {name}: only ungrouped, zero-padded convs with explicit "
                        "padding are converted")
    pads = list(module.padding)
    out = named(ops.convolution(x, ops.constant(numpy(module.weight)), list(module.stride), pads,
                                pads, list(module.dilation)), name)
    if module.bias is None:
        return out
    return named(ops.add(out, per_channel(numpy(module.bias), 4)), f"{name}.bias")


@converts(nn.BatchNorm2d)
def batch_norm(module: nn.BatchNorm2d, x: ov.Output, name: str) -> ov.Output:
    return scale_shift(x, batch_norm_module_terms(module), name)


def batch_norm_module_terms(module: nn.BatchNorm2d) -> ScaleShift:
    """An evaluation-mode BatchNorm2d as ``x · a + b`` (running statistics)."""
    if module.running_mean is None or module.running_var is None:
        raise BnasError("to_openvino: a BatchNorm without running statistics cannot be converted")
    channels = module.num_features
    weight = numpy(module.weight) if module.affine else np.ones(channels, np.float32)
    bias = numpy(module.bias) if module.affine else np.zeros(channels, np.float32)
    return batch_norm_terms(weight, bias, numpy(module.running_mean),
                            numpy(module.running_var), module.eps)


def _pair(value: int | tuple[int, ...]) -> list[int]:
    return list(value) if isinstance(value, tuple) else [value, value]


@converts(nn.MaxPool2d)
def max_pool(module: nn.MaxPool2d, x: ov.Output, name: str) -> ov.Output:
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    pads = _pair(module.padding)
    rounding = "ceil_torch" if module.ceil_mode else "floor"
    node = ops14.max_pool(x, stride, _pair(module.dilation), pads, pads,
                          _pair(module.kernel_size), rounding)
    return named(node, name)


@converts(nn.AvgPool2d)
def avg_pool(module: nn.AvgPool2d, x: ov.Output, name: str) -> ov.Output:
    """``ceil_torch`` rounding: PyTorch's ceil mode (7×7 → 4×4 as on 28 px MNIST after two
    halvings; the last window averages only the pixels inside the input)."""
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    pads = _pair(module.padding)
    rounding = "ceil_torch" if module.ceil_mode else "floor"
    node = ops14.avg_pool(x, stride, pads, pads, _pair(module.kernel_size),
                          not module.count_include_pad, rounding)
    return named(node, name)


@converts(nn.Linear)
def linear(module: nn.Linear, x: ov.Output, name: str) -> ov.Output:
    bias = numpy(module.bias) if module.bias is not None else None
    return linear_terms(x, numpy(module.weight), bias, name)


@converts(nn.LayerNorm)
def layer_norm(module: nn.LayerNorm, x: ov.Output, name: str) -> ov.Output:
    """Normalize over the last dim (MVN, ε inside the square root, as PyTorch), then affine."""
    out = normalize_last(x, module.eps, name)
    if not module.elementwise_affine:
        return out
    return scale_shift(out, ScaleShift(numpy(module.weight), numpy(module.bias)), name)


def normalize_last(x: ov.Output, eps: float, name: str) -> ov.Output:
    """``(x − mean) / √(var + ε)`` over the last dim."""
    return named(ops.mvn(x, ops.constant(np.array([-1], np.int64)), True, eps, "inside_sqrt"),
                 f"{name}.mvn")


@converts(RPReLU)
def rprelu(module: RPReLU, x: ov.Output, name: str) -> ov.Output:
    """``PReLU_c(x − γ) + ζ``: PyTorch's relu(s) − a·relu(−s) equals PReLU(s) exactly."""
    rank, axis = rank_of(x), channel_axis(x)
    gamma = per_channel(numpy(module.gamma), rank, axis)
    zeta = per_channel(numpy(module.zeta), rank, axis)
    return _shifted_prelu(module, x, gamma, zeta, name)


@converts(DyRPReLU)
def dyrprelu(module: DyRPReLU, x: ov.Output, name: str) -> ov.Output:
    """DyBNN's dynamic RPReLU: γ and ζ from a generator, per sample, plus the static ones."""
    rank, axis = rank_of(x), channel_axis(x)
    generated = generator(module.generator, x, f"{name}.generator")
    dynamic_gamma, dynamic_zeta = ops.split(generated, ops.constant(np.int64(1)), 2).outputs()
    gamma = ops.add(ops.constant(numpy(module.gamma)), dynamic_gamma)
    zeta = ops.add(ops.constant(numpy(module.zeta)), dynamic_zeta)
    return _shifted_prelu(module, x, per_sample(gamma.output(0), rank, axis),
                          per_sample(zeta.output(0), rank, axis), name)


def _shifted_prelu(module: RPReLU, x: ov.Output, gamma: ov.Node | ov.Output,
                   zeta: ov.Node | ov.Output, name: str) -> ov.Output:
    rank, axis = rank_of(x), channel_axis(x)
    shifted = named(ops.subtract(x, gamma), f"{name}.gamma")
    activated = named(ops.prelu(shifted, per_channel(numpy(module.slope), rank, axis)),
                      f"{name}.prelu")
    return named(ops.add(activated, zeta), f"{name}.zeta")


def per_sample(values: ov.Output, rank: int, axis: int) -> ov.Output:
    """N×C per-sample values shaped to broadcast against a rank-``rank`` input whose
    channels are on ``axis`` (N×C×1×1, or N×1×C for tokens)."""
    spatial = [dim for dim in range(1, rank) if dim != axis]
    if not spatial:
        return values
    return ops.unsqueeze(values, ops.constant(np.array(spatial, np.int64))).output(0)


def channel_statistics(x: ov.Output, pool: str, name: str) -> ov.Output:
    """N×C statistics of :func:`bnas.nn.channel_statistics`: the spatial / token mean, and with
    ``mean_std`` the standard deviation (biased, +1e-5 inside the root) concatenated."""
    rank = rank_of(x)
    axes = int64([2, 3] if rank == 4 else [1])
    mean = named(ops.reduce_mean(x, axes, False), f"{name}.mean")
    if pool == "mean":
        return mean
    centred = ops.subtract(x, ops.reduce_mean(x, axes, True))
    variance = ops.reduce_mean(ops.multiply(centred, centred), axes, False)
    std = named(ops.sqrt(ops.add(variance, ops.constant(np.float32(1e-5)))), f"{name}.std")
    return named(ops.concat([mean, std], 1), f"{name}.statistics")


def generator(module: ThresholdGenerator, x: ov.Output, name: str) -> ov.Output:
    """The DySign / DyRPReLU generator on the float activation: N×out."""
    if module.pool == "constant":
        raise BnasError(f"to_openvino: {name}: a constant-input generator is a static threshold "
                        "(fold it with the site's α)")
    hidden = linear(module.fc1, channel_statistics(x, module.pool, name), f"{name}.fc1")
    if isinstance(module.act, nn.PReLU):
        hidden = named(ops.prelu(hidden, ops.constant(numpy(module.act.weight))), f"{name}.act")
    else:
        hidden = named(ops.relu(hidden), f"{name}.act")
    out = linear(module.fc2, hidden, f"{name}.fc2")
    if module.bound == "tanh":
        out = named(ops.multiply(ops.constant(np.float32(module.bound_scale)), ops.tanh(out)),
                    f"{name}.bound")
    return out
