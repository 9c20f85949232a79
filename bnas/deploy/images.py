"""Image files → the float batch a deployed model takes, with numpy and Pillow only.

The steps are those of :mod:`bnas.data`'s evaluation transform for the model's dataset, as
the export folder's ``preprocessing.json`` declares them (:class:`bnas.datasets.Preprocessing`):

- ``stretch`` (digits, MNIST, Fashion-MNIST, CIFAR): the 8-bit image as float, resized to
  size × size by bilinear interpolation with antialiasing (PyTorch's ``interpolate(...,
  antialias=True)`` is a port of Pillow's resampling, so Pillow's float ``F`` mode gives the
  same values), then ``(x − 255·mean) / (255·std)``;
- ``crop`` (ImageFolder): torchvision's ``Resize(size)`` (shorter side to ``size``, Pillow
  bilinear on the 8-bit image) and ``CenterCrop(size)``, then ``(x/255 − mean) / std``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bnas.datasets import IMAGE_EXTENSIONS, Preprocessing
from bnas.errors import BnasError


def image_files(paths: Sequence[str | Path]) -> list[Path]:
    """The image files named, and those in the folders named (recursively, sorted)."""
    found: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            for folder, _, files in sorted(os.walk(given)):
                found += [Path(folder) / name for name in sorted(files)
                          if name.lower().endswith(IMAGE_EXTENSIONS)]
        elif given.is_file():
            found.append(given)
        else:
            raise BnasError(f"{given}: no such file or folder")
    if not found:
        raise BnasError(f"{', '.join(map(str, paths))}: no image files "
                        f"({' '.join(IMAGE_EXTENSIONS)})")
    return found


def _open(path: Path, channels: int):  # -> PIL.Image.Image
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("L" if channels == 1 else "RGB")
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise BnasError(f"{path}: cannot read image ({' '.join(str(error).split())})") from None


def _stretch(image, size: int) -> np.ndarray:  # noqa: ANN001 - a PIL image
    """size × size × C float32 on the 0..255 scale, antialiased bilinear per channel."""
    from PIL import Image

    planes = []
    for band in image.split():
        plane = Image.fromarray(np.asarray(band, np.float32), mode="F")
        if plane.size != (size, size):
            plane = plane.resize((size, size), Image.Resampling.BILINEAR)
        planes.append(np.asarray(plane, np.float32))
    return np.stack(planes, axis=-1)


def _resize_crop(image, size: int) -> np.ndarray:  # noqa: ANN001 - a PIL image
    """torchvision's Resize(size) + CenterCrop(size) on the 8-bit image: size × size × C."""
    from PIL import Image

    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(size * long / short)
    new_size = (size, new_long) if width <= height else (new_long, size)
    if image.size != new_size:
        image = image.resize(new_size, Image.Resampling.BILINEAR)
    width, height = image.size
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    pixels = np.asarray(image, np.uint8)
    pixels = pixels.reshape(height, width, -1)[top:top + size, left:left + size]
    return pixels.astype(np.float32)


def prepare_image(path: str | Path, preprocessing: Preprocessing) -> np.ndarray:
    """One image file as the model's C × size × size float32 input."""
    pre = preprocessing
    image = _open(Path(path), pre.channels)
    f32 = np.float32
    mean, std = np.asarray(pre.mean, f32), np.asarray(pre.std, f32)
    if pre.resize == "stretch":
        pixels = _stretch(image, pre.size)
        normalized = (pixels - mean * f32(255)) / (std * f32(255))
    else:
        pixels = _resize_crop(image, pre.size)
        normalized = (pixels / f32(255) - mean) / std
    return np.ascontiguousarray(normalized.transpose(2, 0, 1), dtype=f32)


def prepare_images(paths: Sequence[str | Path], preprocessing: Preprocessing) -> np.ndarray:
    """N × C × size × size float32, one row per file."""
    return np.stack([prepare_image(path, preprocessing) for path in paths])
