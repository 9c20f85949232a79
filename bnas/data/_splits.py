"""The dataset registry and :func:`load_splits`, the one way to get data."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from bnas.data._base import Format, Splits, stratified_split
from bnas.data._cifar import CIFAR10, CIFAR100
from bnas.data._digits import DIGITS
from bnas.data._idx import FASHION_MNIST, MNIST
from bnas.data._imagefolder import IMAGEFOLDER
from bnas.datasets import DatasetInfo, dataset_facts
from bnas.errors import BnasError

# A reader for every dataset of bnas.datasets (tests/test_data.py checks the names agree).
REGISTRY: dict[str, Format] = {
    "digits": DIGITS,
    "mnist": MNIST,
    "fashion_mnist": FASHION_MNIST,
    "cifar10": CIFAR10,
    "cifar100": CIFAR100,
    "imagefolder": IMAGEFOLDER,
}


def _format(name: str) -> Format:
    return REGISTRY[dataset_facts(name).name]


def _root(root: str | os.PathLike[str] | None) -> Path | None:
    return None if root is None else Path(root).expanduser()


def _check_size(img_size: int | None) -> None:
    if img_size is not None and (
        isinstance(img_size, bool) or not isinstance(img_size, int) or img_size < 1
    ):
        raise BnasError(f"img_size must be a positive integer or None, got {img_size!r}")


def dataset_info(
    name: str, root: str | os.PathLike[str] | None = None, *, img_size: int | None = None
) -> DatasetInfo:
    """Classes, channels and image side without reading pixels (for profiling a model)."""
    _check_size(img_size)
    return _format(name).info(_root(root), img_size)


def class_labels(name: str, root: str | os.PathLike[str] | None = None
                 ) -> tuple[str, ...] | None:
    """The class names the dataset's files give (an ImageFolder's class folders, in class
    order), or None (:class:`bnas.datasets.DatasetFacts` may name them)."""
    return _format(name).labels(_root(root))


def load_splits(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    subset: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    img_size: int | None = None,
    augment: bool = True,
    download: bool = False,
) -> Splits:
    """Train / val / test of the dataset ``name`` stored under ``root``.

    ``subset`` keeps at most N training images per class, chosen by ``seed``, before the
    validation split (also per class, by ``seed``) is held out of them; the test split is
    never subsampled, so final numbers stay comparable. Val and test use eval transforms.
    ``download`` asks torchvision to fetch missing files (needs a network).

    >>> splits = load_splits("digits", subset=20)
    >>> len(splits.train), len(splits.val), splits.info
    (180, 20, DatasetInfo(num_classes=10, in_chans=1, img_size=8))
    """
    fmt = _format(name)
    if subset is not None and (
        isinstance(subset, bool) or not isinstance(subset, int) or subset < 1
    ):
        raise BnasError(f"subset must be a positive number of images per class, got {subset!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise BnasError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    _check_size(img_size)
    path = _root(root)
    info = fmt.info(path, img_size)
    train_pool, test_pool = fmt.read(path, download)
    train_tf, eval_tf = fmt.transforms(info, augment)
    train_idx, val_idx = stratified_split(
        train_pool.targets, info.num_classes, subset=subset, val_fraction=val_fraction, seed=seed
    )
    if len(train_idx) == 0:
        raise BnasError(f"{name}: no training images left after subset={subset}")
    test = None
    if test_pool is not None:
        test = test_pool.view(torch.arange(len(test_pool.targets)), eval_tf)
    return Splits(
        train=train_pool.view(train_idx, train_tf),
        val=train_pool.view(val_idx, eval_tf),
        test=test,
        info=info,
        name=name,
    )
