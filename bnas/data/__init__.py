"""Datasets by name, split into train / val / test, and loaders for them.

Formats are the ones torchvision reads (idx files, CIFAR pickle batches, ImageFolder trees),
plus scikit-learn's bundled 8×8 digits, which need no files at all::

    from bnas.data import load_splits, make_loader

    splits = load_splits("digits", subset=50, seed=0)
    loader = make_loader(splits.train, batch_size=64, shuffle=True, seed=0)
    images, labels = next(iter(loader))  # float (64, 1, 8, 8) normalized, int64 (64,)

Other names take a root folder: ``load_splits("mnist", "data/mnist")``,
``load_splits("imagefolder", "data/tiny-imagenet-10", img_size=64)``.
"""

from bnas.data._base import Splits
from bnas.data._loader import make_loader
from bnas.data._splits import class_labels, dataset_info, load_splits
from bnas.datasets import DATASET_NAMES, DatasetInfo

__all__ = ["DATASET_NAMES", "DatasetInfo", "Splits", "class_labels", "dataset_info", "load_splits",
           "make_loader"]
