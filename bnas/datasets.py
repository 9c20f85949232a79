"""What each dataset is, as plain data (no torch): names, classes, channels, image side.

``bnas validate`` checks a search space against these facts without reading any pixels;
:mod:`bnas.data` builds its readers from them; and a model's input arguments
(``num_classes``, ``in_chans``, ``img_size``) are filled from the data by one function,
:func:`fit_to_data`, wherever a network meets its dataset (a search space, a training run,
an export).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnas.errors import BnasError, LocatedError


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about its input: classes, channels, side of the (square)
    images it receives."""

    num_classes: int
    in_chans: int
    img_size: int


@dataclass(frozen=True)
class DatasetFacts:
    """A dataset known by name. ``num_classes`` / ``img_size`` are ``None`` where the files
    decide (an ImageFolder tree: one class per folder, images of any size)."""

    name: str
    num_classes: int | None
    in_chans: int
    img_size: int | None
    description: str

    def info(self, img_size: int | None = None, num_classes: int | None = None) -> DatasetInfo:
        """The model's input for this dataset, resized to ``img_size`` when given."""
        classes = num_classes if num_classes is not None else self.num_classes
        side = img_size if img_size is not None else self.img_size
        if classes is None or side is None:
            raise BnasError(f"{self.name}: classes and image size come from the files")
        return DatasetInfo(classes, self.in_chans, side)


DATASETS: dict[str, DatasetFacts] = {
    facts.name: facts
    for facts in (
        DatasetFacts("digits", 10, 1, 8, "scikit-learn's 8x8 digits (bundled, no files)"),
        DatasetFacts("mnist", 10, 1, 28, "MNIST, idx files"),
        DatasetFacts("fashion_mnist", 10, 1, 28, "Fashion-MNIST, idx files"),
        DatasetFacts("cifar10", 10, 3, 32, "CIFAR-10, python pickle batches"),
        DatasetFacts("cifar100", 100, 3, 32, "CIFAR-100, python pickle batches"),
        DatasetFacts("imagefolder", None, 3, None,
                     "ImageNet / Tiny-ImageNet layout: ROOT/train/<class>/*, ROOT/val/<class>/*"),
    )
}
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)


def dataset_facts(name: str) -> DatasetFacts:
    """The facts of ``name``; an unknown name is one line listing the valid ones."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise BnasError(
            f"unknown dataset {name!r} (choose one of: {', '.join(DATASET_NAMES)})"
        ) from None


def class_folders(root: str | Path) -> list[str]:
    """The classes of an ImageFolder tree, as torchvision's ``ImageFolder`` finds them: the
    folders of ``ROOT/train``, sorted by name (their order is the label order). One BnasError
    line when there are none."""
    train = Path(root).expanduser() / "train"
    try:
        classes = sorted(entry.name for entry in os.scandir(train) if entry.is_dir())
    except OSError as error:
        raise BnasError(f"imagefolder: cannot list the class folders of {train} "
                        f"({error.strerror or error})") from None
    if not classes:
        raise BnasError(f"imagefolder: no class folders in {train} (expected "
                        f"{DATASETS['imagefolder'].description})")
    return classes


_INPUT_ARGS = ("num_classes", "in_chans", "img_size")


def fit_to_data(args: dict[str, Any], info: DatasetInfo, dataset: str) -> dict[str, Any]:
    """``args`` with ``num_classes`` / ``in_chans`` / ``img_size`` filled from the data.

    A value the args give and the data contradict is a :class:`LocatedError` at that key (a
    1000-class head on CIFAR-10 would train, and profile, wrong).
    """
    filled = dict(args)
    for key in _INPUT_ARGS:
        value = getattr(info, key)
        given = filled.setdefault(key, value)
        if given != value:
            what = {
                "num_classes": f"{dataset} has {value} classes",
                "in_chans": f"{dataset} images have {value} channel(s)",
                "img_size": f"the model sees {value}x{value} {dataset} images "
                            f"(set the data's img_size to {given} to resize them)",
            }[key]
            raise LocatedError((key,), f"{given}, but {what}")
    return filled
