"""Stochastic depth (Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016), per sample.

In training, a residual branch's output is kept with probability :math:`p_{keep} = 1 - p` per
sample and scaled by :math:`1 / p_{keep}`, so its expectation is unchanged; in evaluation it
passes through. This is timm's ``drop_path``; it lives here so that building a model does not
import timm (timm imports torchvision and ``torch._dynamo``, ~2.3 s per process).
"""

from __future__ import annotations

from torch import Tensor, nn


def drop_path(x: Tensor, drop_prob: float, training: bool) -> Tensor:
    """``x`` with whole samples zeroed with probability ``drop_prob``, the rest scaled up."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep_prob)
    return x * mask.div_(keep_prob)


class DropPath(nn.Module):
    """:func:`drop_path` as a module (after a residual branch, before the addition)."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"
