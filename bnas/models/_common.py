"""What the three backbones share: resolved arguments, channel scaling, the base class
and the CNN unit "sign site → binary conv → BatchNorm".

Backbone arguments live in ``Architecture.args`` as plain data; :mod:`bnas.backbones` declares
their names, defaults and valid values, so a bad value fails with one line before any tensor
is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
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


def stage_features(block_outputs: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """timm's ``feature_info`` of a CNN from each block's (channels, reduction): for every
    resolution, the last block that has it (where timm's CNNs put their feature levels).

    >>> [f["module"] for f in stage_features([(32, 1), (64, 2), (64, 2), (128, 4)])]
    ['blocks.0', 'blocks.2', 'blocks.3']
    """
    levels: dict[int, dict[str, Any]] = {}  # by reduction, in increasing order
    for index, (channels, reduction) in enumerate(block_outputs):
        levels[reduction] = {"module": f"blocks.{index}", "num_chs": channels,
                             "reduction": reduction}
    return list(levels.values())


class BinaryBackbone(nn.Module):
    """Base of the bnas backbones: keeps the Architecture, exposes ``blocks``, and follows timm's
    model conventions, so a backbone serves wherever a timm model does:

    - ``forward_features`` (unpooled features in ``output_fmt``) and
      ``forward_head(x, pre_logits)``; ``num_classes``, ``in_chans``, ``num_features`` (=
      ``head_hidden_size``), ``global_pool``, ``get_classifier`` and
      ``reset_classifier(num_classes, global_pool)`` (0 classes: no classifier; pooling ``""``:
      none, ``forward`` returns the feature map);
    - ``feature_info`` (channels and reduction of each feature level), ``forward_intermediates``
      and ``prune_intermediate_layers``: what timm's ``features_only=True`` wrapper, and the
      detection and segmentation heads built on it, need from a backbone.

    Subclasses set ``stem``, ``blocks``, ``num_features``, ``head`` (:meth:`new_head`) and
    ``feature_info``. Convention every backbone follows (profilers and tests rely on it):
    ``blocks[i]`` is block *i* of ``arch.blocks``, and for each site name ``s`` of the backbone,
    ``blocks[i].<s>`` is the unit holding that site's sign module (``.sign``, an RSign or DySign)
    and its binary layer.
    """

    output_fmt = "NCHW"
    global_pools: tuple[str, ...] = ("avg", "")  # the first is the default

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        self.args = resolve_args(arch)
        self.num_classes: int = self.args["num_classes"]
        self.in_chans: int = self.args["in_chans"]
        self.global_pool = self.global_pools[0]
        self.blocks = nn.ModuleList()
        self.feature_info: list[dict[str, Any]] = []

    @property
    def head_hidden_size(self) -> int:
        """Width of ``forward_head(x, pre_logits=True)``."""
        return self.num_features

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem, then the blocks in order: N×C×H×W (the CNN case)."""
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pool → FC (the CNN case)."""
        if self.global_pool == "avg":
            x = x.mean(dim=(2, 3))
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def new_head(self, num_classes: int) -> nn.Module:
        """A fresh classifier on the pooled features; none (identity) for 0 classes."""
        return nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A new classifier for ``num_classes`` (0: none) on the device, dtype and train/eval
        mode of the model; ``global_pool`` one of :attr:`global_pools`, ``None`` keeps it."""
        if global_pool is not None:
            if global_pool not in self.global_pools:
                raise BnasError(
                    f"{self.arch.backbone}: global_pool must be one of "
                    f"{', '.join(map(repr, self.global_pools))}, got {global_pool!r}"
                )
            self.global_pool = global_pool
        self.head = self.like_model(lambda: self.new_head(num_classes))
        self.num_classes = num_classes

    def like_model(self, make: Callable[[], nn.Module]) -> nn.Module:
        """A module made by ``make`` on the model's device, in its dtype and train/eval mode."""
        like = next(self.parameters())
        with torch.device(like.device):
            module = make()
        return module.to(dtype=like.dtype).train(self.training)

    def feature_levels(self, indices: int | Sequence[int] | None) -> tuple[list[int], list[int]]:
        """The ``feature_info`` levels ``indices`` selects, by timm's rules (``None``: all; an
        int n: the last n; a sequence: those, negative ones counted from the end), and the block
        whose output each one is."""
        count = len(self.feature_info)
        if indices is None:
            indices = count
        if isinstance(indices, int):
            if not 0 < indices <= count:
                raise BnasError(f"{self.arch.backbone}: last {indices} of {count} feature levels")
            levels = list(range(count - indices, count))
        else:
            levels = [index + count if index < 0 else index for index in indices]
            if not all(0 <= level < count for level in levels):
                raise BnasError(
                    f"{self.arch.backbone}: feature levels {list(indices)} out of range for "
                    f"{count} levels"
                )
        blocks = [int(self.feature_info[i]["module"].removeprefix("blocks.")) for i in levels]
        return levels, blocks

    def forward_intermediates(
        self, x: Tensor, indices: int | Sequence[int] | None = None, norm: bool = False,
        stop_early: bool = False, output_fmt: str = "NCHW", intermediates_only: bool = False,
    ) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
        """timm's feature API: the feature maps of the ``feature_info`` levels ``indices``
        (N×C×H×W), alone with ``intermediates_only``, else after the final features.

        ``stop_early`` skips the blocks after the last level asked for; ``norm`` (a final norm
        on each level) is a no-op here, as these CNNs end without one.
        """
        if output_fmt != "NCHW":
            raise BnasError(f"{self.arch.backbone}: features come as NCHW, not {output_fmt}")
        _, wanted = self.feature_levels(indices)
        last = max(wanted) if stop_early else len(self.blocks) - 1
        intermediates = []
        x = self.stem(x)
        for index, block in enumerate(self.blocks[: last + 1]):
            x = block(x)
            if index in wanted:
                intermediates.append(x)
        return intermediates if intermediates_only else (x, intermediates)

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] | None = 1, prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop the blocks after the last level ``indices`` selects (and the classifier and its
        pooling with ``prune_head``); returns the selected levels, as timm's models do."""
        levels, blocks = self.feature_levels(indices)
        self.blocks = self.blocks[: max(blocks) + 1]
        if prune_head:
            self.reset_classifier(0, "")
        return levels

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
