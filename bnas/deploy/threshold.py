"""Threshold: a sign site as OpenVINO's binarization, ``FakeQuantize`` with ``levels=2``.

PyTorch's sign site gives +1 where ``x − t ≥ 0`` (:mod:`bnas.nn.thresholds`); a two-level
FakeQuantize gives its low level (bit 0, read as −1 by ``BinaryConvolution``) where
``x ≤ threshold`` and its high level (bit 1, +1) where ``x > threshold``. The CPU plugin
compares in float32 (``vcmpgtps``) and writes the bits packed, as the binary conv reads them.

The equality edge: for float32 ``x`` and ``t``, ``x − t ≥ 0`` exactly when ``x ≥ t`` (a
difference of two floats is 0 only when they are equal), which is ``x > t⁻``, with ``t⁻`` the
next float below ``t``. So a static site (RSign: t = α) is one FakeQuantize whose constant
threshold is α's next float down: the same ±1 as PyTorch for every input, x = α included.

A dynamic site (DySign: t = τ(x) + α per sample) computes ``x − t`` as PyTorch does (a
Subtract) and binarizes that against the constant 0⁻. A threshold computed into the
FakeQuantize's ``input_low``/``input_high`` would save the Subtract but runs as OpenVINO's
reference kernel (2.3–6× the static block), while a constant-threshold FakeQuantize after an
elementwise op is fused into it.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops


def strict_threshold(threshold: np.ndarray) -> np.ndarray:
    """The next float32 below each threshold: ``x > strict_threshold(t)`` ⟺ ``x ≥ t``."""
    t = np.asarray(threshold, np.float32)
    return np.nextafter(t, np.float32(-np.inf)).astype(np.float32)


def binarize(x: ov.Output, threshold: np.ndarray, *, channel_axis: int = 1,
             name: str | None = None) -> ov.Node:
    """±1 of ``x ≥ threshold`` per channel (``threshold``: one value per channel on
    ``channel_axis`` of ``x``, or a scalar), as a two-level FakeQuantize."""
    rank = x.get_partial_shape().rank.get_length()
    values = strict_threshold(threshold)
    shape = [1] * rank
    if values.ndim:
        shape[channel_axis] = values.size
    bound = ops.constant(values.reshape(shape))
    node = ops.fake_quantize(x, bound, bound, ops.constant(np.float32(0)),
                             ops.constant(np.float32(1)), 2)
    if name:
        node.set_friendly_name(name)
    return node


def shift(x: ov.Output, threshold: ov.Output, *, name: str | None = None) -> ov.Output:
    """``x − threshold`` for a computed ``threshold`` broadcastable to ``x``: binarized at the
    constant 0 (:func:`binarize`), the ±1 of PyTorch's ``sign(x − threshold)``."""
    shifted = ops.subtract(x, threshold)
    if name:
        shifted.set_friendly_name(name)
    return shifted.output(0)
