"""What each dataset is, as plain data (no torch): names, classes, channels, image side, and
how an image is prepared for a model.

``bnas validate`` checks a search space against these facts without reading any pixels;
:mod:`bnas.data` builds its readers and transforms from them; a model's input arguments
(``num_classes``, ``in_chans``, ``img_size``) are filled from the data by one function,
:func:`fit_to_data`, wherever a network meets its dataset (a search space, a training run,
an export); and :class:`Preprocessing` is what an exported model's runtime does to an image
file before the model sees it (``bnas export`` writes it, ``bnas predict`` reads it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bnas.errors import BnasError, LocatedError, validate_as


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about its input: classes, channels, side of the (square)
    images it receives."""

    num_classes: int
    in_chans: int
    img_size: int


# Image files bnas reads (ImageFolder trees, ``bnas predict``), by extension, in lower case.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

# How an image reaches the model's side: ``stretch`` resizes the whole image to size × size
# (the in-memory datasets, square already; bilinear with antialiasing, in float), ``crop``
# resizes the shorter side to size and cuts the centre square (ImageFolder's evaluation
# transform: torchvision's Resize + CenterCrop on the 8-bit image).
Resize = Literal["stretch", "crop"]


@dataclass(frozen=True)
class DatasetFacts:
    """A dataset known by name. ``num_classes`` / ``img_size`` are ``None`` where the files
    decide (an ImageFolder tree: one class per folder, images of any size). ``mean`` / ``std``
    are the per-channel normalization on the [0, 1] scale (training-set statistics; digits
    measured on all 1797), ``labels`` the class names where the format has none of its own."""

    name: str
    num_classes: int | None
    in_chans: int
    img_size: int | None
    description: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: Resize = "stretch"
    labels: tuple[str, ...] | None = None

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
        DatasetFacts("digits", 10, 1, 8, "scikit-learn's 8x8 digits (bundled, no files)",
                     (0.3053,), (0.3760,)),
        DatasetFacts("mnist", 10, 1, 28, "MNIST, idx files", (0.1307,), (0.3081,)),
        DatasetFacts("fashion_mnist", 10, 1, 28, "Fashion-MNIST, idx files", (0.2860,),
                     (0.3530,), labels=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
        DatasetFacts("cifar10", 10, 3, 32, "CIFAR-10, python pickle batches",
                     (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                     labels=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                             "horse", "ship", "truck")),
        DatasetFacts("cifar100", 100, 3, 32, "CIFAR-100, python pickle batches",
                     (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
        DatasetFacts("imagefolder", None, 3, None,
                     "ImageNet / Tiny-ImageNet layout: ROOT/train/<class>/*, ROOT/val/<class>/*",
                     (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), resize="crop"),  # timm's
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


PositiveFloat = Annotated[float, Field(gt=0)]


class Preprocessing(BaseModel):
    """What a deployed model's runtime does to an image file: decode to ``channels``
    (1 = grayscale, 3 = RGB), resize to ``size`` × ``size`` (``resize``: see :data:`Resize`),
    scale to [0, 1], subtract ``mean`` and divide by ``std`` per channel, lay out as C×H×W.
    ``labels`` name the model's outputs in order. Exactly the evaluation transform of
    :mod:`bnas.data` for ``dataset``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    channels: Literal[1, 3]
    size: Annotated[int, Field(gt=0)]
    resize: Resize
    mean: tuple[float, ...]
    std: tuple[PositiveFloat, ...]
    labels: tuple[str, ...]

    @model_validator(mode="after")
    def _per_channel(self) -> Preprocessing:
        for key in ("mean", "std"):
            if len(getattr(self, key)) != self.channels:
                raise ValueError(f"{key} needs one value per channel ({self.channels})")
        return self

    @classmethod
    def for_data(cls, name: str, info: DatasetInfo,
                 labels: tuple[str, ...] | None = None) -> Preprocessing:
        """The evaluation preprocessing of dataset ``name`` for a model fed ``info``; class
        names from ``labels``, else the dataset's own, else the class numbers."""
        facts = dataset_facts(name)
        names = labels or facts.labels or tuple(str(i) for i in range(info.num_classes))
        return cls(dataset=facts.name, channels=info.in_chans, size=info.img_size,
                   resize=facts.resize, mean=facts.mean, std=facts.std, labels=tuple(names))

    @classmethod
    def load(cls, path: str | Path) -> Preprocessing:
        """Read a ``preprocessing.json``; a problem is one line naming the file and key."""
        from bnas.reading import read_json

        return validate_as(cls, read_json(path, "preprocessing"), str(path),
                           "a mapping of preprocessing settings")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def describe(self) -> str:
        """One line: ``8×8 grayscale, resized whole (bilinear, antialiased), (x/255 − mean) /
        std with mean [0.3053], std [0.376]``."""
        colour = "grayscale" if self.channels == 1 else "RGB"
        how = ("resized whole (bilinear, antialiased)" if self.resize == "stretch" else
               "shorter side resized (bilinear), centre crop")
        return (f"{self.size}×{self.size} {colour}, {how}, (x/255 − mean) / std with mean "
                f"{list(self.mean)}, std {list(self.std)}")

