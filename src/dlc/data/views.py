"""``torch.utils.data.Dataset`` views of the loaded data sets."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset

from dlc.errors import InvalidArgument


class TensorPairs(Dataset):
    """(input, target) pairs from two tensors, with optional per-sample transforms.

    Like ``TensorDataset``, plus ``transform``/``target_transform`` and ``classes``.
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        classes: tuple[str, ...] = (),
    ):
        if len(inputs) != len(targets):
            raise InvalidArgument(f"{len(inputs)} inputs but {len(targets)} targets")
        self.inputs, self.targets = inputs, targets
        self.transform, self.target_transform = transform, target_transform
        self.classes = tuple(classes)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i):
        x, y = self.inputs[i], self.targets[i]
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y


class ImageFiles(Dataset):
    """Photos decoded on access: (uint8 3 x size x size tensor, int64 label), then ``transform``."""

    def __init__(
        self,
        items,
        size: int = 64,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        classes: tuple[str, ...] = (),
    ):
        self.items, self.size = list(items), size
        self.transform, self.target_transform = transform, target_transform
        self.classes = tuple(classes)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        from dlc.data.images import decode

        path, label = self.items[i]
        x, y = decode(path, self.size), torch.tensor(label, dtype=torch.int64)
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y


class Items(Dataset):
    """A list as a Dataset (sentence pairs), with an optional transform."""

    def __init__(self, items, transform: Callable | None = None):
        self.items, self.transform = list(items), transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        return self.transform(item) if self.transform is not None else item
