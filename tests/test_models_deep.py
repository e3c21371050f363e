"""dlc.models.deep: the deep MLP builder, per-layer gradient norms, piece counting."""

import pytest
import torch
from torch import nn

from dlc.errors import DlcError
from dlc.models.deep import activation_patterns, count_pieces, deep_mlp, gradient_norms, linear_layers, parameter_count


def test_deep_mlp_layers():
    net = deep_mlp(3, 5, 4, 2)
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU"] * 4 + ["Linear"]
    assert parameter_count(net) == (3 * 5 + 5) + 3 * (5 * 5 + 5) + (5 * 2 + 2)
    assert net(torch.zeros(7, 3)).shape == (7, 2)
    bn = deep_mlp(3, 5, 2, 2, activation="elu", batchnorm=True, dropout=0.5)
    assert [type(m).__name__ for m in bn] == ["Linear", "BatchNorm1d", "ELU", "Dropout"] * 2 + ["Linear"]
    assert len(linear_layers(bn)) == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"depth": 0}, "depth"),
        ({"width": 2.5}, "width"),
        ({"activation": "swish"}, "unknown activation"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_deep_mlp_refuses_bad_arguments(kwargs, match):
    args = {"n_in": 2, "width": 4, "depth": 2, "n_out": 1, **kwargs}
    with pytest.raises(DlcError, match=match):
        deep_mlp(**args)


def test_gradient_norms_match_autograd():
    torch.manual_seed(0)
    net = deep_mlp(4, 6, 3, 2, activation="tanh").double()
    assert gradient_norms(net) == [0.0] * 4
    x = torch.randn(10, 4, dtype=torch.float64)
    net(x).pow(2).sum().backward()
    expected = [
        torch.linalg.vector_norm(g).item()
        for g in torch.autograd.grad(net(x).pow(2).sum(), [m.weight for m in linear_layers(net)])
    ]
    assert gradient_norms(net) == pytest.approx(expected, rel=1e-12)


def test_count_pieces_of_known_functions():
    x = torch.linspace(-1, 1, 1001, dtype=torch.float64).unsqueeze(1)
    # |x| = relu(x) + relu(-x): two pieces, one kink at 0
    net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.tensor([[1.0, 1.0]]))
    assert count_pieces(net, x) == 2
    assert activation_patterns(net, x).shape == (1001, 2)
    # kinks at -0.5, 0.25, 0.75 (three units): four pieces
    net3 = nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 1)).double()
    with torch.no_grad():
        net3[0].weight.fill_(1.0)
        net3[0].bias.copy_(torch.tensor([0.5, -0.25, -0.75]))
    assert count_pieces(net3, x) == 4


def test_count_pieces_refuses_what_it_cannot_count():
    net = nn.Sequential(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 1))
    with pytest.raises(DlcError, match="Linear and ReLU"):
        count_pieces(net, torch.linspace(0, 1, 5).unsqueeze(1))
    relu = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1))
    with pytest.raises(DlcError, match="shape"):
        count_pieces(relu, torch.zeros(5))
    with pytest.raises(DlcError, match="increasing"):
        count_pieces(relu, torch.tensor([[0.0], [0.0]]))
