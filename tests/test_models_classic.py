"""The classic networks of EE-559 7.2 in their small forms: shapes, sizes, initialisation, errors."""

import math

import pytest
import torch
from torch import nn

from dlc.errors import InvalidArgument
from dlc.models.classic import LeNet5, Residual, ResNet9, SmallAlexNet, SmallVGG, he_init, parameter_count


def test_lenet5_is_lenet5():
    net = LeNet5()
    # conv 1->6 k5 (156), conv 6->16 k5 (2,416), fc 256->120 (30,840), 120->84 (10,164), 84->10 (850)
    assert parameter_count(net) == 156 + 2_416 + 30_840 + 10_164 + 850 == 44_426
    assert net.features(torch.zeros(2, 1, 28, 28)).shape == (2, 16, 4, 4)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(InvalidArgument, match="28 x 28"):
        net(torch.zeros(1, 1, 32, 32))


def test_small_alexnet_shapes_and_he_init():
    net = SmallAlexNet(width=16)
    assert net.features(torch.zeros(2, 3, 32, 32)).shape == (2, 32, 3, 3)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 5, 3, 3, 3]
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 2
    big = nn.Linear(4000, 1000)
    he_init(big)
    assert big.weight.std().item() == pytest.approx(math.sqrt(2 / 4000), rel=0.02)
    assert torch.count_nonzero(big.bias) == 0
    with pytest.raises(InvalidArgument, match="width"):
        SmallAlexNet(width=0)


def test_small_vgg_uses_only_3x3_convolutions_with_batch_norm():
    net = SmallVGG(widths=(8, 16), convs=2, image_size=16)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 4
    assert net(torch.zeros(3, 3, 16, 16)).shape == (3, 10)
    with pytest.raises(InvalidArgument, match="divisible"):
        SmallVGG(widths=(8, 16, 32), image_size=12)


def test_residual_adds_its_input():
    f = nn.Linear(3, 3)
    x = torch.randn(2, 3)
    assert torch.allclose(Residual(f)(x), x + f(x))


def test_resnet9_shapes_and_size():
    net = ResNet9(widths=(4, 8, 16, 32))
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert sum(isinstance(m, Residual) for m in net.modules()) == 2
    full = ResNet9()
    assert 1_000_000 < parameter_count(full) < 1_800_000  # about a quarter of the benchmark's 6.5 M
    with pytest.raises(InvalidArgument, match="four"):
        ResNet9(widths=(8, 16, 32))


def test_resnet9_gradients_reach_the_first_layer():
    net = ResNet9(widths=(4, 8, 16, 32))
    net(torch.randn(4, 3, 16, 16)).sum().backward()
    assert net.prep[0].weight.grad.abs().sum() > 0
