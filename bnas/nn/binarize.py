"""Activation binarizers: ``sign`` forward, a surrogate gradient backward.

Each is an autograd Function that saves only its input and computes the surrogate gradient
in one fused expression. (The detach trick, ``sign(x).detach() + s(x) - s(x).detach()``,
gives the same gradients but builds ~8 extra elementwise nodes per site: a tiny ReActNet-A
step on the CPU took 1.2× (static) to 1.8× (dynamic) longer with it.) Without grad, and
while exporting to ONNX, only the comparison runs, so an exported graph holds plain ops.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from bnas.errors import BnasError


def sign(x: Tensor) -> Tensor:
    """+1 for x ≥ 0, −1 otherwise. Never 0, unlike ``torch.sign``: a BNN has no zero state."""
    return (x >= 0).to(x.dtype) * 2 - 1  # ~2.5x faster on CPU than torch.where with scalars


def _needs_surrogate(x: Tensor) -> bool:
    return torch.is_grad_enabled() and x.requires_grad and not torch.onnx.is_in_onnx_export()


def _approx_sign_derivative(x: Tensor) -> Tensor:
    return (2 - 2 * x.abs()).clamp_(min=0)


def _ste_derivative(x: Tensor) -> Tensor:
    return (x.abs() <= 1).to(x.dtype)


class _SignWithSurrogate(torch.autograd.Function):
    """sign(x) forward; ``grad · derivative(x)`` backward, saving only x."""

    @staticmethod
    def forward(ctx, x: Tensor, derivative: Callable[[Tensor], Tensor]) -> Tensor:  # noqa: ANN001
        ctx.save_for_backward(x)
        ctx.derivative = derivative
        return sign(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: ANN001
        (x,) = ctx.saved_tensors
        return grad * ctx.derivative(x), None


def approx_sign(x: Tensor) -> Tensor:
    r"""ApproxSign (Bi-Real Net, Liu et al., ECCV 2018).

    Forward: :math:`y = \operatorname{sign}(x)`.

    Backward: :math:`\partial y/\partial x = 2 - 2|x|` for :math:`|x| < 1`, else 0, i.e. the
    derivative of the piecewise quadratic
    :math:`s(x) = \operatorname{sign}(x)\,(2|x| - x^2)` on (−1, 1), ±1 outside.
    """
    return _SignWithSurrogate.apply(x, _approx_sign_derivative) if _needs_surrogate(x) else sign(x)


def ste_sign(x: Tensor) -> Tensor:
    r"""Straight-through estimator (Hubara et al., 2016; Courbariaux et al., BinaryNet).

    Forward: :math:`y = \operatorname{sign}(x)`.
    Backward: :math:`\partial y/\partial x = 1_{|x| \le 1}` (gradient of hardtanh, 1 at ±1
    as in larq).
    """
    return _SignWithSurrogate.apply(x, _ste_derivative) if _needs_surrogate(x) else sign(x)


BINARIZERS: dict[str, Callable[[Tensor], Tensor]] = {"approx_sign": approx_sign, "ste": ste_sign}


def get_binarizer(name: str) -> Callable[[Tensor], Tensor]:
    """Resolve a binarizer by its config name (``approx_sign`` or ``ste``)."""
    try:
        return BINARIZERS[name]
    except KeyError:
        raise BnasError(f"unknown binarizer {name!r}; valid: {', '.join(BINARIZERS)}") from None
