import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import perceptron as P
from dlc.labs import run_lab
from tests.labs.helpers import assert_checks, run_tiny


def test_converges_on_separable_data_and_fails_on_xor(runs_dir):
    result = run_tiny("perceptron", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["separable_converged"] and m["separable_error"] == 0.0
    assert m["separable_epochs"] < 50
    assert m["separable_updates"] <= m["novikoff_bound"]
    assert m["xor_min_error"] >= 0.25 and m["xor_final_error"] >= 0.25


def test_the_four_xor_points_cannot_be_fitted():
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=torch.float64)
    w, b, hist = P.train_perceptron(x, y, 200)
    assert len(hist) == 200 and all(h["updates"] > 0 for h in hist)
    assert min(h["error"] for h in hist) >= 0.25


def test_rule_on_and_gate_converges():
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([-1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    w, b, hist = P.train_perceptron(x, y, 100)
    assert hist[-1]["updates"] == 0 and P.error_rate(w, b, x, y) == 0.0


def test_separable_set_has_its_margin():
    x, y, w, b = P.separable_set(500, 0.05, torch.Generator().manual_seed(0))
    assert len(x) == 500 and ((x @ w + b).abs() >= 0.05).all()
    assert torch.equal(torch.sign(x @ w + b), y)


# Every count option at 0 is refused before the run, with the minimum it needs.
ZERO_COUNTS = [
    ("max_epochs", 1),
    ("n", 4),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("perceptron", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
