"""Training settings as plain data: :class:`DataConfig` and :class:`TrainConfig`.

These are the field names a search space's ``data:`` and ``train:`` sections use, so a trial
turns its sampled dict into a config with ``TrainConfig.from_dict(...)``. This module imports
no torch: ``bnas validate`` can check training settings without it.

Defaults are tuned for binary networks trained from scratch on small data on a CPU:
AdamW at lr 2e-3 (ReActNet uses 5e-4 at batch 256 on ImageNet; a few thousand images want a
larger step), cosine decay to 0 over every step of the run, label smoothing 0.1, gradient-norm
clipping at 5, weight decay on real-valued kernels only (:mod:`bnas.train.optimizer` says why).
Every field's description is also its ``bnas train`` flag's help.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bnas.datasets import DATASET_NAMES
from bnas.errors import validate_as

# Seeds (a training run's, a search's) reach numpy's RandomState (Optuna's samplers), which
# takes 0 .. 2**32 - 1, and torch's generators (the data split), which take at most 2**64 - 1.
# One bound on the schema, the narrowest, so no consumer meets a seed it cannot take.
MAX_SEED = 2**32 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
# Passes over the training split: a bound every record of a run checks its epoch counts
# against (a year of 30-second epochs), so no damaged file can claim 10**18.
MAX_EPOCHS = 1_000_000


class DataConfig(BaseModel):
    """Which dataset, where it lives, and how much of it (see :func:`bnas.data.load_splits`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(description=f"dataset: {', '.join(DATASET_NAMES)}")
    root: str | None = Field(
        None, description="folder holding the dataset files; unset: the dataset's default"
    )
    subset: int | None = Field(
        None, gt=0, description="training images kept per class; unset: all"
    )
    val_fraction: float = Field(
        0.1, gt=0.0, lt=1.0, description="share of the training images held out for validation"
    )
    img_size: int | None = Field(
        None, gt=0, description="side of the images the model sees; unset: the "
        "architecture's img_size, else the dataset's own"
    )
    augment: bool = Field(
        True, description="augment the training images with the dataset's random crops/flips"
    )


class TrainConfig(BaseModel):
    """One training run: data, optimisation, the two-step recipe and distillation."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    data: DataConfig
    epochs: int = Field(30, gt=0, le=MAX_EPOCHS, description="passes over the training split")
    batch_size: int = Field(128, gt=0, description="images per optimizer step")
    optimizer: Literal["adamw", "adam", "sgd"] = Field(
        "adamw", description="adamw, adam (coupled L2 decay) or sgd with momentum"
    )
    lr: float = Field(2e-3, gt=0.0, description="peak learning rate, reached after warm-up")
    weight_decay: float = Field(
        1e-4, ge=0.0, description="weight decay, on real-valued kernels and matrices only"
    )
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum")
    schedule: Literal["cosine", "linear", "constant"] = Field(
        "cosine", description="learning-rate decay to 0 after warm-up"
    )
    warmup_epochs: float = Field(
        0.0, ge=0.0, description="epochs of linear learning-rate warm-up, fractions allowed"
    )
    label_smoothing: float = Field(
        0.1, ge=0.0, lt=1.0, description="ε of the label-smoothed cross-entropy"
    )
    grad_clip: float | None = Field(
        5.0, gt=0.0, description="max gradient norm; null (0 on the command line): no clipping"
    )
    two_step: bool = Field(
        False,
        description="first half of the epochs with real weights and binary activations, "
        "second half fully binary: ReActNet's two-step recipe (Martinez et al. 2020)",
    )
    teacher: str | None = Field(
        None,
        description="distil from a trained bnas model folder (arch.yaml + model.safetensors) "
        "or timm:<name>",
    )
    teacher_checkpoint: str | None = Field(
        None, description="safetensors weights of a timm:<name> teacher"
    )
    kd_weight: float = Field(1.0, ge=0.0, description="loss = CE + kd_weight · T² · KL")
    kd_temperature: float = Field(4.0, gt=0.0, description="T of the distillation softmaxes")
    seed: Seed = Field(
        0, description="seeds the split, the initialisation, the data order and augmentation"
    )
    threads: int | None = Field(
        None, gt=0, description="torch CPU threads; unset: every core this process may use"
    )
    eval_test: bool = Field(False, description="also evaluate the final model on the test split")
    device: str = Field("auto", description="auto (cuda when available), cpu, cuda or cuda:N")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.two_step and self.epochs < 2:
            raise ValueError("two_step needs epochs >= 2 (half of them per step)")
        if self.warmup_epochs > self.epochs:
            raise ValueError(
                f"warmup_epochs ({self.warmup_epochs}) exceeds epochs ({self.epochs})"
            )
        if self.teacher_checkpoint is not None and not (self.teacher or "").startswith("timm:"):
            raise ValueError("teacher_checkpoint is only for a 'timm:<name>' teacher")
        return self

    @property
    def step1_epochs(self) -> int:
        """Epochs of step 1 (real weights, binary activations); 0 without two_step."""
        return self.epochs // 2 if self.two_step else 0

    @classmethod
    def from_dict(cls, data: Any, source: str = "train config") -> TrainConfig:
        """Validate plain data; a problem becomes one ``BnasError`` line naming its path."""
        return validate_as(cls, data, source, "a mapping of training settings")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
