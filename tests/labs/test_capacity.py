import pytest
import torch

from dlc import stats
from dlc.errors import UsageError
from dlc.labs import capacity as C
from dlc.labs import run_lab
from tests.labs.helpers import assert_checks, run_tiny


def test_train_error_falls_and_test_error_is_u_shaped(runs_dir):
    result = run_tiny("capacity", runs_dir)
    assert_checks(result)
    m = result.metrics
    train, test = m["train_mse"], m["test_mse"]
    assert all(b <= a * (1 + 1e-9) for a, b in zip(train, train[1:]))
    best = m["best_degree"]
    assert 0 < best < len(test) - 1
    assert test[0] > 2 * test[best] and test[-1] > 2 * test[best]
    # falling to the minimum, rising after it (the U), as averaged over the training sets
    assert test[best - 1] > test[best] < test[best + 1]
    assert train[-1] < test[-1]  # over-fitting: the gap between train and test
    assert m["train_falls"] and m["test_u_shaped"]


def test_fit_polynomial_recovers_a_polynomial_exactly():
    x = torch.linspace(-1, 1, 30, dtype=torch.float64)
    y = 1 - 2 * x + 0.5 * x**3
    alpha = stats.fit_polynomial(4, x, y)
    assert torch.allclose(alpha, torch.tensor([1, -2, 0, 0.5, 0], dtype=torch.float64), atol=1e-9)
    assert torch.allclose(stats.polynomial(alpha, x), y, atol=1e-9)
    # a batch of training sets, and each polynomial at its own points
    xs, ys = torch.stack([x, x.flip(0)]), torch.stack([y, 2 * y.flip(0)])
    alphas = stats.fit_polynomial(4, xs, ys)
    assert torch.allclose(alphas[1], 2 * alpha, atol=1e-9)
    assert torch.allclose(stats.polynomial(alphas, xs), ys, atol=1e-9)


def test_bias_variance_decomposition_adds_up():
    """noise^2 + bias^2 + variance predicts the test error of a low degree (no outliers)."""
    cfg = C.Config(repeats=400, n_test=5000, max_degree=3)
    s = C.degree_sweep(cfg, torch.Generator().manual_seed(1))
    for d in range(4):
        predicted = cfg.noise**2 + s["bias2"][d] + s["variance"][d]
        assert abs(predicted - s["test"][d]) < 0.1 * s["test"][d]


def test_u_shape_detector():
    assert C.is_u_shaped([3, 2, 1, 2, 4])
    assert not C.is_u_shaped([3, 2, 1, 0.9])
    assert not C.is_u_shaped([1, 1.1, 1.2])


def test_too_high_degree_is_refused(runs_dir):

    with pytest.raises(UsageError, match="n_train"):
        run_lab("capacity", size="tiny", runs_dir=runs_dir, quiet=True, max_degree=19, n_train=20)


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("max_degree", 2),
    ("n_train", 12),
    ("repeats", 2),
    ("n_test", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("capacity", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
