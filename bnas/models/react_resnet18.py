"""ReAct-ResNet18: ReActNet's ResNet variant (Liu et al., ECCV 2020) on the Bi-Real Net basis
(Liu et al., ECCV 2018), where every binary 3×3 convolution has its own shortcut.

One block = one basic block of ResNet18 = two binarized sites, ``conv1`` (stride s, C → C')
and ``conv2`` (C' → C')::

    y = RPReLU( BN(BinConv3x3_s(sign_conv1(x))) + D(x) )
    z = RPReLU( BN(BinConv3x3(sign_conv2(y))) + y )

D is the identity, or where the shape changes the real-valued downsample of Bi-Real Net:
AvgPool2 (when s = 2) → 1×1 conv → BN. Stage 1 has stride 1, later stages stride 2.
Full-precision stem: 7×7/2 conv + BN + 3×3/2 max-pool for ImageNet-sized inputs, 3×3/1 conv +
BN for small images; head: global average pool + FC. ``width`` scales every stage's channels
(rounded to a multiple of ``channel_multiple``, default 8).
"""

from __future__ import annotations

from torch import Tensor, nn

from bnas.architecture import Architecture, Threshold
from bnas.models._common import (
    BinaryBackbone,
    BinaryConvBN,
    scale_channels,
    shortcut_pool,
    stage_features,
)
from bnas.models._registry import register_backbone
from bnas.nn import make_rprelu


def downsample(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Bi-Real Net's real-valued shortcut: AvgPool2 (stride 2) → 1×1 conv → BN, or identity."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(
        shortcut_pool(stride),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class ReActBasicBlock(nn.Module):
    """Two binary 3×3 convs (sites ``conv1``, ``conv2``), each with its own shortcut."""

    def __init__(
        self, thresholds: dict[str, Threshold], in_channels: int, out_channels: int,
        stride: int, binarizer: str = "approx_sign", rprelu: str = "static",
    ) -> None:
        super().__init__()
        self.conv1 = BinaryConvBN(
            thresholds["conv1"], in_channels, out_channels, 3, stride, binarizer
        )
        self.downsample = downsample(in_channels, out_channels, stride)
        self.act1 = make_rprelu(rprelu, out_channels)
        self.conv2 = BinaryConvBN(thresholds["conv2"], out_channels, out_channels, 3, 1, binarizer)
        self.act2 = make_rprelu(rprelu, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act1(self.conv1(x) + self.downsample(x))
        return self.act2(self.conv2(x) + x)


@register_backbone("react_resnet18")
class ReActResNet18(BinaryBackbone):
    """ReAct-ResNet18 from an Architecture (layouts: :data:`bnas.backbones.REACT_RESNET18_LAYOUTS`).

    >>> import torch
    >>> from bnas import Architecture
    >>> arch = Architecture.uniform("react_resnet18", preset="tiny", num_classes=10,
    ...                             in_chans=1, img_size=8)
    >>> ReActResNet18(arch)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, arch: Architecture) -> None:
        super().__init__(arch)
        args = self.args
        layout, width, multiple = args["layout"], args["width"], args["channel_multiple"]
        channels = scale_channels(layout["stem_channels"], width, multiple)
        reduction = 4 if args["stem"] == "imagenet" else 1
        if args["stem"] == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(args["in_chans"], channels, 7, 2, padding=3, bias=False),
                nn.BatchNorm2d(channels),
                nn.MaxPool2d(3, 2, padding=1),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(args["in_chans"], channels, 3, 1, padding=1, bias=False),
                nn.BatchNorm2d(channels),
            )
        thresholds = iter(arch.blocks)
        block_outputs = []
        for stage, (stage_width, depth) in enumerate(zip(layout["widths"], layout["depths"])):
            out = scale_channels(stage_width, width, multiple)
            for index in range(depth):
                stride = 2 if stage > 0 and index == 0 else 1
                self.blocks.append(
                    ReActBasicBlock(
                        next(thresholds), channels, out, stride, arch.binarizer, arch.rprelu
                    )
                )
                channels, reduction = out, reduction * stride
                block_outputs.append((out, reduction))
        self.feature_info = stage_features(block_outputs)
        self.num_features = channels
        self.head = self.new_head(self.num_classes)
