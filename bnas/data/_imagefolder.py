"""ImageNet / Tiny-ImageNet in ImageFolder layout: ROOT/train/<class>/*, ROOT/val/<class>/*.

Files are decoded per item (ImageNet does not fit in memory); ``val`` becomes the test split,
as ImageNet's labelled val set is what papers report on.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from bnas.data._base import FilePool, Format, Pool, require_root
from bnas.data._transforms import Transform, image_transforms
from bnas.datasets import DATASETS, IMAGE_EXTENSIONS, DatasetInfo, class_folders
from bnas.errors import BnasError

NAME = "imagefolder"
DEFAULT_SIZE = 64  # Tiny-ImageNet's side; ImageNet users pass img_size=224
EXPECTED = (
    "{root}/train/<class>/*.JPEG with one folder per class, and optionally {root}/val/<class>/* "
    "as the test split (ImageNet or Tiny-ImageNet with val sorted into class folders)"
)


def _scan(root: Path, split: str, classes: list[str]) -> FilePool:
    folder = root / split
    index = {c: i for i, c in enumerate(classes)}
    paths, targets = [], []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not entry.is_dir():
            continue
        if entry.name not in index:
            raise BnasError(
                f"{NAME}: {entry.path} is not a class of {root / 'train'} "
                f"(expected {EXPECTED.format(root=root)})"
            )
        for dirpath, _, files in sorted(os.walk(entry.path)):
            for file in sorted(files):
                if file.lower().endswith(IMAGE_EXTENSIONS):
                    paths.append(os.path.join(dirpath, file))
                    targets.append(index[entry.name])
    if not paths:
        raise BnasError(f"{NAME}: no images under {folder} (expected {EXPECTED.format(root=root)})")
    return FilePool(paths, torch.tensor(targets, dtype=torch.long), NAME)


class ImageFolderFormat(Format):
    def info(self, root: Path | None, img_size: int | None) -> DatasetInfo:
        root = require_root(NAME, root, EXPECTED.format(root="ROOT"))
        return DatasetInfo(len(class_folders(root)), 3, img_size or DEFAULT_SIZE)

    def read(self, root: Path | None, download: bool) -> tuple[Pool, Pool | None]:
        # download: ImageNet has no download URL; the flag is accepted and means nothing here.
        root = require_root(NAME, root, EXPECTED.format(root="ROOT"))
        classes = class_folders(root)
        train = _scan(root, "train", classes)
        test = _scan(root, "val", classes) if (root / "val").is_dir() else None
        return train, test

    def labels(self, root: Path | None) -> tuple[str, ...] | None:
        return tuple(class_folders(require_root(NAME, root, EXPECTED.format(root="ROOT"))))

    def transforms(self, info: DatasetInfo, augment: bool) -> tuple[Transform, Transform]:
        facts = DATASETS[NAME]
        return image_transforms((facts.mean, facts.std), info.img_size, augment=augment)


IMAGEFOLDER = ImageFolderFormat()
