"""The CIFAR-10 networks: the tutorial's layer sizes, ResNet-18's size, a head that can be replaced."""

import pytest
import torch
from torch import nn

from dlc.engine import Supervised
from dlc.models.cifar import BasicBlock, ResNet18, T4Net


def test_t4net_layers():
    net = T4Net()
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 16, 32, 32, 64, 64]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert any(isinstance(m, nn.LeakyReLU) for m in net.modules())
    assert net.features(torch.zeros(2, 3, 32, 32)).shape == (2, 64, 4, 4)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert T4Net(classes=2, image_size=64)(torch.zeros(1, 3, 64, 64)).shape == (1, 2)
    with pytest.raises(ValueError, match="divisible"):
        T4Net(image_size=36)


def test_resnet18_has_resnet18s_size_and_a_replaceable_head():
    net = ResNet18()
    # 11.17 M parameters in the CIFAR form (the ImageNet form's stem and 1000-way head differ)
    assert sum(p.numel() for p in net.parameters()) == 11_173_962
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8
    small = ResNet18(width=8)
    assert small(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    small.fc = nn.Linear(small.fc.in_features, 2)
    assert small(torch.zeros(2, 3, 48, 48)).shape == (2, 2)


def test_a_block_adds_its_input():
    block = BasicBlock(4, 4).eval()
    for p in block.parameters():
        nn.init.zeros_(p)  # both branches give zero: the output is relu(input)
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(block(x), torch.relu(x))


def test_supervised_augments_training_batches_only():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            seen.append(x.clone())
            return x.flatten(1)[:, :2] + self.w

    step = Supervised(Spy(), None, augment=lambda x: x + 1)
    step.optimizer = torch.optim.SGD(step.model.parameters(), lr=0.1)
    x, y = torch.zeros(3, 1, 2, 1), torch.tensor([0, 1, 0])
    step((x, y))
    step.evaluate((x, y))
    assert torch.equal(seen[0], x + 1) and torch.equal(seen[1], x)
