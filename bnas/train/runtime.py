"""Where and how torch runs: the device, CPU threads, deterministic kernels and seeding.

A run is a function of its seed only on a fixed thread count with deterministic kernels: the
thread count changes the order of float sums, and some CPU kernels pick their algorithm at
run time. :func:`torch_runtime` sets both for the length of a run (or an evaluation that must
reproduce one) and restores the process's settings afterwards, so a library caller's torch is
left as it was.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from bnas.errors import BnasError


def available_cpus() -> int:
    """The cores this process may run on (its affinity mask, e.g. a container's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``; a bad one is a BnasError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BnasError(f"device: unknown device {name!r} (use auto, cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BnasError(f"device: {name!r} asked for but CUDA is not available here")
    return device


def seed_everything(seed: int) -> None:
    """Seed torch, ``random`` and numpy's global generators (numpy's takes 32 bits)."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


@contextmanager
def torch_runtime(threads: int | None, device: torch.device) -> Iterator[None]:
    """``threads`` CPU threads (None: :func:`available_cpus`) and, on the CPU, deterministic
    kernels (warn-only where none exists) inside the block; the previous settings after it."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads or available_cpus())
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic, warn_only=previous_warn_only)
