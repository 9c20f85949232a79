"""scikit-learn's bundled 8×8 digits: the demo that needs no files and no set-up."""

from __future__ import annotations

from pathlib import Path

import torch

from bnas.data._base import InMemoryFormat, TensorPool, stratified_split
from bnas.data._transforms import DIGITS_STATS
from bnas.datasets import DATASETS

TEST_FRACTION = 0.2
# Fixed, not the user's seed: runs with different seeds must report on the same test images.
TEST_SEED = 0


def read_digits(root: Path | None, download: bool) -> tuple[TensorPool, TensorPool]:
    """All 1797 images, split once into a stratified held-out test set (the data has none)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are 0..16: stretch to 0..255 so every format shares one uint8 pipeline.
    images = torch.from_numpy(bunch.images * (255.0 / 16.0)).round().to(torch.uint8)[:, None]
    targets = torch.from_numpy(bunch.target).to(torch.long)
    train_idx, test_idx = stratified_split(
        targets, 10, subset=None, val_fraction=TEST_FRACTION, seed=TEST_SEED
    )
    train = TensorPool(images[train_idx], targets[train_idx])
    test = TensorPool(images[test_idx], targets[test_idx])
    return train, test


DIGITS = InMemoryFormat(
    facts=DATASETS["digits"],
    reader=read_digits,
    stats=DIGITS_STATS,
    pad=1,
    flip=False,
)
