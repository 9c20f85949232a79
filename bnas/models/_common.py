"""What the three backbones share: resolved arguments, channel scaling, the base class
and the CNN unit "sign site → binary conv → BatchNorm".

Backbone arguments live in ``Architecture.args`` as plain data; :mod:`bnas.backbones` declares
their names, defaults and valid values, so a bad value fails with one line before any tensor
is made.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from bnas.architecture import Architecture, Threshold
from bnas.backbones import backbone_info
from bnas.errors import BnasError, LocatedError
from bnas.nn import BinaryConv2d, make_sign_site


def resolve_args(arch: Architecture) -> dict[str, Any]:
    """``arch.args`` completed with defaults and checked; ``stem: auto`` resolved from img_size
    and the preset's ``layout`` added (the declaration: :mod:`bnas.backbones`).

    >>> resolve_args(Architecture.uniform("reactnet_a", img_size=32))["stem"]
    'cifar'
    """
    try:
        return backbone_info(arch.backbone).resolve_args(dict(arch.args))
    except LocatedError as error:
        raise BnasError(f"{arch.backbone}: args.{error}") from None


def scale_channels(channels: int, width: float, multiple: int = 8) -> int:
    """``channels · width`` rounded to the nearest ``multiple``, at least ``multiple``.

    Multiples of 8 suit vectorized kernels; ``multiple: 1`` gives the finest widths (e.g. a
    static network matched to a dynamic one's parameter count).

    >>> scale_channels(16, 1.1), scale_channels(16, 1.1, multiple=1)
    (16, 18)
    """
    return max(multiple, int(channels * width / multiple + 0.5) * multiple)


class BinaryBackbone(nn.Module):
    """Base of the bnas backbones: keeps the Architecture, exposes ``blocks`` and a timm-like
    ``forward_features`` / ``forward_head`` split. Subclasses set ``stem``, ``blocks``, ``head``
    and ``num_features``.

    Convention every backbone follows (profilers and tests rely on it): ``blocks[i]`` is block
    *i* of ``arch.blocks``, and for each site name ``s`` of the backbone, ``blocks[i].<s>`` is the
    unit holding that site's sign module (``.sign``, an RSign or DySign) and its binary layer.
    """

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        self.args = resolve_args(arch)
        self.num_classes: int = self.args["num_classes"]
        self.blocks = nn.ModuleList()

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem, then the blocks in order (the CNN case; CCT adds position embeddings)."""
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pool → FC (the CNN case; CCT pools its sequence instead)."""
        x = x.mean(dim=(2, 3))
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head

    def extra_repr(self) -> str:
        return f"arch={self.arch.summary()}"


class BinaryConvBN(nn.Module):
    """One binarized site of a CNN block: sign site → binary k×k conv (no bias) → BatchNorm.

    The residual add and the RPReLU after it belong to the block, since the shortcut differs
    between backbones.
    """

    def __init__(
        self, threshold: Threshold, in_channels: int, out_channels: int, kernel_size: int,
        stride: int = 1, binarizer: str = "approx_sign",
    ) -> None:
        super().__init__()
        self.sign = make_sign_site(threshold, in_channels, binarizer)
        self.conv = BinaryConv2d(
            in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(self.sign(x)))


def shortcut_pool(stride: int) -> nn.Module:
    """The parameter-free shortcut of a stride-s block: 2×2 average pooling when s = 2.

    ``ceil_mode`` keeps odd sizes in step with the stride-2 conv (7×7 → 4×4, not 3×3), which
    28×28 MNIST reaches after two halvings.
    """
    return nn.AvgPool2d(2, ceil_mode=True) if stride == 2 else nn.Identity()
