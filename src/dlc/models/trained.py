"""A trained MNIST convnet for the labs that look inside one (EE-559 chapter 8).

The labs of "under the hood" (parameters, activations, saliency, optimizing inputs) all
need a network that has learned something. :func:`train_mnist_convnet` trains the first
lecture's :class:`~dlc.models.convnets.LectureConvNet` with the engine's ``fit`` in a few
seconds (SGD, lr 0.1, shuffled batches of 100) and returns it with its data, normalised
as the lecture does, the normalisation itself (to go back to pixel values), and the test
error before and after training, measured in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from dlc import prologue
from dlc.engine import Supervised, evaluate, fit
from dlc.errors import InvalidArgument
from dlc.models.convnets import LectureConvNet


@dataclass
class TrainedNet:
    """A trained network and what a lab needs around it.

    Inputs are normalised: ``x = (pixels - mean) / std`` with pixels in 0..1 (MNIST's
    0..255 divided by 255), so a black pixel is ``(0 - mean) / std`` (:attr:`black`).
    """

    model: nn.Module
    train_input: torch.Tensor  # N x 1 x 28 x 28, normalised
    train_target: torch.Tensor
    test_input: torch.Tensor
    test_target: torch.Tensor
    mean: float  # of the training pixels, in 0..1
    std: float
    test_error: float  # after training
    untrained_test_error: float  # the same network before training
    history: list[dict] = field(default_factory=list)

    @property
    def black(self) -> float:
        """A black (background) pixel, normalised."""
        return (0.0 - self.mean) / self.std

    @property
    def white(self) -> float:
        return (1.0 - self.mean) / self.std

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised inputs back to pixel values in 0..1."""
        return x * self.std + self.mean

    def from_pixels(self, p: torch.Tensor) -> torch.Tensor:
        return (p - self.mean) / self.std


def train_mnist_convnet(
    ctx,
    *,
    train_size: int | None,
    test_size: int | None,
    epochs: int,
    lr: float = 0.1,
    batch_size: int = 100,
    model: nn.Module | None = None,
    name: str | None = None,
) -> TrainedNet:
    """Train ``model`` (default: a new LectureConvNet) on MNIST with SGD and cross-entropy.

    ``epochs`` 0 trains nothing (the untrained network is returned, its test error
    measured). ``name``: the fit's name in the run folder (checkpoints, curves).
    """
    if epochs < 0:
        raise InvalidArgument(f"epochs must be >= 0, got {epochs}")
    if not lr > 0:
        raise InvalidArgument(f"lr must be > 0, got {lr}")
    device = ctx.device if ctx is not None else torch.device("cpu")
    data_dir = ctx.data_dir if ctx is not None else None
    x, y, xt, yt = prologue.load(
        train_size=train_size, test_size=test_size, flatten=False, data_dir=data_dir, device=device
    )
    x, xt = x / 255, xt / 255
    mean, std = float(x.mean()), float(x.std())
    x, xt = (x - mean) / std, (xt - mean) / std

    model = model if model is not None else LectureConvNet()
    model.to(device)
    step = Supervised(model, torch.optim.SGD(model.parameters(), lr=lr), loss="cross_entropy", metric="error")
    untrained = evaluate(step, (xt, yt), ctx)["error"]
    history = []
    if epochs:
        history = fit(step, (x, y), ctx, epochs=epochs, batch_size=batch_size, val=(xt, yt), val_name="test", name=name)
    test = evaluate(step, (xt, yt), ctx)["error"]
    model.eval()
    return TrainedNet(model, x, y, xt, yt, mean, std, test, untrained, history)
