"""What the three backbones share: argument defaults and checks, channel scaling, the base class
and the CNN unit "sign site → binary conv → BatchNorm".

Backbone arguments live in ``Architecture.args`` as plain data; the catalog
(:mod:`bnas.backbones`) says which names a backbone takes, this module gives them defaults and
checks their values, so a bad value fails with one line before any tensor is made.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from bnas.architecture import Architecture, Threshold
from bnas.backbones import backbone_info
from bnas.errors import BnasError
from bnas.nn import BinaryConv2d, make_sign_site

STEMS: tuple[str, ...] = ("auto", "imagenet", "cifar")

# ``stem: auto`` picks the ImageNet stem (stride 2, and more downsampling) from this size up;
# smaller images (8×8 digits, 28×28 MNIST, 32×32 CIFAR, 64×64 Tiny-ImageNet) keep stride 1.
IMAGENET_STEM_MIN_SIZE = 128

DEFAULT_ARGS: dict[str, Any] = {
    "preset": "full",
    "width": 1.0,
    "channel_multiple": 8,
    "stem": "auto",
    "num_classes": 1000,
    "in_chans": 3,
    "img_size": 224,
    "drop_path_rate": 0.0,
}


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_CHECKS: dict[str, tuple[Any, str]] = {
    "num_classes": (_positive_int, "a positive integer"),
    "in_chans": (_positive_int, "a positive integer"),
    "img_size": (_positive_int, "a positive integer (square images)"),
    "width": (lambda v: _number(v) and v > 0, "a positive number"),
    "channel_multiple": (_positive_int, "a positive integer"),
    "stem": (lambda v: v in STEMS, f"one of {', '.join(STEMS)}"),
    "drop_path_rate": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
}


def resolve_args(arch: Architecture) -> dict[str, Any]:
    """``arch.args`` completed with defaults and checked; ``stem: auto`` resolved from img_size.

    >>> resolve_args(Architecture.uniform("reactnet_a", img_size=32))["stem"]
    'cifar'
    """
    info = backbone_info(arch.backbone)
    args = {name: DEFAULT_ARGS[name] for name in info.args} | dict(arch.args)
    for name, (ok, expected) in _CHECKS.items():
        if name in args and not ok(args[name]):
            raise BnasError(
                f"{arch.backbone}: args.{name}: expected {expected}, got {args[name]!r}"
            )
    if args.get("stem") == "auto":
        args["stem"] = "imagenet" if args["img_size"] >= IMAGENET_STEM_MIN_SIZE else "cifar"
    args["layout"] = info.layout(args)
    return args


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
