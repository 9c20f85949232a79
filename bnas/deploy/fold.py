"""Fold: a binary conv's weight scale and the BatchNorm after it as one multiply and one add.

A binary conv of ±1 inputs with weights α_o·sign(W) gives α_o·P, where P (the
``BinaryConvolution`` output, an integer: +1 for each agreeing pair, −1 for each other) is
exact. BatchNorm in evaluation is a per-channel affine map, computed by PyTorch as
``y·a + b`` with ``a = γ / √(σ² + ε)`` and ``b = β − μ·a`` (float32). Together::

    BN(α_o · P) = P · (α_o · a) + b

one per-channel multiply and add, which OpenVINO's CPU plugin fuses into the binary conv as a
post-op. ``a`` and ``b`` are computed as PyTorch computes them; the product α_o·a is rounded
once, from float64. (PyTorch's own α_o·P is a float sum of ±α_o terms whose rounding depends
on its conv kernel: the two agree to float32 rounding, not bit for bit.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScaleShift:
    """``y = x · scale + shift`` per channel (float32 vectors)."""

    scale: np.ndarray
    shift: np.ndarray


def batch_norm_terms(
    weight: np.ndarray, bias: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray,
    eps: float,
) -> ScaleShift:
    """An evaluation-mode BatchNorm as ``x · a + b``, in float32 as PyTorch's CPU kernel does."""
    f32 = np.float32
    invstd = f32(1) / np.sqrt(np.asarray(running_var, f32) + f32(eps))
    scale = invstd * np.asarray(weight, f32)
    shift = np.asarray(bias, f32) - np.asarray(running_mean, f32) * scale
    return ScaleShift(scale.astype(f32), shift.astype(f32))


def fold_scale(weight_scale: np.ndarray, batch_norm: ScaleShift) -> ScaleShift:
    """α_o (per output channel) folded into the BatchNorm that follows the binary conv."""
    scale = np.asarray(weight_scale, np.float64) * batch_norm.scale.astype(np.float64)
    return ScaleShift(scale.astype(np.float32), batch_norm.shift)
