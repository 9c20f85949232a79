"""Checkpoints without pickle: tensors in safetensors files, everything else in JSON.

A checkpoint folder holds::

    model.safetensors       the model's state_dict (weights and BN statistics)
    optimizer.safetensors   optimizer tensors, keyed ``state.<param index>.<name>``
    trainer_state.json      epoch, optimizer scalars and param groups, metrics history, best
                            val top-1, the RNG scheme, the architecture and the config

RNG state needs no file: every epoch reseeds torch, ``random`` and the data order from
(seed, epoch) (see :func:`epoch_seed`), so the next epoch's randomness is known from the
epoch number alone. The learning rate is a pure function of the global step, so there is no
scheduler state either.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn

from bnas.architecture import Architecture
from bnas.errors import BnasError
from bnas.files import BEST_MODEL_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE
from bnas.reading import read_json
from bnas.run_record import read_trainer_state
from bnas.train_config import TrainConfig
from bnas.writing import write_bytes_atomic, write_text_atomic

FORMAT_VERSION = 1
# Config fields that may change between a run and its resumption: they change how fast it
# runs or what is measured at the end, not what it trains.
RESUMABLE_CHANGES = ("threads", "eval_test", "device")


def epoch_seed(seed: int, epoch: int | str) -> int:
    """A 63-bit seed mixed from (seed, epoch): runs with nearby seeds share no epoch seeds."""
    digest = hashlib.sha256(f"bnas:{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path) -> Path:
    """Tensors as a safetensors file, written atomically (:func:`bnas.writing.write_bytes_atomic`).

    Serialized in memory and written by Python rather than by safetensors' ``save_file``:
    a full disk is then an ``OSError`` naming the file, not a serializer error.
    """
    return write_bytes_atomic(path, save(tensors))


def save_model(model: nn.Module, path: str | Path) -> Path:
    """``model.state_dict()`` as safetensors (contiguous copies, so shared storage is fine)."""
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    return save_tensors(tensors, path)


def _optimizer_to_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    """Split ``optimizer.state_dict()`` into safetensors tensors and JSON-able rest."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state_dict["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _optimizer_from_files(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for index, entries in meta["scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}


def write_checkpoint(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any],
    best_weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write a checkpoint atomically: into ``folder.tmp``, then renamed over ``folder``.

    ``best_weights`` (the state_dict of the best epoch so far) go in beside the latest ones as
    ``best_model.safetensors``: a search trial's checkpoint then carries what export ships.

    A run killed mid-write leaves the previous checkpoint in place (as ``folder`` or, for
    the instant between the two renames, ``folder.old``; :func:`find_checkpoint` takes both).
    """
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        save_model(model, tmp / MODEL_FILE)
        if best_weights is not None:
            save_tensors(best_weights, tmp / BEST_MODEL_FILE)
        tensors, meta = _optimizer_to_files(optimizer)
        save_tensors(tensors, tmp / OPTIMIZER_FILE)
        payload = {"format": FORMAT_VERSION, **state, "optimizer": meta}
        write_text_atomic(tmp / STATE_FILE, json.dumps(payload, indent=1))
    except BaseException:  # e.g. a full disk: no half-written checkpoint stays behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def find_checkpoint(folder: str | Path) -> Path | None:
    """``folder`` if it holds a complete checkpoint, else its ``.old`` twin, else None."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / STATE_FILE).is_file() and (candidate / MODEL_FILE).is_file():
            return candidate
    return None


def read_checkpoint_state(folder: str | Path, *, what: str = "resume") -> dict[str, Any]:
    """The JSON part of a checkpoint (validated enough to resume from); problems are one-line
    BnasErrors that start with ``what``."""
    folder = Path(folder)
    found = find_checkpoint(folder)
    if found is None:
        raise BnasError(
            f"{what}: {folder} is not a bnas checkpoint (expected {STATE_FILE} and {MODEL_FILE})"
        )
    try:
        state = read_trainer_state(found / STATE_FILE)
    except BnasError as error:
        raise BnasError(f"{what}: {error}") from None
    if state.get("format") != FORMAT_VERSION:
        raise BnasError(
            f"{what}: {found / STATE_FILE} has format {state.get('format')!r}, "
            f"this bnas reads {FORMAT_VERSION}"
        )
    state["folder"] = str(found)
    return state


def load_optimizer_state(optimizer: torch.optim.Optimizer, folder: str | Path) -> None:
    """Restore optimizer tensors and scalars saved by :func:`write_checkpoint`."""
    folder = Path(folder)
    meta = read_json(folder / STATE_FILE, "trainer state")["optimizer"]
    tensors = load_file(str(folder / OPTIMIZER_FILE))
    optimizer.load_state_dict(_optimizer_from_files(tensors, meta))


def check_resumable(state: dict[str, Any], arch: Architecture, config: TrainConfig) -> None:
    """A BnasError unless the checkpoint ``state`` was trained with ``arch`` and ``config``
    (up to :data:`RESUMABLE_CHANGES`), naming the first setting that differs."""
    where = state["folder"]
    if state.get("arch") != arch.to_dict():
        raise BnasError(
            f"resume: checkpoint {where} was trained with architecture "
            f"{Architecture.from_dict(state['arch']).summary()}, not {arch.summary()}"
        )
    old = _flatten(state.get("config", {}))
    new = _flatten(config.to_dict())
    for key in sorted(set(old) | set(new)):
        if key.split(".")[0] in RESUMABLE_CHANGES:
            continue
        if old.get(key) != new.get(key):
            raise BnasError(
                f"resume: checkpoint {where} was trained with {key}={old.get(key)!r}, "
                f"this run asks for {key}={new.get(key)!r}"
            )


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"data": {"name": x}}`` → ``{"data.name": x}``."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
