"""Binary CCT: the Compact Convolutional Transformer (Hassani et al., "Escaping the Big Data
Paradigm with Compact Transformers", 2021) with its attention and MLP linears binarized.

Structure (preset ``full`` = CCT-7/3×1 for 32×32: 7 layers, 4 heads, dim 256, MLP ratio 2)::

    tokens = ConvTokenizer(image) + pos_embed            # full precision
    per layer (pre-LN; sites qkv, proj, fc1, fc2):
        h = LN(x);  q, k, v = LN_q,k,v( BinLinear_qkv(sign_qkv(h)) )
        a = softmax(q kᵀ / √d_head) v                     # real-valued products
        x = x + DropPath( LN( BinLinear_proj(sign_proj(a)) ) )
        h = LN(x);  h = RPReLU( LN( BinLinear_fc1(sign_fc1(h)) ) )
        x = x + DropPath( LN( BinLinear_fc2(sign_fc2(h)) ) )
    logits = FC( SeqPool( LN(x) ) )                      # full precision

Choices, and why:

- **Scale after every binary linear: a LayerNorm** (with affine; for ``qkv`` one per q, k and
  v). A binary linear's output scale is set by α = mean|W| and the fan-in, not by what the
  layer learnt; the LayerNorm puts it back where softmax and the residual stream expect it.
  It is the token-wise analogue of the BatchNorm after every binary conv in ReActNet, and on
  q and k it doubles as QK-norm, which keeps the attention logits bounded.
- **MLP activation: RPReLU** (``arch.rprelu``: static or dynamic), as in ReActNet. GELU's output
  is almost never below −0.17, so the sign after it would see a one-sided distribution; RPReLU
  learns its own shifts. Token-wise inputs are N×L×D: the sign sites and RPReLU of
  :mod:`bnas.nn` treat the last dim as channels (a DySign pools over tokens).
- **Attention score products** (q·kᵀ, attn·v) stay real-valued; only the four linears per
  layer are binary.
- **Tokenizer**: ``stem: cifar`` = the preset's ``tokenizer_layers`` × (k×k conv stride 1 →
  ReLU → 3×3/2 max-pool), CCT-x/3×1 for 32×32; ``stem: imagenet`` = 2 × (7×7 conv stride 2 →
  ReLU → max-pool), CCT-x/7×2 (224×224 → 14×14 tokens). Intermediate tokenizer width is 64.
- **Position embedding**: learnable (CCT's choice for CIFAR), trunc-normal σ = 0.2, sized from
  ``img_size``; inputs must have that size, unless ``model.dynamic_img_size`` is set (timm:
  ``dynamic_img_size=True``, as for timm's ViTs): then the embedding is resampled bicubically
  to the token grid of each input, as timm's ``resample_abs_pos_embed`` does.
- **timm conventions** (:class:`~bnas.models.BinaryBackbone`): ``forward_features`` returns the
  normed tokens on their grid, N×H'×W'×D (``output_fmt`` NHWC, as timm's Swin); the global pool
  is the sequence pooling (``"seq"``, or ``""`` for none); every layer is a feature level.
- ``drop_path_rate`` (stochastic depth, linearly increasing over layers) defaults to 0; CCT
  trained with 0.1. There is no dropout.
- ``width`` scales the embedding dim: ``embed_dim · width`` rounded to the nearest multiple of
  ``num_heads`` (so heads divide it; 1.0 keeps the preset). The fine rounding lets a static
  network be widened to a dynamic one's parameter count (experiments/dysign_vs_rsign.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# torch's, not timm's trunc_normal_ (the same function): importing timm costs ~2.3 s per process
from torch.nn.init import trunc_normal_

from bnas.architecture import Architecture, Threshold
from bnas.errors import BnasError
from bnas.models._common import BinaryBackbone
from bnas.models._registry import register_backbone
from bnas.nn import BinaryLinear, DropPath, make_rprelu, make_sign_site

TOKENIZER_HIDDEN = 64  # CCT's in_planes: width of the tokenizer's intermediate convs


def embed_dim(layout: dict, width: float) -> int:
    """The preset's ``embed_dim · width``, rounded to a multiple of ``num_heads`` (≥ 1 head dim).

    >>> embed_dim({"embed_dim": 64, "num_heads": 2}, 1.1)
    70
    """
    heads = layout["num_heads"]
    return max(heads, round(layout["embed_dim"] * width / heads) * heads)


class BinaryLinearNorm(nn.Module):
    """One binarized site of a transformer layer: sign site → binary linear → LayerNorm.

    With ``chunks`` = 3 (qkv) the output is normalised per chunk (q, k, v separately), each
    with its own affine weights.
    """

    def __init__(
        self, threshold: Threshold, in_features: int, out_features: int,
        binarizer: str = "approx_sign", chunks: int = 1,
    ) -> None:
        super().__init__()
        self.sign = make_sign_site(threshold, in_features, binarizer)
        self.linear = BinaryLinear(in_features, out_features, bias=False)
        self.chunks = chunks
        self.chunk_features = out_features // chunks
        self.norm_weight = nn.Parameter(torch.ones(out_features))
        self.norm_bias = nn.Parameter(torch.zeros(out_features))
        trunc_normal_(self.linear.weight, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        y = self.linear(self.sign(x)).unflatten(-1, (self.chunks, self.chunk_features))
        y = F.layer_norm(y, (self.chunk_features,)).flatten(-2)
        return y * self.norm_weight + self.norm_bias


class BinaryTransformerLayer(nn.Module):
    """A pre-LN transformer encoder layer with binary ``qkv``, ``proj``, ``fc1``, ``fc2``."""

    def __init__(
        self, thresholds: dict[str, Threshold], dim: int, num_heads: int, mlp_ratio: float,
        binarizer: str = "approx_sign", rprelu: str = "static", drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = BinaryLinearNorm(thresholds["qkv"], dim, 3 * dim, binarizer, chunks=3)
        self.proj = BinaryLinearNorm(thresholds["proj"], dim, dim, binarizer)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = BinaryLinearNorm(thresholds["fc1"], dim, hidden, binarizer)
        self.act = make_rprelu(rprelu, hidden)
        self.fc2 = BinaryLinearNorm(thresholds["fc2"], hidden, dim, binarizer)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def attention(self, x: Tensor) -> Tensor:
        """Multi-head self-attention of N×L×D tokens with binary qkv and proj linears."""
        qkv = self.qkv(x).unflatten(-1, (3, self.num_heads, self.head_dim))
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each N×heads×L×d_head
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).flatten(2))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attention(self.norm1(x)))
        return x + self.drop_path(self.fc2(self.act(self.fc1(self.norm2(x)))))


class ConvTokenizer(nn.Module):
    """CCT's tokenizer: ``layers`` × (k×k conv → ReLU → 3×3/2 max-pool), N×D×H'×W'."""

    def __init__(
        self, in_chans: int, embed_dim: int, layers: int, kernel_size: int, stride: int
    ) -> None:
        super().__init__()
        widths = [in_chans] + [TOKENIZER_HIDDEN] * (layers - 1) + [embed_dim]
        self.kernel_size, self.stride, self.layers = kernel_size, stride, layers
        self.reduction = (2 * stride) ** layers
        self.convs = nn.Sequential(
            *(
                nn.Sequential(
                    nn.Conv2d(cin, cout, kernel_size, stride, kernel_size // 2, bias=False),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(3, 2, padding=1),
                )
                for cin, cout in zip(widths[:-1], widths[1:])
            )
        )
        for module in self.convs.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)

    def output_size(self, img_size: int) -> int:
        """Side of the token grid for an img_size × img_size input (conv and pool formulas)."""
        size = img_size
        for _ in range(self.layers):
            padding = self.kernel_size // 2
            size = (size + 2 * padding - self.kernel_size) // self.stride + 1
            size = (size + 2 - 3) // 2 + 1
        return size

    def forward(self, x: Tensor) -> Tensor:
        return self.convs(x)


def resample_position_embedding(pos_embed: Tensor, grid: Sequence[int]) -> Tensor:
    """A 1×L×D position embedding of a square token grid, resampled to ``grid`` (H'×W').

    Bicubic interpolation with antialiasing over the grid, in float32, as timm's
    ``resample_abs_pos_embed`` (not imported: timm costs ~2.3 s to import).
    """
    side = math.isqrt(pos_embed.shape[1])
    image = pos_embed.reshape(1, side, side, -1).permute(0, 3, 1, 2).float()
    image = F.interpolate(image, size=tuple(grid), mode="bicubic", antialias=True)
    return image.permute(0, 2, 3, 1).flatten(1, 2).to(pos_embed.dtype)


def fit_position_embedding(
    pos_embed: Tensor, grid: Sequence[int], image: Sequence[int], img_size: int, resample: bool
) -> Tensor:
    """``pos_embed`` (learnt for ``img_size`` inputs) for tokens on ``grid``, from an ``image``
    of H×W: itself for its own grid, resampled with ``resample``, else a one-line error."""
    side = math.isqrt(pos_embed.shape[1])
    if torch.jit.is_tracing() or tuple(grid) == (side, side):
        return pos_embed
    if resample:
        return resample_position_embedding(pos_embed, grid)
    raise BnasError(
        f"binary_cct: built for {img_size}x{img_size} inputs (args.img_size), got "
        f"{image[0]}x{image[1]}; set model.dynamic_img_size = True (timm: dynamic_img_size=True) "
        "to resample the position embedding"
    )


# A torch.fx leaf: it branches on the input's size, which symbolic tracing does not know.
torch.fx.wrap("fit_position_embedding")


def _trunc_normal_linear(in_features: int, out_features: int) -> nn.Linear:
    """CCT's initialisation of its real-valued linears: trunc-normal σ = 0.02, zero bias."""
    linear = nn.Linear(in_features, out_features)
    trunc_normal_(linear.weight, std=0.02)
    nn.init.zeros_(linear.bias)
    return linear


@register_backbone("binary_cct")
class BinaryCCT(BinaryBackbone):
    """Binary CCT from an Architecture (layouts: :data:`bnas.backbones.BINARY_CCT_LAYOUTS`).

    >>> from bnas import Architecture
    >>> arch = Architecture.uniform("binary_cct", preset="tiny", num_classes=10, img_size=32)
    >>> BinaryCCT(arch)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    output_fmt = "NHWC"
    global_pools = ("seq", "")

    def __init__(self, arch: Architecture) -> None:
        super().__init__(arch)
        args, layout = self.args, self.args["layout"]
        dim = embed_dim(layout, args["width"])
        if args["stem"] == "imagenet":
            self.stem = ConvTokenizer(args["in_chans"], dim, layers=2, kernel_size=7, stride=2)
        else:
            self.stem = ConvTokenizer(
                args["in_chans"], dim, layout["tokenizer_layers"], layout["tokenizer_kernel"], 1
            )
        self.dynamic_img_size = False
        side = self.stem.output_size(args["img_size"])
        self.pos_embed = nn.Parameter(torch.zeros(1, side * side, dim))
        trunc_normal_(self.pos_embed, std=0.2)
        depth = layout["num_layers"]  # stochastic depth rises linearly to drop_path_rate
        rates = [args["drop_path_rate"] * i / max(depth - 1, 1) for i in range(depth)]
        for thresholds, rate in zip(arch.blocks, rates):
            self.blocks.append(
                BinaryTransformerLayer(
                    thresholds, dim, layout["num_heads"], layout["mlp_ratio"],
                    arch.binarizer, arch.rprelu, rate,
                )
            )
        self.feature_info = [
            {"module": f"blocks.{index}", "num_chs": dim, "reduction": self.stem.reduction}
            for index in range(depth)
        ]
        self.norm = nn.LayerNorm(dim)
        self.num_features = dim
        self.attention_pool: nn.Linear | None = self.new_attention_pool()
        self.head = self.new_head(self.num_classes)

    def new_attention_pool(self) -> nn.Linear:
        """The sequence pooling's token score: Linear(D → 1)."""
        return _trunc_normal_linear(self.num_features, 1)

    def new_head(self, num_classes: int) -> nn.Module:
        if not num_classes:
            return nn.Identity()
        return _trunc_normal_linear(self.num_features, num_classes)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """As for the CNNs; without pooling the attention pool goes too (no unused weights)."""
        super().reset_classifier(num_classes, global_pool)
        if self.global_pool != "seq":
            self.attention_pool = None
        elif self.attention_pool is None:
            self.attention_pool = self.like_model(self.new_attention_pool)

    def embed(self, x: Tensor) -> tuple[Tensor, Sequence[int]]:
        """N×L×D tokens with their position embedding, and their grid (H', W')."""
        grid = self.stem(x)
        pos_embed = fit_position_embedding(
            self.pos_embed, grid.shape[-2:], x.shape[-2:], self.args["img_size"],
            self.dynamic_img_size,
        )
        return grid.flatten(2).transpose(1, 2) + pos_embed, grid.shape[-2:]

    def forward_features(self, x: Tensor) -> Tensor:
        """Tokens through the layers, normed, on their grid: N×H'×W'×D."""
        tokens, grid = self.embed(x)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens).unflatten(1, grid)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Sequence pooling: a softmax over tokens of a learned score, then the FC head."""
        if self.global_pool == "seq":
            tokens = x.flatten(1, 2)
            weights = self.attention_pool(tokens).softmax(dim=1)  # N×L×1
            x = (weights * tokens).sum(dim=1)
        return x if pre_logits else self.head(x)

    def forward_intermediates(
        self, x: Tensor, indices: int | Sequence[int] | None = None, norm: bool = False,
        stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False,
    ) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
        """timm's feature API: the tokens after the layers ``indices`` selects, on their grid
        (N×D×H'×W' for NCHW, N×H'×W'×D for NHWC), through the final norm with ``norm``; alone
        with ``intermediates_only``, else after the final features."""
        if output_fmt not in ("NCHW", "NHWC"):
            raise BnasError(f"binary_cct: features come as NCHW or NHWC, not {output_fmt}")
        _, wanted = self.feature_levels(indices)
        last = max(wanted) if stop_early else len(self.blocks) - 1
        intermediates = []
        tokens, grid = self.embed(x)
        for index, block in enumerate(self.blocks[: last + 1]):
            tokens = block(tokens)
            if index in wanted:
                feature = (self.norm(tokens) if norm else tokens).unflatten(1, grid)
                if output_fmt == "NCHW":
                    feature = feature.permute(0, 3, 1, 2)
                intermediates.append(feature)
        if intermediates_only:
            return intermediates
        return self.norm(tokens).unflatten(1, grid), intermediates

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] | None = 1, prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        levels = super().prune_intermediate_layers(indices, prune_norm, prune_head)
        if prune_norm:
            self.norm = nn.Identity()
        return levels
