"""Binary convolution and linear layers: scaled sign weights with a clipped gradient.

Both follow ReActNet's ``HardBinaryConv`` (Liu et al., ECCV 2020):

.. math::
    W_b = \\alpha_o \\operatorname{sign}(W), \\qquad
    \\alpha_o = \\operatorname{mean}|W_{o}| \\text{ (per output channel, no gradient)},

    \\partial L / \\partial W = \\partial L / \\partial W_b \\cdot 1_{|W| \\le 1}
    \\text{ (the gradient of } \\operatorname{clamp}(W, -1, 1)\\text{)}.

Their *inputs* are expected to be ±1 already (a sign site in front, see
:mod:`bnas.nn.thresholds`). ``binarize_weights = False`` keeps real weights: step 1 of the
two-step recipe, and the float twin used in benchmarks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnas.nn.binarize import sign


def binarize_weight(weight: Tensor) -> Tensor:
    """Per-output-channel scaled sign of ``weight`` with a clipped straight-through gradient."""
    reduce_dims = tuple(range(1, weight.dim()))
    scale = weight.abs().mean(dim=reduce_dims, keepdim=True).detach()
    hard = scale * sign(weight)
    if not (torch.is_grad_enabled() and weight.requires_grad):
        return hard
    clipped = weight.clamp(-1.0, 1.0)
    return hard.detach() + (clipped - clipped.detach())


# A torch.fx leaf: whether the surrogate gradient is needed is known only from a real tensor.
torch.fx.wrap("binarize_weight")


class BinaryConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose weights are binarized in the forward pass (see module docstring)."""

    binarize_weights: bool = True

    def forward(self, x: Tensor) -> Tensor:
        weight = binarize_weight(self.weight) if self.binarize_weights else self.weight
        return self._conv_forward(x, weight, self.bias)


class BinaryLinear(nn.Linear):
    """``nn.Linear`` whose weights are binarized in the forward pass (see module docstring)."""

    binarize_weights: bool = True

    def forward(self, x: Tensor) -> Tensor:
        weight = binarize_weight(self.weight) if self.binarize_weights else self.weight
        return F.linear(x, weight, self.bias)
