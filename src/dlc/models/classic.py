"""Classic image-classification networks, in small forms that train on a CPU (EE-559 7.2).

The lecture's history of image classifiers, each reduced to what a laptop trains in
seconds while keeping the idea that made it famous:

- :class:`LeNet5` (LeCun et al., 1998), for 1 x 28 x 28 digits: two 5x5 convolutions
  with max-pooling, then three fully connected layers (120, 84, classes)::

      1 x 28 x 28 -> conv 5 -> 6 x 24 x 24 -> pool 2 -> 6 x 12 x 12
                  -> conv 5 -> 16 x 8 x 8  -> pool 2 -> 16 x 4 x 4 = 256 -> 120 -> 84 -> classes

- :class:`SmallAlexNet` (Krizhevsky et al., 2012): five convolutions, the first ones with
  large kernels, overlapping 3x3 max-pooling with stride 2, ReLU, and a classifier of two
  wide fully connected layers with dropout::

      3 x 32 x 32 -> conv 5 (w) -> pool 3/2 -> 15 x 15 -> conv 5 (2w) -> pool 3/2 -> 7 x 7
                  -> conv 3 (3w) -> conv 3 (3w) -> conv 3 (2w) -> pool 3/2 -> 3 x 3
                  -> dropout, fc 8w -> dropout, fc 8w -> classes

- :class:`SmallVGG` (Simonyan and Zisserman, 2015): only 3x3 convolutions, in stages of
  two, each stage followed by 2x2 max-pooling and doubling the width; batch norm after
  every convolution (the "VGG-BN" variant); a fully connected classifier.

- :class:`ResNet9` (the compact residual network of the fast CIFAR-10 training
  benchmarks, e.g. Page, 2018): conv-bn-relu layers, max-pooling between stages, and two
  residual blocks; the widths ``(32, 64, 128, 256)`` reach 90% test accuracy on CIFAR-10
  in about twenty epochs with flips, crops and a one-cycle schedule::

      prep: conv 3x3 (w0)
      layer 1: conv 3x3 (w1), pool 2 -> 16 x 16, + residual(conv, conv)
      layer 2: conv 3x3 (w2), pool 2 -> 8 x 8
      layer 3: conv 3x3 (w3), pool 2 -> 4 x 4, + residual(conv, conv)
      global max-pool, linear -> classes (times ``scale``)

The ResNet-18 of the lecture is :class:`dlc.models.cifar.ResNet18`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dlc.errors import InvalidArgument


def parameter_count(model: nn.Module) -> int:
    """The number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class LeNet5(nn.Module):
    """LeNet-5 for 1 x 28 x 28 images (MNIST), with ReLU and max-pooling as in the lecture's
    PyTorch version. Input ``(N, 1, 28, 28)``, output ``(N, classes)`` logits."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 4 * 4, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (28, 28):
            raise InvalidArgument(f"LeNet5 takes 28 x 28 images, got {tuple(x.shape[-2:])}")
        return self.classifier(self.features(x))


def he_init(model: nn.Module) -> nn.Module:
    """He (Kaiming) normal initialisation of every convolution and linear layer, zero
    biases: the variance-preserving choice for ReLU networks (lecture 5.5)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class SmallAlexNet(nn.Module):
    """AlexNet's shape for 3 x 32 x 32 images; ``width`` is the first convolution's
    channels (64 in AlexNet; 16 trains in seconds); ``dropout`` before the two hidden
    fully connected layers (0.5 in AlexNet). Without batch norm, its eight layers start
    from He initialisation (:func:`he_init`). Input ``(N, 3, 32, 32)``."""

    def __init__(self, classes: int = 10, width: int = 16, dropout: float = 0.5):
        super().__init__()
        if width < 1:
            raise InvalidArgument(f"width must be >= 1, got {width}")
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),  # 32 -> 15
            nn.Conv2d(w, 2 * w, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),  # 15 -> 7
            nn.Conv2d(2 * w, 3 * w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(3 * w, 3 * w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(3 * w, 2 * w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),  # 7 -> 3
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(2 * w * 3 * 3, 8 * w),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(8 * w, 8 * w),
            nn.ReLU(),
            nn.Linear(8 * w, classes),
        )
        he_init(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 convolution (no bias: batch norm has one), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class SmallVGG(nn.Module):
    """VGG's shape: stages of ``convs`` 3x3 conv-bn-relu at each width of ``widths``,
    each stage followed by 2x2 max-pooling, then fc ``hidden`` -> classes.
    Input ``(N, 3, H, W)`` with H, W divisible by ``2**len(widths)``."""

    def __init__(
        self,
        classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
        convs: int = 2,
        hidden: int = 128,
        image_size: int = 32,
    ):
        super().__init__()
        if not widths or min(widths) < 1 or convs < 1:
            raise InvalidArgument(f"widths must be positive and convs >= 1, got {tuple(widths)} and {convs}")
        if image_size % 2 ** len(widths):
            raise InvalidArgument(f"image_size {image_size} must be divisible by 2**{len(widths)}")
        layers, c = [], 3
        for w in widths:
            for _ in range(convs):
                layers.append(conv_bn(c, w))
                c = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        side = image_size // 2 ** len(widths)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c * side * side, hidden), nn.ReLU(), nn.Linear(hidden, classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class Residual(nn.Module):
    """``x + f(x)`` for a module ``f`` that keeps the shape."""

    def __init__(self, f: nn.Module):
        super().__init__()
        self.f = f

    def forward(self, x: Tensor) -> Tensor:
        return x + self.f(x)


class ResNet9(nn.Module):
    """The compact residual network of fast CIFAR-10 training (see the module's text).
    ``widths``: the four stages' channels; ``scale`` multiplies the logits (0.125 in the
    benchmark's recipe: a cooler softmax at the start). Input ``(N, 3, H, W)``, H, W >= 8."""

    def __init__(self, classes: int = 10, widths: Sequence[int] = (32, 64, 128, 256), scale: float = 0.125):
        super().__init__()
        if len(widths) != 4 or min(widths) < 1:
            raise InvalidArgument(f"widths must be four positive numbers, got {tuple(widths)}")
        w0, w1, w2, w3 = widths
        self.prep = conv_bn(3, w0)
        self.layer1 = nn.Sequential(
            conv_bn(w0, w1), nn.MaxPool2d(2), Residual(nn.Sequential(conv_bn(w1, w1), conv_bn(w1, w1)))
        )
        self.layer2 = nn.Sequential(conv_bn(w1, w2), nn.MaxPool2d(2))
        self.layer3 = nn.Sequential(
            conv_bn(w2, w3), nn.MaxPool2d(2), Residual(nn.Sequential(conv_bn(w3, w3), conv_bn(w3, w3)))
        )
        self.fc = nn.Linear(w3, classes, bias=False)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.fc(torch.amax(x, dim=(2, 3))) * self.scale
