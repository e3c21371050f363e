import pytest
import torch
from torch import nn

from dlc.errors import UsageError
from dlc.labs import modules as mod
from dlc.labs import run_lab
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_custom_module_trains(runs_dir):
    result = run_tiny("modules", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["test_n"] == 100
    assert m["last_train_loss"] < 0.5 * m["first_train_loss"]
    assert m["test_accuracy"] > 0.5  # chance is 0.1
    assert m["batch_vs_samples_max_diff"] < 1e-12
    assert m["linear_vs_nn_linear"] < 1e-12
    assert m["list_parameters"] == 0 and m["modulelist_parameters"] == 784 * 100 + 100 + 100 * 10 + 10
    assert (result.run_dir / "curves.png").is_file()


def test_parameters_are_registered_and_trained():
    net = mod.Net()
    names = [n for n, _ in net.named_parameters()]
    assert {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "conv1.weight"} <= set(names)
    assert mod.count_parameters(net) == 32 * 25 + 32 + 64 * 32 * 25 + 64 + 256 * 200 + 200 + 200 * 10 + 10
    x = torch.randn(4, 1, 28, 28)
    net(x).sum().backward()
    assert net.fc1.weight.grad is not None and net.fc1.weight.grad.abs().sum() > 0


def test_batch_equals_one_by_one_in_float64():
    torch.manual_seed(0)
    net = mod.Net().double()
    assert mod.batch_difference(net, torch.randn(16, 1, 28, 28, dtype=torch.float64)) < 1e-12


def test_mylinear_is_nn_linear():
    mine, ref = mod.MyLinear(6, 3).double(), nn.Linear(6, 3).double()
    ref.load_state_dict(mine.state_dict())
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    a, b = mine(x), ref(x)
    assert torch.allclose(a, b, atol=1e-14)
    ga = torch.autograd.grad(a.sum(), (x, mine.weight))
    gb = torch.autograd.grad(b.sum(), (x, ref.weight))
    assert all(torch.allclose(p, q, atol=1e-14) for p, q in zip(ga, gb))
    # the default initialisation has nn.Linear's range
    w = mod.MyLinear(400, 100).weight
    assert w.abs().max() <= 1 / 20 and w.std().item() > 0.8 / (20 * 3**0.5)


# Every count option at 0 is refused before the run, with the minimum it needs.
ZERO_COUNTS = [
    ("epochs", 1),
    ("hidden", 1),
    ("batch_size", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("modules", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
