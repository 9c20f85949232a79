"""MNIST and Fashion-MNIST from idx files (gzipped or not), read without torchvision.

Parsing here rather than through ``torchvision.datasets.MNIST`` lets a truncated file or a
wrong magic number fail with the file's name, and accepts any folder holding the four files
(e.g. Debian's ``dataset-fashion-mnist`` at /usr/share/datasets/fashion-mnist).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from bnas.data._base import InMemoryFormat, TensorPool, check_labels, require_root
from bnas.datasets import DATASETS
from bnas.errors import BnasError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
UBYTE = 0x08
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def read_idx(name: str, path: Path, ndim: int) -> torch.Tensor:
    """One idx file of unsigned bytes with ``ndim`` dimensions, as a uint8 tensor."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise BnasError(f"{name}: cannot read idx file {path} ({exc})") from exc
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != UBYTE or data[3] != ndim:
        raise BnasError(
            f"{name}: {path} is not an idx file of unsigned bytes with {ndim} dimension(s) "
            f"(magic number {data[:4].hex() or 'missing'}, expected 000008{ndim:02x})"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise BnasError(f"{name}: {path} is truncated (header cut short)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) != header + math.prod(shape):
        raise BnasError(
            f"{name}: {path} holds {len(data) - header} bytes of data, its header promises "
            f"{math.prod(shape)} for shape {tuple(shape)} (truncated or corrupt)"
        )
    return torch.from_numpy(np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy())


def _find(folder: Path, stem: str) -> Path | None:
    """Prefer the uncompressed file (torchvision leaves both; it skips a gunzip)."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


class IdxReader:
    """Reader for one idx dataset; ``subdir`` is torchvision's folder name under root."""

    def __init__(self, name: str, subdir: str, source: str, default_root: Path | None) -> None:
        self.name = name
        self.subdir = subdir
        self.source = source
        self.default_root = default_root

    def _expected(self, root: Path) -> str:
        return (
            f"{root}/{self.subdir}/raw/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz] "
            f"or those 4 files directly in {root}; get them from {self.source} "
            "or pass download=True"
        )

    def _folder(self, root: Path) -> Path | None:
        for folder in (root / self.subdir / "raw", root):
            if _find(folder, FILES["train_images"]) is not None:
                return folder
        return None

    def _download(self, root: Path) -> None:
        from torchvision import datasets

        cls = getattr(datasets, self.subdir)  # MNIST / FashionMNIST: the same raw/ layout
        try:
            for train in (True, False):
                cls(str(root), train=train, download=True)
        except Exception as exc:  # network errors come in many types; all mean the same here
            raise BnasError(f"{self.name}: download to {root} failed ({exc})") from exc

    def __call__(self, root: Path | None, download: bool) -> tuple[TensorPool, TensorPool]:
        if root is None and self.default_root is not None:
            if self._folder(self.default_root) is None:
                raise BnasError(
                    f"{self.name}: no root given and no idx files in the default "
                    f"{self.default_root} (expected {self._expected(Path('ROOT'))})"
                )
            root = self.default_root
        root = require_root(self.name, root, self._expected(Path("ROOT")))
        folder = self._folder(root)
        if folder is None and download:
            self._download(root)
            folder = self._folder(root)
        if folder is None:
            raise BnasError(
                f"{self.name}: no idx files under {root} (expected {self._expected(root)})"
            )
        return self._pool(folder, "train"), self._pool(folder, "test")

    def _pool(self, folder: Path, split: str) -> TensorPool:
        paths = {}
        for kind in ("images", "labels"):
            stem = FILES[f"{split}_{kind}"]
            path = _find(folder, stem)
            if path is None:
                raise BnasError(f"{self.name}: {folder}/{stem}[.gz] is missing")
            paths[kind] = path
        images = read_idx(self.name, paths["images"], 3)
        labels = read_idx(self.name, paths["labels"], 1).to(torch.long)
        if images.shape[1:] != (28, 28):
            raise BnasError(
                f"{self.name}: {paths['images']} holds {tuple(images.shape[1:])} images, "
                "expected 28×28"
            )
        if len(images) != len(labels):
            raise BnasError(
                f"{self.name}: {paths['images']} has {len(images)} images but "
                f"{paths['labels']} has {len(labels)} labels"
            )
        check_labels(self.name, paths["labels"], labels, 10)
        return TensorPool(images[:, None], labels)


MNIST = InMemoryFormat(
    facts=DATASETS["mnist"],
    reader=IdxReader("mnist", "MNIST", "https://yann.lecun.com/exdb/mnist/", None),
    pad=2,
    flip=False,
)

FASHION_MNIST = InMemoryFormat(
    facts=DATASETS["fashion_mnist"],
    reader=IdxReader(
        "fashion_mnist",
        "FashionMNIST",
        "https://github.com/zalandoresearch/fashion-mnist or Debian package dataset-fashion-mnist",
        FASHION_MNIST_DEBIAN,
    ),
    pad=2,
    flip=True,
)
