"""Per-dataset normalization and augmentation (the statistics: :mod:`bnas.datasets`).

In-memory formats get :class:`TensorTransform`, a few tensor ops on the uint8 image: a search
runs on two CPU cores, and a PIL round trip per item would cost more than the ops themselves.
Random draws use torch's global generator, which the DataLoader seeds per worker and the trainer
seeds with ``torch.manual_seed`` in the main process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

Transform = Callable[..., torch.Tensor]


class TensorTransform:
    """uint8 C×H×W → normalized float C×size×size, with optional pad-and-crop and flip.

    Crop and flip act on the stored (native) pixels before any resize, so ``pad`` is in native
    pixels and the result equals resize-then-crop with proportional padding.
    """

    def __init__(
        self,
        stats: tuple[Sequence[float], Sequence[float]],
        size: int,
        *,
        pad: int = 0,
        flip: bool = False,
    ) -> None:
        mean, std = (torch.tensor(s, dtype=torch.float32).view(-1, 1, 1) for s in stats)
        # Normalize straight from the 0..255 scale: one subtract and one divide per item.
        self.mean255 = mean * 255.0
        self.std255 = std * 255.0
        self.size = size
        self.pad = pad
        self.flip = flip

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if self.pad:
            h, w = img.shape[-2:]
            padded = F.pad(img, (self.pad, self.pad, self.pad, self.pad))
            top, left = torch.randint(0, 2 * self.pad + 1, (2,)).tolist()
            img = padded[:, top : top + h, left : left + w]
        if self.flip and torch.rand(()) < 0.5:
            img = img.flip(-1)
        x = img.to(torch.float32)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(
                x[None],
                size=(self.size, self.size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )[0]
        return (x - self.mean255) / self.std255

    def __repr__(self) -> str:
        return f"TensorTransform(size={self.size}, pad={self.pad}, flip={self.flip})"


def tensor_transforms(
    stats: tuple[Sequence[float], Sequence[float]],
    size: int,
    *,
    augment: bool,
    pad: int,
    flip: bool,
) -> tuple[Transform, Transform]:
    """(train, eval) transforms for an in-memory dataset; ``augment=False`` gives eval twice."""
    eval_tf = TensorTransform(stats, size)
    train_tf = TensorTransform(stats, size, pad=pad, flip=flip) if augment else eval_tf
    return train_tf, eval_tf


def image_transforms(
    stats: tuple[Sequence[float], Sequence[float]], size: int, *, augment: bool
) -> tuple[Transform, Transform]:
    """(train, eval) transforms for decoded PIL images (ImageFolder).

    Eval resizes the short side to ``size`` and center-crops without timm's 0.875 crop_pct:
    Tiny-ImageNet images are already 64 px and a 12% border cut would drop content.
    RandomResizedCrop keeps at least a quarter of the image for the same reason (the default
    8% of a 64 px image is an 18 px blur).
    """
    from torchvision.transforms import v2

    to_tensor = [
        v2.PILToTensor(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(stats[0]), list(stats[1])),
    ]
    eval_tf = v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size), *to_tensor])
    if not augment:
        return eval_tf, eval_tf
    train_tf = v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=(0.25, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            *to_tensor,
        ]
    )
    return train_tf, eval_tf
