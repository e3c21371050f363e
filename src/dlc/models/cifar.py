"""Convolutional networks for small colour images (CIFAR-10's 3 x 32 x 32, or larger).

:class:`T4Net` is the network of the ESCAPE school's tutorial T4: blocks of two 3x3
convolutions with LeakyReLU, each block followed by a 2x2 max-pooling, then a small
fully connected classifier::

    input                     3 x 32 x 32
    conv 3x3 16, conv 3x3 16  -> 16 x 32 x 32,  max-pool 2 -> 16 x 16 x 16
    conv 3x3 32, conv 3x3 32  -> 32 x 16 x 16,  max-pool 2 -> 32 x  8 x  8
    conv 3x3 64, conv 3x3 64  -> 64 x  8 x  8,  max-pool 2 -> 64 x  4 x  4
    flatten -> 1024, fc 1024 -> 128, LeakyReLU, fc 128 -> classes

:class:`ResNet18` is the residual network of He et al. (2016) with 18 weighted
layers, in its usual small-image form (a 3x3 first convolution, no first max-pooling):
four stages of two :class:`BasicBlock` each, widths 64, 128, 256, 512 (``width``
scales them), global average pooling, a linear head named ``fc`` (as in torchvision,
so ``model.fc = nn.Linear(model.fc.in_features, 2)`` replaces the head).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.LeakyReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.LeakyReLU(),
        nn.MaxPool2d(2),
    ]


class T4Net(nn.Module):
    """ESCAPE T4's VGG-like CNN. ``features`` is the convolutional encoder,
    ``classifier`` the fully connected head.

    Input ``(N, in_channels, image_size, image_size)``, output ``(N, classes)`` logits.
    """

    def __init__(
        self,
        classes: int = 10,
        channels: Sequence[int] = (16, 32, 64),
        hidden: int = 128,
        image_size: int = 32,
        in_channels: int = 3,
    ):
        super().__init__()
        if image_size % 2 ** len(channels):
            raise ValueError(f"image_size {image_size} must be divisible by 2**{len(channels)} (one pooling a block)")
        layers, c = [], in_channels
        for width in channels:
            layers += _conv_block(c, width)
            c = width
        self.features = nn.Sequential(*layers)
        side = image_size // 2 ** len(channels)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c * side * side, hidden), nn.LeakyReLU(), nn.Linear(hidden, classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, added to the block's input (the skip
    connection), then ReLU. A block that changes the width or the resolution (stride 2)
    projects its input with a 1x1 convolution so that the two can be added."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for small images. ``width`` is the first stage's number of channels
    (64 in the paper; 16 or 32 train several times faster on a CPU).

    Input ``(N, in_channels, H, W)`` for any H, W >= 8; output ``(N, classes)`` logits.
    ``features(x)`` gives the pooled features the head ``fc`` reads.
    """

    def __init__(self, classes: int = 10, width: int = 64, in_channels: int = 3, blocks: Sequence[int] = (2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, c = [], width
        for i, n in enumerate(blocks):
            c_out = width * 2**i
            stage = [BasicBlock(c, c_out, stride=1 if i == 0 else 2)]
            stage += [BasicBlock(c_out, c_out) for _ in range(n - 1)]
            stages.append(nn.Sequential(*stage))
            c = c_out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(c, classes)

    def features(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))
