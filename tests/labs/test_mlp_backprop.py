"""mlp-backprop: hand-written backward passes equal autograd's, and the MLP learns MNIST."""

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import mlp_backprop as lab
from dlc.labs import run_lab
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_tiny_run_learns(runs_dir):
    result = run_tiny("mlp-backprop", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["n_train"] == 500 and m["n_test"] == 100
    assert m["untrained_test_error"] > 0.7  # before the first step: near chance
    assert m["gradient_check_rel_error"] <= 1e-10
    assert m["first_test_error"] > 0.7  # N(0, 1e-6) weights start at chance (90%)
    assert m["test_error"] < 0.25  # the stated threshold at --tiny
    assert m["train_error"] < 0.05
    assert m["final_loss"] < 0.1 * m["first_loss"]
    steps = (result.run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(steps) == m["steps"]  # train and test error logged every step


def test_backward_pass_equals_autograd_in_float64():
    for seed in range(3):
        assert lab.gradient_check(seed=seed) <= 1e-10


def test_backward_pass_accumulates_and_matches_a_per_sample_loop():
    g = torch.Generator().manual_seed(0)
    params = [torch.randn(*s, dtype=torch.float64, generator=g) * 0.3 for s in ((4, 6), (4,), (3, 4), (3,))]
    x = torch.randn(5, 6, dtype=torch.float64, generator=g)
    t = torch.randn(5, 3, dtype=torch.float64, generator=g)
    batch = [torch.zeros_like(p) for p in params]
    lab.backward_pass(*params, t, *lab.forward_pass(*params, x), *batch)
    looped = [torch.zeros_like(p) for p in params]
    for i in range(5):  # the practical's way: one sample at a time, gradients summed
        lab.backward_pass(*params, t[i : i + 1], *lab.forward_pass(*params, x[i : i + 1]), *looped)
    for a, b in zip(batch, looped):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_the_practicals_functions():
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    assert torch.allclose(lab.dsigma(x), 4 / (x.exp() + (-x).exp()) ** 2)
    v, t = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.0])
    assert lab.loss(v, t).item() == 0.25 + 4.0
    assert torch.equal(lab.dloss(v, t), torch.tensor([1.0, 4.0]))
    w1, b1, w2, b2 = lab.init_params(784, 50, 10, 1e-6)
    assert w1.shape == (50, 784) and w2.shape == (10, 50)
    assert 0.5e-6 < w1.std() < 1.5e-6


# Every count option at 0 is refused before the run, with the minimum it needs.
ZERO_COUNTS = [
    ("steps", 1),
    ("hidden", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("mlp-backprop", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
