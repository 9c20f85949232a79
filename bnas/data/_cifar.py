"""CIFAR-10 / CIFAR-100 from the python pickle batches (torchvision's layout)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bnas.data._base import InMemoryFormat, TensorPool, check_labels, require_root
from bnas.datasets import DATASETS
from bnas.errors import BnasError

SOURCE = "https://www.cs.toronto.edu/~kriz/cifar.html"

# The batches hold a dict of lists and numpy arrays: nothing else may be unpickled, so a
# dataset folder cannot run code (the names cover numpy 1.x and 2.x, Python 2 and 3 pickles).
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


@dataclass(frozen=True)
class CifarReader:
    """Reader for one CIFAR variant; the fields are torchvision's layout of its files."""

    name: str  # bnas name
    title: str  # as the authors write it
    folder: str  # torchvision's folder under root
    train_files: tuple[str, ...]
    test_file: str
    label_key: str
    num_classes: int
    download_class: str  # in torchvision.datasets

    def expected(self, root: Path) -> str:
        first, last = self.train_files[0], self.train_files[-1]
        train = first if first == last else f"{first}..{last.rsplit('_', 1)[-1]}"
        return f"{root / self.folder}/{train} and {self.test_file}"

    def read_batch(self, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
        """One pickle batch → (uint8 N×3×32×32, int64 N); any defect names the file."""
        try:
            with path.open("rb") as f:
                # latin1: the official batches are Python 2 pickles of byte strings.
                batch = _Unpickler(f, encoding="latin1").load()
        except Exception as exc:  # a corrupt pickle can fail in any way; all mean the same
            raise BnasError(f"{self.name}: cannot unpickle {path} ({exc})") from exc
        if not isinstance(batch, dict):
            raise BnasError(f"{self.name}: {path} holds a {type(batch).__name__}, not a dict")
        batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
        if "data" not in batch or self.label_key not in batch:
            raise BnasError(
                f"{self.name}: {path} lacks the keys 'data' and '{self.label_key}' "
                f"(found {sorted(map(str, batch))})"
            )
        data = np.asarray(batch["data"])
        labels = np.asarray(batch[self.label_key])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise BnasError(
                f"{self.name}: {path} data is {data.dtype} {data.shape}, expected uint8 (N, 3072)"
            )
        if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
            raise BnasError(
                f"{self.name}: {path} has {len(data)} images but labels of shape {labels.shape}"
            )
        targets = torch.from_numpy(labels.astype(np.int64))
        check_labels(self.name, path, targets, self.num_classes)
        return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), targets

    def _folder(self, root: Path) -> Path | None:
        """Root may be torchvision's parent folder or the batch folder itself."""
        for folder in (root / self.folder, root):
            if (folder / self.train_files[0]).is_file():
                return folder
        return None

    def _download(self, root: Path) -> None:
        from torchvision import datasets

        try:
            getattr(datasets, self.download_class)(str(root), train=True, download=True)
        except Exception as exc:  # network errors come in many types; all mean the same here
            raise BnasError(f"{self.name}: download to {root} failed ({exc})") from exc

    def _pool(self, folder: Path, files: tuple[str, ...], root: Path) -> TensorPool:
        parts = []
        for file in files:
            path = folder / file
            if not path.is_file():
                raise BnasError(f"{self.name}: {path} is missing (expected {self.expected(root)})")
            parts.append(self.read_batch(path))
        return TensorPool(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))

    def __call__(self, root: Path | None, download: bool) -> tuple[TensorPool, TensorPool]:
        root = require_root(
            self.name, root, f"{self.expected(Path('ROOT'))}; get them from {SOURCE}"
        )
        folder = self._folder(root)
        if folder is None and download:
            self._download(root)
            folder = self._folder(root)
        if folder is None:
            raise BnasError(
                f"{self.name}: no {self.title} pickle batches under {root} "
                f"(expected {self.expected(root)}; get them from {SOURCE} or pass download=True)"
            )
        return self._pool(folder, self.train_files, root), self._pool(
            folder, (self.test_file,), root
        )


CIFAR10 = InMemoryFormat(
    facts=DATASETS["cifar10"],
    reader=CifarReader(
        name="cifar10",
        title="CIFAR-10",
        folder="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_file="test_batch",
        label_key="labels",
        num_classes=DATASETS["cifar10"].num_classes,
        download_class="CIFAR10",
    ),
    pad=4,
    flip=True,
)

CIFAR100 = InMemoryFormat(
    facts=DATASETS["cifar100"],
    reader=CifarReader(
        name="cifar100",
        title="CIFAR-100",
        folder="cifar-100-python",
        train_files=("train",),
        test_file="test",
        label_key="fine_labels",
        num_classes=DATASETS["cifar100"].num_classes,
        download_class="CIFAR100",
    ),
    pad=4,
    flip=True,
)
