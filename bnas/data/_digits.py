"""scikit-learn's bundled 8×8 digits: the demo that needs no files and no set-up."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from bnas.data._base import InMemoryFormat, TensorPool, stratified_split
from bnas.datasets import DATASETS
from bnas.errors import BnasError

TEST_FRACTION = 0.2
# Fixed, not the user's seed: runs with different seeds must report on the same test images.
TEST_SEED = 0


def digits_file() -> Path:
    """The file ``sklearn.datasets.load_digits`` reads, found without importing scikit-learn
    (that import takes ~1 s): 1797 rows of 64 pixel values and the digit."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise BnasError("digits: scikit-learn is not installed (the digits are in its package)")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"


def read_digits(root: Path | None, download: bool) -> tuple[TensorPool, TensorPool]:
    """All 1797 images, split once into a stratified held-out test set (the data has none)."""
    with gzip.open(digits_file(), "rt") as file:
        table = np.loadtxt(file, delimiter=",")
    # Pixel values are 0..16: stretch to 0..255 so every format shares one uint8 pipeline.
    pixels = table[:, :-1].reshape(-1, 8, 8) * (255.0 / 16.0)
    images = torch.from_numpy(pixels).round().to(torch.uint8)[:, None]
    targets = torch.from_numpy(table[:, -1].astype(np.int64))
    train_idx, test_idx = stratified_split(
        targets, 10, subset=None, val_fraction=TEST_FRACTION, seed=TEST_SEED
    )
    train = TensorPool(images[train_idx], targets[train_idx])
    test = TensorPool(images[test_idx], targets[test_idx])
    return train, test


DIGITS = InMemoryFormat(
    facts=DATASETS["digits"],
    reader=read_digits,
    pad=1,
    flip=False,
)
