"""Batches for the loop: in-memory tensors sliced by index, or a DataLoader.

The order of an epoch is a function of (the fit's order seed, the epoch number) only,
so resuming needs nothing but the epoch and the batch to continue from, and every
process of a multi-process run draws the same order. Each rank then takes its own
contiguous part of every global batch: with ``batch_size`` B and W processes, rank r
trains on rows ``[r*B/W, (r+1)*B/W)`` of each batch, so the averaged gradient is the
one-process gradient of the whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from dlc.errors import DlcError


def _shard(n: int, rank: int, world: int) -> tuple[int, int]:
    """(start, length) of rank's part of n rows, split as evenly as possible."""
    start = n * rank // world
    return start, n * (rank + 1) // world - start


class TensorBatches:
    """Tensors already in memory (inputs, targets, ... of equal length), cut into batches.

    One process: the tensors go to the device once and a batch is a view (unshuffled) or
    an index (shuffled). Several processes: the tensors stay where they are, and each
    rank moves only its part of each batch to its device.
    """

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        shuffle: bool,
        device: torch.device,
        rank: int = 0,
        world: int = 1,
    ):
        self.n, self.batch_size, self.shuffle = len(tensors[0]), batch_size, shuffle
        self.rank, self.world, self.device = rank, world, device
        self.tensors = tuple(t.to(device) for t in tensors) if world == 1 else tensors
        self.steps = math.ceil(self.n / batch_size)
        if world > 1 and self.n % batch_size and self.n % batch_size < world:
            self.steps -= 1  # a last batch smaller than the world would leave a rank empty

    def epoch(self, seed: int, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        """Batches ``start``, ``start + 1``, ... of epoch ``epoch``, in the epoch's order."""
        order = None
        if self.shuffle:
            g = torch.Generator().manual_seed(seed + epoch)
            order = torch.randperm(self.n, generator=g)
            if self.world == 1:
                order = order.to(self.device)
        bs = self.batch_size
        for b in range(start, self.steps):
            lo, size = b * bs, min(bs, self.n - b * bs)
            if self.world > 1:
                offset, size = _shard(size, self.rank, self.world)
                lo += offset
            if order is None:
                batch = tuple(t.narrow(0, lo, size) for t in self.tensors)
            else:
                idx = order[lo : lo + size]
                batch = tuple(t[idx.to(t.device)] for t in self.tensors)
            if self.world > 1:
                batch = tuple(t.to(self.device, non_blocking=True) for t in batch)
            yield batch


class LoaderBatches:
    """Batches from a DataLoader (one process). A shuffling loader gets its own
    generator, seeded per epoch, so an epoch's order can be drawn again on resume."""

    def __init__(self, loader: torch.utils.data.DataLoader, device: torch.device):
        self.loader, self.device = loader, device
        self.steps = len(loader)
        self.n = len(loader.dataset) if hasattr(loader, "dataset") else None
        sampler = getattr(loader, "sampler", None)
        if isinstance(sampler, torch.utils.data.RandomSampler) and sampler.generator is None:
            sampler.generator = torch.Generator()
        self.generator = getattr(sampler, "generator", None)
        # Making an epoch's iterator draws a seed (for the workers) from loader.generator, or
        # else from the global random state, which a resumed epoch would draw a second time.
        if loader.generator is None:
            loader.generator = torch.Generator()

    def epoch(self, seed: int, epoch: int, start: int = 0) -> Iterator[Any]:
        self.loader.generator.manual_seed(seed + epoch)
        if self.generator is not None:
            self.generator.manual_seed(seed + epoch)
        it = iter(self.loader)
        for _ in range(start):
            next(it)
        for batch in it:
            yield to_device(batch, self.device)


def to_device(batch: Any, device: torch.device) -> Any:
    """A batch (a tensor, or a tuple/list/dict of them) on ``device``."""
    non_blocking = device.type == "cuda"
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def batches(
    data: Any, batch_size: int, shuffle: bool, device: torch.device, rank: int = 0, world: int = 1, what: str = "train"
):
    """The batch source for ``data``: a tuple of tensors of equal length, or a DataLoader."""
    if isinstance(data, torch.utils.data.DataLoader):
        if world > 1:
            raise DlcError(
                f"{what}: a DataLoader cannot be split over {world} processes yet; "
                f"give the data as tensors, or run with one process"
            )
        return LoaderBatches(data, device)
    if isinstance(data, torch.Tensor):
        data = (data,)
    if not (isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data)):
        raise DlcError(
            f"{what} must be a tuple of tensors (e.g. (inputs, targets)) or a DataLoader, not {type(data).__name__}"
        )
    sizes = {len(t) for t in data}
    if len(sizes) != 1:
        raise DlcError(f"{what}: the tensors have different lengths {[len(t) for t in data]}; they must match")
    if not sizes.pop():
        raise DlcError(f"{what} is empty")
    if batch_size < 1:
        raise DlcError(f"batch_size must be >= 1, got {batch_size}")
    return TensorBatches(tuple(data), batch_size, shuffle, device, rank, world)
