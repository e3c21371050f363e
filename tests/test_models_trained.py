"""dlc.models.trained: the shared trained MNIST convnet of the chapter-8 labs."""

import pytest
import torch

from dlc.errors import InvalidArgument
from dlc.models.trained import train_mnist_convnet
from tests.conftest import requires_mnist


@requires_mnist
def test_it_learns_and_keeps_the_normalisation():
    # without a run context the global generator draws the weights and batches: seed it
    # (300 images for 2 epochs left the error near half the untrained one, seed-dependent)
    torch.manual_seed(0)
    net = train_mnist_convnet(None, train_size=500, test_size=100, epochs=3, batch_size=20)
    assert net.test_error < 0.5 * net.untrained_test_error
    assert len(net.history) == 3 and not net.model.training
    assert abs(float(net.train_input.mean())) < 1e-4
    assert float(net.to_pixels(net.test_input).min()) == pytest.approx(0, abs=1e-5)
    assert net.black == pytest.approx(float(net.train_input.min()), abs=1e-5)


def test_bad_arguments_are_refused():
    with pytest.raises(InvalidArgument, match="epochs"):
        train_mnist_convnet(None, train_size=10, test_size=10, epochs=-1)
    with pytest.raises(InvalidArgument, match="lr"):
        train_mnist_convnet(None, train_size=10, test_size=10, epochs=1, lr=0)
