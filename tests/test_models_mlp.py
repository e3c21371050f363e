import pytest
import torch
from torch import nn

from dlc.errors import DlcError
from dlc.models.mlp import MLP


def test_layers_follow_the_sizes_list():
    m = MLP([1, 200, 100, 1], activation="leaky_relu")
    linears = [l for l in m.layers if isinstance(l, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(1, 200), (200, 100), (100, 1)]
    acts = [l for l in m.layers if not isinstance(l, nn.Linear)]
    assert len(acts) == 2 and all(isinstance(a, nn.LeakyReLU) for a in acts)
    # Each hidden layer has its own activation object, not one shared instance.
    assert acts[0] is not acts[1]
    assert m(torch.randn(7, 1)).shape == (7, 1)


def test_no_hidden_layer_is_a_linear_model():
    m = MLP([2, 1], activation="leaky_relu")
    assert len(m.layers) == 1 and isinstance(m.layers[0], nn.Linear)
    x = torch.randn(5, 2)
    w, b = m.layers[0].weight, m.layers[0].bias
    torch.testing.assert_close(m(x), x @ w.T + b)


def test_forward_equals_hand_written_composition_in_float64():
    torch.manual_seed(0)
    m = MLP([3, 4, 2], activation="tanh", output_activation="sigmoid").double()
    x = torch.randn(6, 3, dtype=torch.float64)
    l1, l2 = m.layers[0], m.layers[2]
    expected = torch.sigmoid(torch.tanh(x @ l1.weight.T + l1.bias) @ l2.weight.T + l2.bias)
    torch.testing.assert_close(m(x), expected, rtol=0, atol=1e-12)


def test_activation_can_be_a_module_class_and_bias_can_be_off():
    m = MLP([2, 3, 2], activation=nn.GELU, bias=False)
    assert isinstance(m.layers[1], nn.GELU)
    assert all(l.bias is None for l in m.layers if isinstance(l, nn.Linear))
    # Without biases the network maps 0 to 0 (GELU(0) = 0).
    assert torch.equal(m(torch.zeros(1, 2)), torch.zeros(1, 2))


def test_softmax_output_sums_to_one():
    m = MLP([2, 8, 4], output_activation="softmax")
    p = m(torch.randn(10, 2))
    torch.testing.assert_close(p.sum(1), torch.ones(10))


@pytest.mark.parametrize("sizes", [[3], [], [2, 0, 1], [2, -3, 1], [2, 1.5, 1]])
def test_bad_sizes_are_refused_with_a_clear_error(sizes):
    with pytest.raises(DlcError, match="MLP"):
        MLP(sizes)


def test_unknown_activation_lists_the_choices():
    with pytest.raises(DlcError, match="leaky_relu"):
        MLP([2, 3, 1], activation="swishy")


def test_wrong_input_shape_says_what_was_expected():
    m = MLP([2, 3, 1])
    with pytest.raises(DlcError, match=r"\(N, 2\)"):
        m(torch.randn(4, 3))
