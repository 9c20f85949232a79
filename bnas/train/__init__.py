"""One training run of an Architecture on a dataset (used by ``bnas train`` and by search trials).

::

    from bnas import Architecture
    from bnas.train import TrainConfig, train

    arch = Architecture.uniform("reactnet_a", "dynamic", preset="tiny", stem="cifar")
    config = TrainConfig.from_dict({"data": {"name": "digits"}, "epochs": 10})
    result = train(arch, config, out_dir="runs/train/demo")
    print(result.best_val_top1, result.cost["ops"])

The configs import no torch; :func:`train` and friends import it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bnas.train_config import DataConfig, TrainConfig

if TYPE_CHECKING:
    from bnas.train.trainer import TrainingDiverged, TrainResult, comparable, train

__all__ = ["DataConfig", "TrainConfig", "TrainResult", "TrainingDiverged", "comparable", "train"]

_LAZY = {"TrainResult", "TrainingDiverged", "comparable", "train"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from bnas.train import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'bnas.train' has no attribute {name!r}")
