"""What each backbone is made of, as plain data (no torch import).

An :class:`~bnas.architecture.Architecture` says, block by block, which binarized *sites* get a
static or a dynamic threshold. To validate one (and to build search spaces) we must know, for a
backbone and its arguments, how many blocks it has and what each block's sites are called,
without importing torch: ``bnas validate`` and ``bnas --help`` stay fast. The torch modules in
:mod:`bnas.models` read their layouts from here, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bnas.errors import BnasError

# ReActNet-A = MobileNetV1 layout; each entry is (output channels, stride) of one block.
REACTNET_A_LAYOUTS: dict[str, dict[str, Any]] = {
    "full": {
        "stem_channels": 32,
        "blocks": [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
        + [(512, 1)] * 5
        + [(1024, 2), (1024, 1)],
    },
    "small": {
        "stem_channels": 16,
        "blocks": [(32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (256, 1)],
    },
    "tiny": {"stem_channels": 16, "blocks": [(32, 1), (64, 2), (64, 1), (128, 2)]},
}

# ReAct-ResNet18 (Bi-Real basis): stage widths and basic blocks per stage.
REACT_RESNET18_LAYOUTS: dict[str, dict[str, Any]] = {
    "full": {"stem_channels": 64, "widths": [64, 128, 256, 512], "depths": [2, 2, 2, 2]},
    "small": {"stem_channels": 32, "widths": [32, 64, 128, 256], "depths": [1, 1, 1, 1]},
    "tiny": {"stem_channels": 16, "widths": [16, 32, 64], "depths": [1, 1, 1]},
}

# Binary CCT: transformer encoder layers after a convolutional tokenizer (CCT-7/3x1 is "full").
BINARY_CCT_LAYOUTS: dict[str, dict[str, Any]] = {
    "full": {"num_layers": 7, "embed_dim": 256, "num_heads": 4, "mlp_ratio": 2.0,
             "tokenizer_layers": 1, "tokenizer_kernel": 3},
    "small": {"num_layers": 4, "embed_dim": 128, "num_heads": 2, "mlp_ratio": 2.0,
              "tokenizer_layers": 1, "tokenizer_kernel": 3},
    "tiny": {"num_layers": 2, "embed_dim": 64, "num_heads": 2, "mlp_ratio": 2.0,
             "tokenizer_layers": 1, "tokenizer_kernel": 3},
}


@dataclass(frozen=True)
class BackboneInfo:
    """A backbone's vocabulary: its block sites and how many blocks given its arguments."""

    name: str
    sites: tuple[str, ...]
    layouts: dict[str, dict[str, Any]]
    count_blocks: Callable[[dict[str, Any]], int]
    doc: str
    args: tuple[str, ...] = ("preset", "width", "channel_multiple", "stem", "num_classes",
                             "in_chans", "img_size")

    def layout(self, args: dict[str, Any]) -> dict[str, Any]:
        preset = args.get("preset", "full")
        if preset not in self.layouts:
            raise BnasError(
                f"{self.name}: unknown preset {preset!r}; valid: {', '.join(self.layouts)}"
            )
        return self.layouts[preset]

    def num_blocks(self, args: dict[str, Any]) -> int:
        return self.count_blocks(self.layout(args))


BACKBONES: dict[str, BackboneInfo] = {
    info.name: info
    for info in (
        BackboneInfo(
            name="reactnet_a",
            sites=("conv3x3", "conv1x1"),
            layouts=REACTNET_A_LAYOUTS,
            count_blocks=lambda layout: len(layout["blocks"]),
            doc="ReActNet-A (MobileNetV1 layout), binary 3x3 and 1x1 convolutions",
        ),
        BackboneInfo(
            name="react_resnet18",
            sites=("conv1", "conv2"),
            layouts=REACT_RESNET18_LAYOUTS,
            count_blocks=lambda layout: sum(layout["depths"]),
            doc="ReAct-ResNet18 (Bi-Real basis), two binary 3x3 convolutions per block",
        ),
        BackboneInfo(
            name="binary_cct",
            sites=("qkv", "proj", "fc1", "fc2"),
            layouts=BINARY_CCT_LAYOUTS,
            count_blocks=lambda layout: layout["num_layers"],
            doc="Binary Compact Convolutional Transformer, binary attention and MLP linears",
            args=("preset", "width", "stem", "num_classes", "in_chans", "img_size",
                  "drop_path_rate"),
        ),
    )
}


def backbone_info(name: str) -> BackboneInfo:
    """The catalog entry for ``name``; a one-line error lists the valid names."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise BnasError(
            f"unknown backbone {name!r}; valid: {', '.join(sorted(BACKBONES))}"
        ) from None
