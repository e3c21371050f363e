"""Convolutional networks of the lectures.

:class:`LectureConvNet` is the MNIST network of EE-559 lecture 1.1, layer for layer::

    input            1 x 28 x 28
    conv 5x5, 32  -> 32 x 24 x 24
    max-pool 3    -> 32 x  8 x  8,  ReLU
    conv 5x5, 64  -> 64 x  4 x  4
    max-pool 2    -> 64 x  2 x  2,  ReLU
    flatten       -> 256
    fc 256 -> 200,  ReLU
    fc 200 -> 10    (logits: the cross-entropy loss applies the softmax)
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class LectureConvNet(nn.Module):
    """The first lecture's MNIST convnet (about 105,000 parameters).

    Input ``(N, 1, 28, 28)``, output ``(N, 10)`` class logits.
    """

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5)
        self.fc1 = nn.Linear(256, 200)
        self.fc2 = nn.Linear(200, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), kernel_size=3))
        x = F.relu(F.max_pool2d(self.conv2(x), kernel_size=2))
        x = x.view(-1, 256)
        x = F.relu(self.fc1(x))
        return self.fc2(x)
