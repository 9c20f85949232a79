"""ReActNet-A (Liu et al., "ReActNet: Towards Precise Binary Neural Network with Generalized
Activation Functions", ECCV 2020): a binarized MobileNetV1 layout with a shortcut around every
binary convolution.

One block (stride s, C → C' channels, C' = C or 2C)::

    y = RPReLU( BN(BinConv3x3_s(sign_conv3x3(x))) + AvgPool2(x) if s = 2 else x )
    z = RPReLU( BN(BinConv1x1(sign_conv1x1(y))) + [y, y] if C' = 2C else y )

``sign_<site>`` is the block's RSign (ReActNet's "move" = learned bias, then sign) or DySign,
as the Architecture says. Where channels double, ReActNet runs two binary 1×1 convs C → C and
concatenates them, each with ``y`` added; we run one binary 1×1 conv C → 2C and add ``y``
twice: per-output-channel weight scales and BatchNorm make the two exactly the same function.
Full-precision stem (3×3 conv + BN; stride 2 for ImageNet-sized inputs, 1 for small images)
and head (global average pool + FC), as in the paper.

``width`` scales the stem channels (rounded to a multiple of ``channel_multiple``, default 8);
block widths keep the layout's ratios to it, so the "channels double" rule holds at every width.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bnas.architecture import Architecture, Threshold
from bnas.errors import BnasError
from bnas.models._common import (
    BinaryBackbone,
    BinaryConvBN,
    scale_channels,
    shortcut_pool,
    stage_features,
)
from bnas.models._registry import register_backbone
from bnas.nn import make_rprelu


class ReActBlock(nn.Module):
    """A ReActNet-A block: sites ``conv3x3`` (stride s, C → C) and ``conv1x1`` (C → k·C)."""

    def __init__(
        self, thresholds: dict[str, Threshold], in_channels: int, out_channels: int,
        stride: int, binarizer: str = "approx_sign", rprelu: str = "static",
    ) -> None:
        super().__init__()
        if out_channels % in_channels:
            raise BnasError(
                f"reactnet_a: a block cannot go from {in_channels} to {out_channels} channels "
                "(the 1x1 part needs a whole multiple)"
            )
        self.expand = out_channels // in_channels
        self.conv3x3 = BinaryConvBN(
            thresholds["conv3x3"], in_channels, in_channels, 3, stride, binarizer
        )
        self.shortcut = shortcut_pool(stride)
        self.act3x3 = make_rprelu(rprelu, in_channels)
        self.conv1x1 = BinaryConvBN(
            thresholds["conv1x1"], in_channels, out_channels, 1, 1, binarizer
        )
        self.act1x1 = make_rprelu(rprelu, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act3x3(self.conv3x3(x) + self.shortcut(x))
        shortcut = torch.cat([x] * self.expand, dim=1) if self.expand > 1 else x
        return self.act1x1(self.conv1x1(x) + shortcut)


@register_backbone("reactnet_a")
class ReActNetA(BinaryBackbone):
    """ReActNet-A built from an Architecture (layouts: :data:`bnas.backbones.REACTNET_A_LAYOUTS`).

    >>> from bnas import Architecture
    >>> arch = Architecture.uniform("reactnet_a", "dynamic", preset="tiny", num_classes=10,
    ...                             img_size=32)
    >>> ReActNetA(arch)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, arch: Architecture) -> None:
        super().__init__(arch)
        args = self.args
        layout = args["layout"]
        multiple = args["channel_multiple"]
        stem_channels = scale_channels(layout["stem_channels"], args["width"], multiple)
        stem_stride = 2 if args["stem"] == "imagenet" else 1
        self.stem = nn.Sequential(
            nn.Conv2d(args["in_chans"], stem_channels, 3, stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
        )
        base_in, channels, reduction = layout["stem_channels"], stem_channels, stem_stride
        block_outputs = []
        for thresholds, (base_out, stride) in zip(arch.blocks, layout["blocks"]):
            # Keep the layout's channel ratio exactly (independent rounding could break 2×).
            out = channels * base_out // base_in if base_out % base_in == 0 else scale_channels(
                base_out, args["width"], multiple
            )
            self.blocks.append(
                ReActBlock(thresholds, channels, out, stride, arch.binarizer, arch.rprelu)
            )
            base_in, channels, reduction = base_out, out, reduction * stride
            block_outputs.append((out, reduction))
        self.feature_info = stage_features(block_outputs)
        self.num_features = channels
        self.head = self.new_head(self.num_classes)
