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
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bnas.errors import BnasError, LocatedError, explain

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


Preset = Literal["tiny", "small", "full"]
PositiveInt = Annotated[int, Field(gt=0)]


class BackboneArgs(BaseModel):
    """Arguments every backbone takes (``Architecture.args``), with their defaults.

    ``stem: auto`` picks the ImageNet stem from :data:`IMAGENET_STEM_MIN_SIZE` px up; the
    CNN / CCT subclasses add their own. This is the one declaration: the search space's
    ``backbone:`` section, the model builders and ``bnas profile``'s flags derive from it.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    preset: Preset = Field("full", description="layout: tiny (~0.1 M params), small, full")
    width: Annotated[float, Field(gt=0)] = Field(1.0, description="channel width multiplier")
    stem: Literal["auto", "imagenet", "cifar"] = Field(
        "auto", description="input stem; auto = imagenet from 128 px up, else cifar"
    )
    num_classes: PositiveInt = Field(1000, description="classifier outputs")
    in_chans: PositiveInt = Field(3, description="input channels")
    img_size: PositiveInt = Field(224, description="input height = width")


class CnnArgs(BackboneArgs):
    """ReActNet-A and ReAct-ResNet18."""

    channel_multiple: PositiveInt = Field(
        8, description="channels after width round to a multiple of this"
    )


class CctArgs(BackboneArgs):
    """Binary CCT."""

    drop_path_rate: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.0, description="stochastic depth at the last layer (rises linearly)"
    )


# ``stem: auto`` picks the ImageNet stem (stride 2, more downsampling) from this size up;
# smaller images (8×8 digits, 28×28 MNIST, 32×32 CIFAR, 64×64 Tiny-ImageNet) keep stride 1.
IMAGENET_STEM_MIN_SIZE = 128


@dataclass(frozen=True)
class BackboneInfo:
    """A backbone's vocabulary: its arguments, block sites and how many blocks it has."""

    name: str
    sites: tuple[str, ...]
    layouts: dict[str, dict[str, Any]]
    count_blocks: Callable[[dict[str, Any]], int]
    doc: str
    args_model: type[BackboneArgs]

    @property
    def args(self) -> tuple[str, ...]:
        """The argument names, in declaration order."""
        return tuple(self.args_model.model_fields)

    def check_args(self, args: Any) -> BackboneArgs:
        """``args`` validated, defaults filled; a problem is a :class:`LocatedError` at the
        argument's name (``("width",)``), one line in the shared wording."""
        from pydantic import ValidationError

        if not isinstance(args, dict):
            raise LocatedError((), f"expected a mapping of {self.name} arguments, got {args!r}")
        unknown = [key for key in args if key not in self.args_model.model_fields]
        if unknown:
            raise LocatedError(
                (unknown[0],),
                f"{self.name} takes no {unknown[0]!r}; valid: {', '.join(self.args)}",
            )
        try:
            return self.args_model.model_validate(args)
        except ValidationError as error:
            loc, message = explain(error, self.args_model)
            raise LocatedError(loc, message) from None

    def resolve_args(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every argument with defaults, ``stem: auto`` resolved, and the preset's ``layout``."""
        resolved = self.check_args(args).model_dump()
        if resolved["stem"] == "auto":
            big = resolved["img_size"] >= IMAGENET_STEM_MIN_SIZE
            resolved["stem"] = "imagenet" if big else "cifar"
        resolved["layout"] = self.layouts[resolved["preset"]]
        return resolved

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
            args_model=CnnArgs,
        ),
        BackboneInfo(
            name="react_resnet18",
            sites=("conv1", "conv2"),
            layouts=REACT_RESNET18_LAYOUTS,
            count_blocks=lambda layout: sum(layout["depths"]),
            doc="ReAct-ResNet18 (Bi-Real basis), two binary 3x3 convolutions per block",
            args_model=CnnArgs,
        ),
        BackboneInfo(
            name="binary_cct",
            sites=("qkv", "proj", "fc1", "fc2"),
            layouts=BINARY_CCT_LAYOUTS,
            count_blocks=lambda layout: layout["num_layers"],
            doc="Binary Compact Convolutional Transformer, binary attention and MLP linears",
            args_model=CctArgs,
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
