"""The shapes every format reader hands back, and the two dataset views built on them.

A reader only finds and decodes files into a *pool* (all images of one split, with labels);
choosing subsets, validation indices and transforms happens once, in ``_splits``, so every
format behaves the same way.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from bnas.data._transforms import Transform, tensor_transforms
from bnas.datasets import DatasetFacts, DatasetInfo
from bnas.errors import BnasError


@dataclass
class Splits:
    """Train / val (carved from train by seed) / test (untouched, for final numbers)."""

    train: Dataset
    val: Dataset
    test: Dataset | None
    info: DatasetInfo
    name: str


class TensorPool:
    """All images of one split as one uint8 N×C×H×W tensor: no decoding per item."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor) -> None:
        self.images = images
        self.targets = targets

    def view(self, indices: torch.Tensor, transform: Transform) -> TensorImageDataset:
        return TensorImageDataset(self, indices, transform)


class FilePool:
    """Image paths with labels: pixels are decoded per item (too large to hold in memory)."""

    def __init__(self, paths: Sequence[str], targets: torch.Tensor, name: str) -> None:
        self.paths = list(paths)
        self.targets = targets
        self.name = name

    def view(self, indices: torch.Tensor, transform: Transform) -> FileImageDataset:
        return FileImageDataset(self, indices, transform)


Pool = TensorPool | FilePool


class _PoolView(Dataset):
    """A subset of a pool with its transform; ``indices`` index the pool (for split checks)."""

    def __init__(self, pool: Pool, indices: torch.Tensor, transform: Transform) -> None:
        self.pool = pool
        self.indices = indices.to(torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def targets(self) -> torch.Tensor:
        return self.pool.targets[self.indices]


class TensorImageDataset(_PoolView):
    """Items are ``(normalized float C×H×W, int label)`` from an in-memory uint8 pool."""

    pool: TensorPool

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        j = int(self.indices[i])
        return self.transform(self.pool.images[j]), int(self.pool.targets[j])


class FileImageDataset(_PoolView):
    """Items are ``(normalized float C×H×W, int label)`` decoded from image files."""

    pool: FilePool

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        j = int(self.indices[i])
        path = self.pool.paths[j]
        try:
            with Image.open(path) as im:
                img = im.convert("RGB")
        except (OSError, ValueError, SyntaxError) as exc:
            raise BnasError(f"{self.pool.name}: cannot read image {path} ({exc})") from exc
        return self.transform(img), int(self.pool.targets[j])


class Format(ABC):
    """One registry entry: how to describe, read and transform one named dataset."""

    @abstractmethod
    def info(self, root: Path | None, img_size: int | None) -> DatasetInfo:
        """Shape facts without reading pixels (a directory listing at most)."""

    @abstractmethod
    def read(self, root: Path | None, download: bool) -> tuple[Pool, Pool | None]:
        """(training pool, test pool or None); raises BnasError naming what was expected."""

    @abstractmethod
    def transforms(self, info: DatasetInfo, augment: bool) -> tuple[Transform, Transform]:
        """(train, eval) transforms producing ``info.img_size`` squares."""

    def labels(self, root: Path | None) -> tuple[str, ...] | None:
        """Class names the files give (an ImageFolder's folders); None where they give none."""
        return None


@dataclass(frozen=True)
class InMemoryFormat(Format):
    """A dataset small enough to decode whole into a :class:`TensorPool`."""

    facts: DatasetFacts  # classes, channels, native side, normalization (bnas.datasets)
    reader: Callable[[Path | None, bool], tuple[TensorPool, TensorPool | None]]
    pad: int  # random-crop padding in native pixels
    flip: bool  # whether a mirrored image keeps its label (not for digits)

    def info(self, root: Path | None, img_size: int | None) -> DatasetInfo:
        return self.facts.info(img_size)

    def read(self, root: Path | None, download: bool) -> tuple[Pool, Pool | None]:
        return self.reader(root, download)

    def transforms(self, info: DatasetInfo, augment: bool) -> tuple[Transform, Transform]:
        return tensor_transforms(
            (self.facts.mean, self.facts.std), info.img_size, augment=augment, pad=self.pad,
            flip=self.flip,
        )


def stratified_split(
    targets: torch.Tensor,
    num_classes: int,
    *,
    subset: int | None,
    val_fraction: float,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, held-out) pool indices, each sorted, chosen per class by ``seed``.

    Each class is shuffled once by the seed; ``subset`` keeps its first N (so a smaller subset
    is contained in a larger one) and the first ``round(n * val_fraction)`` of those are held
    out, at least one per class when there are two or more, so no class is missing from val.
    """
    generator = torch.Generator().manual_seed(seed)
    kept, held = [], []
    for c in range(num_classes):
        idx = (targets == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        if subset is not None:
            idx = idx[:subset]
        n_held = math.floor(len(idx) * val_fraction + 0.5)
        if val_fraction > 0 and n_held == 0 and len(idx) >= 2:
            n_held = 1
        n_held = min(n_held, max(len(idx) - 1, 0))  # never empty a class of the kept part
        held.append(idx[:n_held])
        kept.append(idx[n_held:])
    return torch.cat(kept).sort().values, torch.cat(held).sort().values


def require_root(name: str, root: Path | None, expected: str) -> Path:
    """Formats other than digits have no default location: say what root should hold."""
    if root is None:
        raise BnasError(f"{name}: no root folder given (expected {expected})")
    return root


def check_labels(name: str, path: Path | str, labels: torch.Tensor, num_classes: int) -> None:
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise BnasError(
            f"{name}: labels in {path} outside 0..{num_classes - 1} "
            f"(found {int(labels.min())}..{int(labels.max())})"
        )
