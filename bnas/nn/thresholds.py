"""Sign sites: where a real-valued activation becomes ±1, and the threshold it is cut at.

Every binary conv/linear is fed by one of these. Inputs are either N×C×H×W (channels at
dim 1) or N×L×D / N×D (channels last); per-channel quantities are broadcast accordingly.

- :class:`RSign` — static threshold, ReActNet (Liu et al., ECCV 2020):
  :math:`y = \\operatorname{sign}(x - \\alpha_c)`, α a learned per-channel parameter, init 0.
- :class:`DySign` — dynamic threshold, DySign / DyBNN (Zhang et al., ICASSP 2022 and the
  journal version "Boosting Binary Neural Networks via Dynamic Thresholds Learning"):
  :math:`y = \\operatorname{sign}(x - \\tau(x) - \\alpha_c)` with
  :math:`\\tau(x) = W_2\\,\\phi(W_1\\,\\mathrm{pool}(x))`. The paper's equations are not public;
  this is our reference design (docs/architecture.md). ``W_2`` starts at zero, so a fresh
  DySign equals RSign, and gradients reach τ through the binarizer: ∂y/∂τ = −∂y/∂x.
- :class:`RPReLU` / :class:`DyRPReLU` — ReActNet's shifted PReLU and DyBNN's dynamic shift.

Activation binarization can be switched off (``binarize_activations = False``): the site then
passes ``x − threshold`` through, for the float twin of a network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnas.architecture import Threshold
from bnas.nn.binarize import get_binarizer


def _per_channel(values: Tensor, like: Tensor) -> Tensor:
    """Reshape (C,) or (N, C) per-channel values to broadcast against ``like``."""
    batch = -1 if values.dim() == 2 else 1  # -1, not N: an exported graph keeps N dynamic
    channels = values.shape[-1]
    if like.dim() == 4:
        return values.reshape(batch, channels, 1, 1)
    if like.dim() == 3:
        return values.reshape(batch, 1, channels)
    return values.reshape(batch, channels)


def channel_statistics(x: Tensor, pool: str) -> Tensor:
    """Per-sample, per-channel statistics: N×C for ``mean``, N×2C for ``mean_std``; N×C ones
    for ``constant`` (the input-independent control)."""
    if pool == "constant":
        return x.new_ones(x.shape[0], x.shape[1] if x.dim() == 4 else x.shape[-1])
    dims = (2, 3) if x.dim() == 4 else (1,) if x.dim() == 3 else ()
    if not dims:  # N×C: each sample is already one vector
        return x if pool == "mean" else torch.cat([x, torch.zeros_like(x)], dim=1)
    mean = x.mean(dim=dims)
    if pool == "mean":
        return mean
    var = x.var(dim=dims, unbiased=False)
    return torch.cat([mean, (var + 1e-5).sqrt()], dim=1)


def binarize_activation(x: Tensor, binarizer: str) -> Tensor:
    """``x`` binarized by the binarizer named ``binarizer`` (see :mod:`bnas.nn.binarize`)."""
    return get_binarizer(binarizer)(x)


# torch.fx leaves: these branch on what only a real tensor knows (its rank, whether it requires
# grad) and the binarizers are autograd Functions; symbolic tracing (torchvision's
# create_feature_extractor, timm's fx feature wrapper) follows none of it, and as leaves they
# run unchanged inside a traced graph, in training as in evaluation.
torch.fx.wrap("_per_channel")
torch.fx.wrap("channel_statistics")
torch.fx.wrap("binarize_activation")


class RSign(nn.Module):
    """Static threshold: ``sign(x - alpha_c)``, α learned per channel (init 0)."""

    def __init__(self, channels: int, binarizer: str = "approx_sign") -> None:
        super().__init__()
        get_binarizer(binarizer)  # an unknown name fails here, listing the valid ones
        self.channels = channels
        self.binarizer_name = binarizer
        self.binarize_activations = True
        self.alpha = nn.Parameter(torch.zeros(channels))

    def threshold(self, x: Tensor) -> Tensor:
        """The threshold each element of ``x`` is compared with, broadcastable to ``x``."""
        return _per_channel(self.alpha, x)

    def forward(self, x: Tensor) -> Tensor:
        shifted = x - self.threshold(x)
        if not self.binarize_activations:
            return shifted
        return binarize_activation(shifted, self.binarizer_name)

    def extra_repr(self) -> str:
        return f"{self.channels}, binarizer={self.binarizer_name}"


class ThresholdGenerator(nn.Module):
    """The hyper function pool → FC(in→hidden) → act → FC(hidden→out), last layer zero."""

    def __init__(
        self, channels: int, out_features: int, *, rd_ratio: int, min_hidden: int,
        pool: str, act: str, bound: str, bound_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.pool = pool
        self.bound = bound
        self.bound_scale = bound_scale
        hidden = max(channels // rd_ratio, min_hidden)
        in_features = 2 * channels if pool == "mean_std" else channels
        self.fc1 = nn.Linear(in_features, hidden)
        self.act = nn.PReLU(hidden) if act == "prelu" else nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, out_features)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: Tensor) -> Tensor:
        out = self.fc2(self.act(self.fc1(channel_statistics(x, self.pool))))
        if self.bound == "tanh":
            out = self.bound_scale * torch.tanh(out)
        return out


class DySign(RSign):
    """Dynamic threshold: ``sign(x - tau(x) - alpha_c)``, τ per sample and channel.

    Args:
        channels: C, the channel (or embedding) width of the input.
        rd_ratio: reduction ratio r of the generator, hidden = max(C // r, min_hidden).
        min_hidden: lower bound on the hidden width (small layers would otherwise get 1–2).
        pool: ``mean`` (spatial / token mean), ``mean_std`` (mean and std concatenated), or
            ``constant`` (ones: τ no longer depends on the input; an ablation control).
        act: ``relu`` or ``prelu`` between the two FC layers.
        bound: ``none`` or ``tanh`` (τ = bound_scale · tanh(·)).
    """

    def __init__(
        self, channels: int, *, rd_ratio: int = 16, min_hidden: int = 8, pool: str = "mean",
        act: str = "relu", bound: str = "none", bound_scale: float = 1.0,
        binarizer: str = "approx_sign",
    ) -> None:
        super().__init__(channels, binarizer)
        self.generator = ThresholdGenerator(
            channels, channels, rd_ratio=rd_ratio, min_hidden=min_hidden, pool=pool,
            act=act, bound=bound, bound_scale=bound_scale,
        )

    def dynamic_threshold(self, x: Tensor) -> Tensor:
        """τ(x) alone, N×C."""
        return self.generator(x)

    def threshold(self, x: Tensor) -> Tensor:
        return _per_channel(self.dynamic_threshold(x) + self.alpha, x)


class RPReLU(nn.Module):
    """ReActNet's RPReLU: ``PReLU_c(x - gamma_c) + zeta_c`` (per-channel γ, ζ and slope)."""

    def __init__(self, channels: int, init_slope: float = 0.25) -> None:
        super().__init__()
        self.channels = channels
        self.gamma = nn.Parameter(torch.zeros(channels))
        self.zeta = nn.Parameter(torch.zeros(channels))
        self.slope = nn.Parameter(torch.full((channels,), init_slope))

    def shifts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return _per_channel(self.gamma, x), _per_channel(self.zeta, x)

    def forward(self, x: Tensor) -> Tensor:
        gamma, zeta = self.shifts(x)
        shifted = x - gamma
        # PReLU as relu(s) − a·relu(−s): any channel layout, ~2.5x faster than torch.where
        return F.relu(shifted) - _per_channel(self.slope, x) * F.relu(-shifted) + zeta


class DyRPReLU(RPReLU):
    """DyBNN's dynamic RPReLU: γ and ζ are generated per sample like DySign's τ."""

    def __init__(self, channels: int, *, rd_ratio: int = 16, min_hidden: int = 8) -> None:
        super().__init__(channels)
        self.generator = ThresholdGenerator(
            channels, 2 * channels, rd_ratio=rd_ratio, min_hidden=min_hidden, pool="mean",
            act="relu", bound="none",
        )

    def shifts(self, x: Tensor) -> tuple[Tensor, Tensor]:
        dynamic_gamma, dynamic_zeta = self.generator(x).chunk(2, dim=1)
        return (
            _per_channel(self.gamma + dynamic_gamma, x),
            _per_channel(self.zeta + dynamic_zeta, x),
        )


def make_sign_site(
    threshold: Threshold, channels: int, binarizer: str = "approx_sign"
) -> RSign:
    """The sign site an Architecture asks for: RSign when static, DySign when dynamic."""
    if not threshold.is_dynamic:
        return RSign(channels, binarizer)
    return DySign(
        channels, rd_ratio=threshold.rd_ratio, min_hidden=threshold.min_hidden,
        pool=threshold.pool, act=threshold.act, bound=threshold.bound, binarizer=binarizer,
    )


def make_rprelu(kind: str, channels: int) -> RPReLU:
    """``static`` → RPReLU, ``dynamic`` → DyRPReLU."""
    return DyRPReLU(channels) if kind == "dynamic" else RPReLU(channels)


def set_binarization(model: nn.Module, *, weights: bool = True, activations: bool = True) -> None:
    """Switch weight / activation binarization of every binary layer in ``model``.

    ``weights=False, activations=True`` is step 1 of the two-step recipe (Martinez et al.,
    ReActNet); both ``False`` gives the float twin of the same network.
    """
    from bnas.nn.layers import BinaryConv2d, BinaryLinear

    for module in model.modules():
        if isinstance(module, (BinaryConv2d, BinaryLinear)):
            module.binarize_weights = weights
        elif isinstance(module, RSign):
            module.binarize_activations = activations
