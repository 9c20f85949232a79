"""DataLoaders sized for a small CPU machine, with reproducible order."""

from __future__ import annotations

import os

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from bnas.data._base import FileImageDataset
from bnas.errors import BnasError


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(dataset: Dataset) -> int:
    """0 for in-memory data: a worker process costs more than slicing a tensor.

    Decoding image files is worth one or two workers, at most half the cores, since training
    (and a parallel trial) needs the rest.
    """
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    if isinstance(dataset, FileImageDataset):
        return max(1, min(2, _cpus() // 2))
    return 0


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int | None = None,
    drop_last: bool = False,
    shard: tuple[int, int] | None = None,
) -> DataLoader:
    """A DataLoader whose order (and worker seeds) follow ``seed`` alone.

    The seeded generator drives the shuffling and the per-worker seeds; augmentation in the
    main process (``num_workers=0``) draws from torch's global generator, which the caller
    seeds with ``torch.manual_seed``.

    ``shard=(rank, world_size)`` gives data-parallel process ``rank`` its share of the data:
    torch's ``DistributedSampler`` permutes all indices by ``seed`` (the same permutation in
    every process) and takes every ``world_size``-th from position ``rank``, padding with the
    first indices so every process gets ⌈N / world_size⌉ and all run the same number of steps.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise BnasError(f"batch_size must be a positive integer, got {batch_size!r}")
    if num_workers is None:
        num_workers = default_workers(dataset)
    elif num_workers < 0:
        raise BnasError(f"num_workers must be >= 0, got {num_workers!r}")
    sampler = None
    if shard is not None:
        rank, world_size = shard
        sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank,
                                     shuffle=shuffle, seed=seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(),
        drop_last=drop_last,
        generator=torch.Generator().manual_seed(seed),
    )
