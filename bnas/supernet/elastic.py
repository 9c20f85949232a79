"""Elastic sign sites and RPReLUs: one module holds every threshold choice a space offers there.

Every choice bnas searches lives in the sign sites (and, optionally, in RPReLU): the binary
convs / linears, BatchNorm, LayerNorm, stem and head are the same in every candidate, so a
weight-sharing supernet only has to make these modules elastic.

:class:`ElasticSign` keeps the static α of its site and **one** DySign generator at the widest
setting any choice of the site needs. The choices of a block are a product (every rd_ratio r
with every min_hidden h, every pool, act, bound), so the widest hidden width is

.. math::
    H = \\max_{r, h} \\max(\\lfloor C / r \\rfloor, h) = \\max(\\lfloor C / r_{\\min} \\rfloor,
    h_{\\max}),

its input is 2C wide when a choice pools ``mean_std`` (else C), and it has a PReLU slope only
when a choice needs ``prelu``. The active choice runs the *leading slice* of it, Once-for-All's
elastic width (Cai et al., ICLR 2020; as NAS-BNN, Lin et al., 2024, does for binary
supernets), with k = max(⌊C / r⌋, h) hidden units and c input columns:

.. math::
    s = \\mathrm{pool}(x) \\in \\mathbb{R}^{N \\times c}, \\qquad
    \\tau = W_2[:, :k]\\; \\phi\\big(W_1[:k, :c]\\, s + b_1[:k]\\big) + b_2, \\qquad
    y = \\operatorname{sign}(x - \\tau - \\alpha),

where c = 2C for ``mean_std`` ([mean, std], :func:`bnas.nn.channel_statistics`), and c = C for
``mean`` and for ``constant`` (ones): both read the mean columns of a ``mean_std`` generator.
φ is ReLU or PReLU with slope a[:k]; ``bound: tanh`` gives τ ← tanh(τ). A static choice
bypasses the generator (τ ≡ 0): exactly ReActNet's RSign. Slices are views of the shared
weights, so gradients of every candidate land in the one generator.

A plain :class:`~bnas.nn.DySign` built for a choice has parameters of exactly the sliced
shapes under the same names (``alpha``, ``generator.fc1.weight``, ``generator.act.weight``,
...), which is what lets :meth:`bnas.supernet.Supernet.extract` copy a candidate out by name.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from bnas.architecture import Threshold
from bnas.nn import DyRPReLU, DySign, RPReLU, RSign, channel_statistics, get_binarizer
from bnas.space.sampling import BlockSpace

# Cheapest first: the widest generator takes the last choice a block offers.
_WIDEST = {"pool": ("constant", "mean", "mean_std"), "act": ("relu", "prelu"),
           "bound": ("none", "tanh")}


def use_binarizer(sign: RSign, name: str) -> None:
    """Make a sign site binarize with ``name`` (``approx_sign`` or ``ste``) from now on."""
    sign.binarize = get_binarizer(name)
    sign.binarizer_name = name


class ActiveGenerator(NamedTuple):
    """The slice of an ElasticSign's generator that the active choice runs."""

    hidden: int  # k: leading hidden units
    in_features: int  # c: leading input columns (C, or 2C for mean_std)
    pool: str
    prelu: bool
    tanh: bool


class ElasticSign(DySign):
    """Every threshold choice of one sign site (see the module docstring for the math).

    Args:
        channels: C, the channel (or embedding) width of the site's input.
        block: the resolved choices of the site's block; its generator settings decide the
            widest generator.
        binarizer: the binarizer until :meth:`activate` says otherwise.
    """

    def __init__(self, channels: int, block: BlockSpace, binarizer: str = "approx_sign") -> None:
        widest = {dim: max(getattr(block, dim), key=order.index) for dim, order in _WIDEST.items()}
        super().__init__(
            channels, rd_ratio=min(block.rd_ratio), min_hidden=max(block.min_hidden),
            binarizer=binarizer, **widest,
        )
        self.active: ActiveGenerator | None = None

    def slice_for(self, threshold: Threshold) -> ActiveGenerator | None:
        """The slice of the generator ``threshold`` runs (None: static). Two thresholds with
        the same slice are the same function here, e.g. reduction ratios whose hidden width
        ``min_hidden`` clamps to the same size."""
        if not threshold.is_dynamic:
            return None
        return ActiveGenerator(
            hidden=max(self.channels // threshold.rd_ratio, threshold.min_hidden),
            in_features=2 * self.channels if threshold.pool == "mean_std" else self.channels,
            pool=threshold.pool,
            prelu=threshold.act == "prelu",
            tanh=threshold.bound == "tanh",
        )

    def activate(self, threshold: Threshold, binarizer: str) -> None:
        """Run ``threshold`` (static, or one generator setting) from the next forward on."""
        use_binarizer(self, binarizer)
        self.active = self.slice_for(threshold)

    def threshold(self, x: Tensor) -> Tensor:
        if self.active is None:
            return RSign.threshold(self, x)
        return super().threshold(x)

    def dynamic_threshold(self, x: Tensor) -> Tensor:
        active, generator = self.active, self.generator
        k, c = active.hidden, active.in_features
        if active.pool == "constant":
            stats = x.new_ones(1, self.channels).expand(x.shape[0], -1)
        else:
            stats = channel_statistics(x, active.pool)
        hidden = F.linear(stats, generator.fc1.weight[:k, :c], generator.fc1.bias[:k])
        hidden = F.prelu(hidden, generator.act.weight[:k]) if active.prelu else F.relu(hidden)
        out = F.linear(hidden, generator.fc2.weight[:, :k], generator.fc2.bias)
        return generator.bound_scale * torch.tanh(out) if active.tanh else out

    def extra_repr(self) -> str:
        hidden = self.generator.fc1.out_features
        return f"{super().extra_repr()}, widest hidden={hidden}, active={self.active}"


class ElasticRPReLU(DyRPReLU):
    """RPReLU or DyRPReLU (DyBNN's dynamic shift), as the active candidate says.

    γ, ζ and the slope are shared by both; the generator of γ and ζ runs only when the
    candidate's ``rprelu`` is dynamic. Its settings are DyRPReLU's (fixed, not searched), so it
    needs no slicing: a static candidate ignores it, a dynamic one runs all of it.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.dynamic = True

    def activate(self, kind: str) -> None:
        self.dynamic = kind == "dynamic"

    def shifts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return super().shifts(x) if self.dynamic else RPReLU.shifts(self, x)

    def extra_repr(self) -> str:
        return f"{self.channels}, dynamic={self.dynamic}"
