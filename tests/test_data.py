"""bnas.data: every format from a tiny fixture, the real shared data, and bad input."""

from __future__ import annotations

import gzip
import pickle
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bnas.data import (
    DATASET_NAMES,
    DatasetInfo,
    Splits,
    dataset_info,
    load_splits,
    make_loader,
)
from bnas.data._idx import FASHION_MNIST
from bnas.datasets import DATASETS
from bnas.errors import BnasError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------- fixtures in each format


def _labels(n_per_class: int, num_classes: int) -> np.ndarray:
    return np.tile(np.arange(num_classes), n_per_class)


def _write_cifar(folder: Path, files: dict[str, int], label_key: bytes, classes: int) -> None:
    """Real pickle batches: ``files`` maps file name → images per class."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for file, per_class in files.items():
        labels = _labels(per_class, classes)
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        batch = {b"batch_label": file.encode(), b"data": data, label_key: labels.tolist()}
        # protocol 2 is what the official (Python 2) batches use
        (folder / file).write_bytes(pickle.dumps(batch, protocol=2))


@pytest.fixture
def cifar10_root(tmp_path: Path) -> Path:
    files = {f"data_batch_{i}": 2 for i in range(1, 6)} | {"test_batch": 1}
    _write_cifar(tmp_path / "cifar-10-batches-py", files, b"labels", 10)
    return tmp_path


@pytest.fixture
def cifar100_root(tmp_path: Path) -> Path:
    _write_cifar(tmp_path / "cifar-100-python", {"train": 5, "test": 1}, b"fine_labels", 100)
    return tmp_path


def _idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_idx(folder: Path, *, gz: bool, train_per_class: int = 3) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, per_class in (("train", train_per_class), ("t10k", 1)):
        labels = _labels(per_class, 10).astype(np.uint8)
        images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = _idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    _write_idx(tmp_path / "MNIST" / "raw", gz=True)
    return tmp_path


def _write_imagefolder(root: Path, classes: int = 3, train: int = 6, val: int = 2) -> None:
    rng = np.random.default_rng(0)
    for split, count, ext in (("train", train, "png"), ("val", val, "JPEG"))[: 1 + bool(val)]:
        for c in range(classes):
            folder = root / split / f"n0{c}"
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)  # not square
                Image.fromarray(pixels).save(folder / f"n0{c}_{i}.{ext}")


@pytest.fixture
def imagefolder_root(tmp_path: Path) -> Path:
    _write_imagefolder(tmp_path)
    return tmp_path


def _check(splits: Splits, name: str, info: DatasetInfo) -> None:
    """Items are (normalized float C×S×S, int label in range) in every split."""
    assert splits.name == name
    assert splits.info == info
    for ds in (splits.train, splits.val, splits.test):
        x, y = ds[0]
        assert x.shape == (info.in_chans, info.img_size, info.img_size)
        assert x.dtype == torch.float32
        assert isinstance(y, int)
        assert 0 <= y < info.num_classes
    for ds in (splits.train, splits.val):
        assert 0 <= int(ds.targets.min()) and int(ds.targets.max()) < info.num_classes


def _indices(ds) -> set[int]:
    return set(ds.indices.tolist())


# ---------------------------------------------------------------- each format loads


def test_dataset_names() -> None:
    assert DATASET_NAMES == (
        "digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "imagefolder"
    )  # fmt: skip


def test_cifar10(cifar10_root: Path) -> None:
    splits = load_splits("cifar10", cifar10_root, val_fraction=0.2)
    _check(splits, "cifar10", DatasetInfo(10, 3, 32))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (80, 20, 10)
    # root may also be the batch folder itself
    inner = load_splits("cifar10", cifar10_root / "cifar-10-batches-py", val_fraction=0.2)
    assert torch.equal(inner.train.indices, splits.train.indices)


def test_cifar10_pixels_and_normalization(cifar10_root: Path) -> None:
    splits = load_splits("cifar10", cifar10_root, augment=False)
    with (cifar10_root / "cifar-10-batches-py" / "data_batch_1").open("rb") as f:
        raw = pickle.load(f)[b"data"][0].reshape(3, 32, 32)
    facts = DATASETS["cifar10"]
    mean, std = (torch.tensor(s).view(3, 1, 1) for s in (facts.mean, facts.std))
    expected = (torch.from_numpy(raw).float() / 255 - mean) / std
    # pool index 0 is the first image of data_batch_1, wherever the split put it
    ds = splits.train if 0 in _indices(splits.train) else splits.val
    position = ds.indices.tolist().index(0)
    assert torch.allclose(ds[position][0], expected, atol=1e-5)


def test_cifar100(cifar100_root: Path) -> None:
    splits = load_splits("cifar100", cifar100_root, subset=4, val_fraction=0.25, img_size=16)
    _check(splits, "cifar100", DatasetInfo(100, 3, 16))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (300, 100, 100)


@pytest.mark.parametrize("layout", ["torchvision_gz", "flat_raw"])
def test_mnist_and_fashion_idx(tmp_path: Path, layout: str) -> None:
    if layout == "torchvision_gz":
        _write_idx(tmp_path / "FashionMNIST" / "raw", gz=True)
    else:  # a folder holding the four files directly, like Debian's dataset-fashion-mnist
        _write_idx(tmp_path, gz=False)
    for name in ("fashion_mnist", "mnist") if layout == "flat_raw" else ("fashion_mnist",):
        splits = load_splits(name, tmp_path, val_fraction=1 / 3)
        _check(splits, name, DatasetInfo(10, 1, 28))
        assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 10, 10)


def test_mnist_resized(mnist_root: Path) -> None:
    splits = load_splits("mnist", mnist_root, img_size=32)
    _check(splits, "mnist", DatasetInfo(10, 1, 32))


def test_imagefolder(imagefolder_root: Path) -> None:
    splits = load_splits("imagefolder", imagefolder_root, img_size=16, val_fraction=0.5)
    _check(splits, "imagefolder", DatasetInfo(3, 3, 16))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (9, 9, 6)
    assert splits.test.targets.tolist() == [0, 0, 1, 1, 2, 2]
    assert dataset_info("imagefolder", imagefolder_root) == DatasetInfo(3, 3, 64)


def test_imagefolder_without_val_has_no_test(tmp_path: Path) -> None:
    _write_imagefolder(tmp_path, classes=2, val=0)
    splits = load_splits("imagefolder", tmp_path, img_size=8)
    assert splits.test is None
    assert len(splits.train) + len(splits.val) == 12


def test_digits() -> None:
    splits = load_splits("digits")
    _check(splits, "digits", DatasetInfo(10, 1, 8))
    assert len(splits.train) + len(splits.val) + len(splits.test) == 1797
    # the held-out test split is fixed: the user's seed only moves the val split
    other = load_splits("digits", seed=1, subset=5)
    assert torch.equal(other.test.targets, splits.test.targets)
    assert torch.equal(other.test.pool.images, splits.test.pool.images)
    assert dataset_info("digits", img_size=16) == DatasetInfo(10, 1, 16)
    assert load_splits("digits", img_size=16).train[0][0].shape == (1, 16, 16)


def test_digits_are_scikit_learns_read_without_importing_it() -> None:
    from sklearn.datasets import load_digits

    splits = load_splits("digits")
    pools = (splits.train.pool, splits.test.pool)  # every image, once
    ours = sorted((image[0].numpy().tobytes(), int(label)) for pool in pools
                  for image, label in zip(pool.images, pool.targets))
    bunch = load_digits()
    pixels = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    assert ours == sorted((image.tobytes(), int(label)) for image, label in
                          zip(pixels, bunch.target))
    code = ("import sys; from bnas.data import load_splits; load_splits('digits'); "
            "assert 'sklearn' not in sys.modules, 'sklearn imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- splits and subsets


def test_subset_and_val_split_by_seed() -> None:
    a = load_splits("digits", subset=20, val_fraction=0.1, seed=0)
    assert (len(a.train), len(a.val)) == (180, 20)
    assert torch.bincount(a.train.targets, minlength=10).tolist() == [18] * 10
    assert torch.bincount(a.val.targets, minlength=10).tolist() == [2] * 10
    assert not _indices(a.train) & _indices(a.val)
    same = load_splits("digits", subset=20, val_fraction=0.1, seed=0)
    assert torch.equal(same.train.indices, a.train.indices)
    assert torch.equal(same.val.indices, a.val.indices)
    other = load_splits("digits", subset=20, val_fraction=0.1, seed=1)
    assert not torch.equal(other.val.indices, a.val.indices)
    # a smaller subset is drawn from the same per-class order as a larger one
    small = load_splits("digits", subset=10, seed=0)
    assert _indices(small.train) | _indices(small.val) <= _indices(a.train) | _indices(a.val)
    # the test split is never subsampled
    full = load_splits("digits")
    assert len(a.test) == len(full.test)
    assert not _indices(full.train) & _indices(full.val)


def test_val_fraction_zero_and_tiny_subset(cifar10_root: Path) -> None:
    splits = load_splits("cifar10", cifar10_root, val_fraction=0.0)
    assert (len(splits.train), len(splits.val)) == (100, 0)
    # a tiny subset still puts every class in val (and keeps one per class in train)
    splits = load_splits("cifar10", cifar10_root, subset=2, val_fraction=0.1)
    assert (len(splits.train), len(splits.val)) == (10, 10)


def test_augment(cifar10_root: Path) -> None:
    torch.manual_seed(0)
    plain = load_splits("cifar10", cifar10_root, augment=False)
    assert torch.equal(plain.train[0][0], plain.train[0][0])
    aug = load_splits("cifar10", cifar10_root)
    draws = [aug.train[0][0] for _ in range(8)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])
    assert torch.equal(aug.val[0][0], aug.val[0][0])  # val uses eval transforms


def test_digits_are_never_flipped() -> None:
    splits = load_splits("digits", subset=5)
    assert splits.train.transform.flip is False


# ---------------------------------------------------------------- loaders


def test_make_loader_order_follows_seed() -> None:
    splits = load_splits("digits", subset=10)
    loader = make_loader(splits.train, batch_size=16, shuffle=True, seed=3)
    assert loader.num_workers == 0
    x, y = next(iter(loader))
    assert x.shape == (16, 1, 8, 8) and y.dtype == torch.int64

    def order(seed: int) -> list[int]:
        loader = make_loader(splits.train, batch_size=16, shuffle=True, seed=seed)
        return torch.cat([y for _, y in loader]).tolist()

    def epochs(seed: int) -> list[list[int]]:
        loader = make_loader(splits.val, batch_size=4, shuffle=True, seed=seed)
        return [torch.cat([y for _, y in loader]).tolist() for _ in range(2)]

    assert order(3) == order(3)
    assert order(3) != order(4)
    first, second = epochs(3)
    assert [first, second] == epochs(3)
    assert first != second  # each epoch reshuffles, still reproducibly
    dropped = make_loader(splits.train, batch_size=16, shuffle=False, drop_last=True)
    assert len(dropped) == len(splits.train) // 16


def test_make_loader_uses_a_worker_for_image_files(imagefolder_root: Path) -> None:
    splits = load_splits("imagefolder", imagefolder_root, img_size=16)
    loader = make_loader(splits.test, batch_size=4, shuffle=False)
    assert loader.num_workers >= 1 and loader.persistent_workers
    x, y = next(iter(loader))
    assert x.shape == (4, 3, 16, 16)
    assert y.tolist() == [0, 0, 1, 1]


# ---------------------------------------------------------------- the real shared data


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="no shared/data/mnist")
def test_real_mnist() -> None:
    splits = load_splits("mnist", SHARED_DATA / "mnist", subset=10)
    _check(splits, "mnist", DatasetInfo(10, 1, 28))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (90, 10, 10000)
    x, _ = next(iter(make_loader(splits.test, batch_size=1000, shuffle=False)))
    assert abs(float(x.mean())) < 0.1 and abs(float(x.std()) - 1) < 0.1  # normalized


@pytest.mark.skipif(
    not (SHARED_DATA / "tiny-imagenet-10").is_dir(), reason="no shared/data/tiny-imagenet-10"
)
def test_real_tiny_imagenet() -> None:
    splits = load_splits("imagefolder", SHARED_DATA / "tiny-imagenet-10", subset=5)
    _check(splits, "imagefolder", DatasetInfo(10, 3, 64))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (40, 10, 500)
    x, y = next(iter(make_loader(splits.train, batch_size=8, shuffle=True, num_workers=0)))
    assert x.shape == (8, 3, 64, 64)


@pytest.mark.skipif(not FASHION_MNIST_DEBIAN.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_debian_default() -> None:
    splits = load_splits("fashion_mnist", subset=5)
    assert (len(splits.train), len(splits.test)) == (40, 10000)


def test_fashion_mnist_default_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a root, fashion_mnist reads where Debian's package puts the files."""
    monkeypatch.setattr(FASHION_MNIST.reader, "default_root", tmp_path)
    message = _one_line_error("fashion_mnist")
    assert f"no root given and no idx files in the default {tmp_path}" in message
    _write_idx(tmp_path, gz=True)
    assert len(load_splits("fashion_mnist", val_fraction=0).train) == 30


# ---------------------------------------------------------------- bad input


def _one_line_error(*args, **kwargs) -> str:
    with pytest.raises(BnasError) as info:
        load_splits(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_name_lists_choices() -> None:
    message = _one_line_error("imagenet")
    assert "'imagenet'" in message and all(n in message for n in DATASET_NAMES)
    with pytest.raises(BnasError, match="choose one of"):
        dataset_info("svhn")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100", "imagefolder"])
def test_missing_root_names_the_path(tmp_path: Path, name: str) -> None:
    missing = tmp_path / "nowhere"
    message = _one_line_error(name, missing)
    assert str(missing) in message and name in message


def test_missing_root_messages() -> None:
    message = _one_line_error("cifar10", "/x/y")
    assert message == (
        "cifar10: no CIFAR-10 pickle batches under /x/y (expected "
        "/x/y/cifar-10-batches-py/data_batch_1..5 and test_batch; get them from "
        "https://www.cs.toronto.edu/~kriz/cifar.html or pass download=True)"
    )
    assert "ROOT/MNIST/raw/" in _one_line_error("mnist")
    assert "ROOT/train/<class>" in _one_line_error("imagefolder")


def test_missing_batch_file(cifar10_root: Path) -> None:
    (cifar10_root / "cifar-10-batches-py" / "test_batch").unlink()
    assert "test_batch is missing" in _one_line_error("cifar10", cifar10_root)


@pytest.mark.parametrize(
    "content",
    [b"not a pickle at all", b"truncated", pickle.dumps(Fraction(1, 2)), pickle.dumps([1, 2])],
    ids=["garbage", "truncated", "forbidden_global", "not_a_dict"],
)
def test_corrupt_pickle_names_the_file(cifar10_root: Path, content: bytes) -> None:
    path = cifar10_root / "cifar-10-batches-py" / "data_batch_3"
    if content == b"truncated":
        content = path.read_bytes()[:100]
    path.write_bytes(content)
    assert str(path) in _one_line_error("cifar10", cifar10_root)


def test_pickle_with_wrong_keys_or_shape(cifar100_root: Path) -> None:
    path = cifar100_root / "cifar-100-python" / "train"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}))
    assert "fine_labels" in _one_line_error("cifar100", cifar100_root)
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8), "fine_labels": [0, 1]}))
    assert "(N, 3072)" in _one_line_error("cifar100", cifar100_root)
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "fine_labels": [0, 100]}))
    assert "outside 0..99" in _one_line_error("cifar100", cifar100_root)


@pytest.mark.parametrize("damage", ["truncated_gz", "truncated_data", "bad_magic", "missing"])
def test_corrupt_idx_names_the_file(mnist_root: Path, damage: str) -> None:
    path = mnist_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    data = gzip.decompress(path.read_bytes())
    if damage == "truncated_gz":
        path.write_bytes(path.read_bytes()[:50])
    elif damage == "truncated_data":
        path.write_bytes(gzip.compress(data[:-10]))
    elif damage == "bad_magic":
        path.write_bytes(gzip.compress(b"\0\0\x08\x01" + data[4:]))
    else:
        path.unlink()
    message = _one_line_error("mnist", mnist_root)
    assert "t10k-images-idx3-ubyte" in message
    if damage == "bad_magic":
        assert "00000801" in message


def test_idx_count_mismatch(tmp_path: Path) -> None:
    _write_idx(tmp_path, gz=False)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(np.zeros(5, np.uint8)))
    assert "5 labels" in _one_line_error("mnist", tmp_path)


def test_imagefolder_bad_layouts(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    assert "no class folders" in _one_line_error("imagefolder", tmp_path)
    (tmp_path / "train" / "cat").mkdir()
    assert "no images under" in _one_line_error("imagefolder", tmp_path)
    Image.new("RGB", (4, 4)).save(tmp_path / "train" / "cat" / "a.png")
    (tmp_path / "val" / "images").mkdir(parents=True)  # Tiny-ImageNet's unsorted val
    message = _one_line_error("imagefolder", tmp_path)
    assert str(tmp_path / "val" / "images") in message and "not a class" in message


def test_corrupt_image_names_the_file(imagefolder_root: Path) -> None:
    bad = imagefolder_root / "val" / "n00" / "n00_0.JPEG"
    bad.write_bytes(b"not a jpeg")
    splits = load_splits("imagefolder", imagefolder_root, img_size=8)
    with pytest.raises(BnasError, match="n00_0.JPEG"):
        splits.test[0]


@pytest.mark.parametrize(
    "kwargs",
    [{"subset": 0}, {"subset": 2.5}, {"val_fraction": 1.0}, {"val_fraction": -0.1},
     {"img_size": 0}],
)  # fmt: skip
def test_bad_arguments(kwargs: dict) -> None:
    key = next(iter(kwargs))
    assert key in _one_line_error("digits", **kwargs)


def test_bad_loader_arguments() -> None:
    splits = load_splits("digits", subset=2)
    with pytest.raises(BnasError, match="batch_size"):
        make_loader(splits.train, batch_size=0, shuffle=False)
    with pytest.raises(BnasError, match="num_workers"):
        make_loader(splits.train, batch_size=1, shuffle=False, num_workers=-1)
