"""One training run of an Architecture on a dataset (used by ``bnas train`` and by search trials).

::

    from bnas import Architecture
    from bnas.train import TrainConfig, train

    arch = Architecture.uniform("reactnet_a", "dynamic", preset="tiny", stem="cifar")
    config = TrainConfig.from_dict({"data": {"name": "digits"}, "epochs": 10})
    result = train(arch, config, out_dir="runs/train/demo")
    print(result.best_val_top1, result.cost["ops"])

The modules, one concept each: :mod:`bnas.train_config` (the settings),
:mod:`~bnas.train.prepare` (splits and the architecture fitted to them),
:mod:`~bnas.train.schedule` (learning rate, two-step phases), :mod:`~bnas.train.optimizer`
(parameter groups), :mod:`~bnas.train.distillation`, :mod:`~bnas.train.evaluation`,
:mod:`~bnas.train.runtime` (device, threads, determinism, seeds), :mod:`~bnas.train.loop`
(the pieces of an epoch), :mod:`~bnas.train.checkpoint`, :mod:`~bnas.train.run_folder`,
:mod:`~bnas.train.monitor` (progress bar, TensorBoard), :mod:`~bnas.train.result` and
:mod:`~bnas.train.trainer` (:func:`train`, which strings them together).

The configs import no torch; :func:`train` and friends import it on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from bnas.train_config import DataConfig, TrainConfig

if TYPE_CHECKING:
    from bnas.train.prepare import PreparedData, prepare_data
    from bnas.train.result import TrainingDiverged, TrainResult, comparable
    from bnas.train.trainer import train

__all__ = ["DataConfig", "PreparedData", "TrainConfig", "TrainResult", "TrainingDiverged",
           "comparable", "prepare_data", "train"]

_LAZY = {
    "PreparedData": "bnas.train.prepare",
    "prepare_data": "bnas.train.prepare",
    "TrainResult": "bnas.train.result",
    "TrainingDiverged": "bnas.train.result",
    "comparable": "bnas.train.result",
    "train": "bnas.train.trainer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bnas.train' has no attribute {name!r}")
