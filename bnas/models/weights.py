"""Weights into a built model: one safetensors state_dict, checked key by key and shape by shape.

Every room that loads a trained network (training's resume, distillation's teacher, export,
the supernet, deployment) goes through :func:`load_model_weights`, so a file that does not fit
its architecture reads the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from bnas.errors import BnasError


def load_model_weights(model: nn.Module, path: str | Path, *, what: str = "model") -> None:
    """Load a safetensors state_dict into ``model``; a mismatch is a one-line ``BnasError``."""
    path = Path(path)
    if not path.is_file():
        raise BnasError(f"{what}: no weights file {path}")
    try:
        tensors = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types
        raise BnasError(f"{what}: cannot read {path} ({error})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        first = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        raise BnasError(
            f"{what}: weights in {path} do not fit the architecture "
            f"({len(missing)} missing, {len(unexpected)} unexpected keys; {first})"
        )
    for key, value in tensors.items():
        if value.shape != expected[key].shape:
            raise BnasError(
                f"{what}: weights in {path} do not fit the architecture ({key}: "
                f"{tuple(value.shape)} in the file, {tuple(expected[key].shape)} in the model)"
            )
    device = next((t.device for t in expected.values()), torch.device("cpu"))
    model.load_state_dict({k: v.to(device) for k, v in tensors.items()})
