"""rectifiers at --tiny: the sigmoid net's first layer gets orders of magnitude less
gradient than its last, the ReLU net's does not, and ReLU trains where sigmoid stalls."""

import math

import pytest

from dlc.labs.rectifiers import make_net, parse_activations
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_rectifiers_at_tiny(runs_dir):
    result = run_tiny("rectifiers", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["activations"] == ["sigmoid", "tanh", "relu", "leaky_relu", "elu"]
    assert m["steps"] == 100  # 500 images, batches of 100, 20 epochs
    for a in m["activations"]:
        assert len(m["gradient_norms"][a]) == 11  # 10 hidden layers + the output layer
        assert len(m["loss_curves"][a]) == 21  # the start, then every epoch
    # sigmoid: the gradient shrinks layer after layer on the way down
    g = m["gradient_norms"]["sigmoid"]
    assert all(a < b for a, b in zip(g[1:], g[2:]))
    assert m["sigmoid_gradient_ratio"] < 1e-3 < m["relu_gradient_ratio"]
    # the sigmoid net stays near chance (ln 10), the ReLU one learns
    assert abs(m["sigmoid_train_loss"] - math.log(10)) < 0.2
    assert m["relu_train_loss"] < m["relu_start_loss"] - 0.5
    for name in ("gradient_norms.png", "training_loss.png"):
        assert (result.run_dir / name).is_file()


@requires_mnist
def test_zero_epochs_measures_the_gradients_only(runs_dir):
    result = run_tiny("rectifiers", runs_dir, force_cpu=True, epochs=0, activations="sigmoid,relu")
    assert_checks(result)
    assert [v.name for v in result.verdicts] == [
        "sigmoid: first layer's gradient norm / last layer's",
        "ReLU's first/last gradient ratio, over 100x sigmoid's",
    ]
    assert result.line.endswith("(--epochs 0: nothing trained)")
    assert not (result.run_dir / "training_loss.png").exists()


def test_nets_differ_only_by_the_activation():
    nets = {a: make_net(a, 3, 8) for a in ("sigmoid", "relu")}
    shapes = {a: [tuple(p.shape) for p in n.parameters()] for a, n in nets.items()}
    assert shapes["sigmoid"] == shapes["relu"] == [(8, 784), (8,), (8, 8), (8,), (8, 8), (8,), (10, 8), (10,)]
    biases = [p.detach() for name, p in nets["relu"].named_parameters() if name.endswith("bias")]
    assert all(float(b.abs().sum()) == 0 for b in biases)


def test_bad_activation_lists_are_refused():
    from dlc.errors import UsageError

    assert parse_activations("relu,elu") == ["relu", "elu"]
    with pytest.raises(UsageError, match="activations"):
        parse_activations("relu,swish")
    with pytest.raises(UsageError, match="twice"):
        parse_activations("relu,relu")
