"""Training settings as plain data: :class:`DataConfig` and :class:`TrainConfig`.

These are the field names a search space's ``data:`` and ``train:`` sections use, so a trial
turns its sampled dict into a config with ``TrainConfig.from_dict(...)``. This module imports
no torch: ``bnas validate`` can check training settings without it.

Defaults are tuned for binary networks trained from scratch on small data on a CPU:
AdamW at lr 2e-3 (ReActNet uses 5e-4 at batch 256 on ImageNet; a few thousand images want a
larger step), cosine decay to 0 over every step of the run, label smoothing 0.1, gradient-norm
clipping at 5. ``weight_decay`` is applied only to the real-valued kernels and matrices (stem,
classifier, downsample convolutions, threshold generators); latent binary weights, biases and
per-channel parameters (BN, RSign α, RPReLU) get none: decay pulls a latent binary weight
toward 0, where its sign flips at every step (ReActNet uses 0 on them in step 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bnas.errors import validate_as
from bnas.writing import write_text_atomic

# Every seed of bnas (a training run's, a search's) ends in numpy's RandomState somewhere
# (Optuna's samplers, the trainer's numpy reseeding), which takes 0 .. 2**32 - 1; torch and
# random take more. One bound on the schema, so no consumer meets a seed it cannot take.
MAX_SEED = 2**32 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description=f"0 .. {MAX_SEED}")]


class DataConfig(BaseModel):
    """Which dataset, where it lives, and how much of it (see :func:`bnas.data.load_splits`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="dataset name (bnas.data.DATASET_NAMES)")
    root: str | None = Field(None, description="folder holding the dataset files")
    subset: int | None = Field(None, gt=0, description="training images kept per class")
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="held out of train for val")
    img_size: int | None = Field(None, gt=0, description="side of the images the model sees")
    augment: bool = True


class TrainConfig(BaseModel):
    """One training run: data, optimisation, the two-step recipe and distillation."""

    model_config = ConfigDict(extra="forbid")

    data: DataConfig
    epochs: int = Field(30, gt=0)
    batch_size: int = Field(128, gt=0)
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(2e-3, gt=0.0)
    weight_decay: float = Field(
        1e-4, ge=0.0, description="on real-valued kernels/matrices only (module docstring)"
    )
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD only")
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0.0)
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    grad_clip: float | None = Field(5.0, gt=0.0, description="max gradient norm; None: off")
    two_step: bool = Field(
        False,
        description="first half of the epochs with real weights and binary activations, "
        "second half fully binary (Martinez et al. 2020, ReActNet)",
    )
    teacher: str | None = Field(
        None,
        description="a trained bnas model folder (arch.yaml + model.safetensors) or "
        "'timm:<name>'",
    )
    teacher_checkpoint: str | None = Field(
        None, description="safetensors weights for a 'timm:<name>' teacher"
    )
    kd_weight: float = Field(1.0, ge=0.0, description="loss = CE + kd_weight · T² · KL")
    kd_temperature: float = Field(4.0, gt=0.0)
    seed: Seed = 0
    threads: int | None = Field(
        None, gt=0, description="torch CPU threads; None: every core this process may use"
    )
    eval_test: bool = Field(False, description="also evaluate the final model on the test split")
    device: str = Field("auto", description="'auto' (cuda when available), 'cpu', 'cuda', ...")

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

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_text_atomic(path, self.to_yaml())
