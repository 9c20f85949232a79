"""The data of a run and the architecture fitted to it: :func:`prepare_data`.

Training and export both go through here, so an exported trial is verified on exactly the
validation split its run held out (rebuilt from the dataset name, root, subset,
val_fraction and seed) with exactly the architecture it trained.
"""

from __future__ import annotations

from dataclasses import dataclass

from bnas.architecture import Architecture
from bnas.data import DatasetInfo, Splits, load_splits
from bnas.datasets import fit_to_data
from bnas.errors import BnasError, LocatedError
from bnas.train_config import TrainConfig


@dataclass(frozen=True)
class PreparedData:
    """A run's splits and its architecture with num_classes / in_chans / img_size filled in."""

    arch: Architecture
    splits: Splits

    @property
    def info(self) -> DatasetInfo:
        return self.splits.info


def prepare_data(arch: Architecture, config: TrainConfig) -> PreparedData:
    """Load ``config.data``'s splits (held out by ``config.seed``) and fit ``arch`` to them.

    The image side is ``data.img_size``, else the architecture's ``img_size``, else the
    dataset's own; an architecture that contradicts the data (classes, channels, side), an
    unreadable dataset and an empty validation split are one-line ``BnasError``\\ s.
    """
    data = config.data
    img_size = data.img_size
    if img_size is None and isinstance(arch.args.get("img_size"), int):
        img_size = arch.args["img_size"]
    elif img_size is not None and arch.args.get("img_size", img_size) != img_size:
        raise BnasError(
            f"architecture {arch.summary()}: img_size={arch.args['img_size']} but "
            f"data.img_size={img_size}; set one of them"
        )
    splits = load_splits(
        data.name, data.root, subset=data.subset, val_fraction=data.val_fraction,
        seed=config.seed, img_size=img_size, augment=data.augment,
    )
    if len(splits.val) == 0:
        raise BnasError(f"data: no validation images ({data.name}, val_fraction="
                        f"{data.val_fraction}, subset={data.subset}); raise one of them")
    return PreparedData(fit_architecture(arch, splits.info, data.name), splits)


def fit_architecture(arch: Architecture, info: DatasetInfo, dataset: str) -> Architecture:
    """``arch`` with num_classes / in_chans / img_size filled from the data
    (:func:`bnas.datasets.fit_to_data`); a contradiction is a one-line BnasError."""
    try:
        return arch.with_args(**fit_to_data(dict(arch.args), info, dataset))
    except LocatedError as error:
        raise BnasError(f"architecture {arch.summary()}: args.{error}") from None
