import json
import math

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import gradient_descent as gd
from dlc.labs import run_lab
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_lab_records_curves_and_large_lr_diverges(runs_dir):
    result = run_tiny("gradient-descent", runs_dir)
    assert_checks(result)
    m = result.metrics
    # every variant's loss curve is recorded, in the metrics file and the figure
    records = [json.loads(l) for l in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    variants = {r["variant"] for r in records if "variant" in r}
    assert len(variants) == 3
    for v in variants:
        assert m[f"{v}_points"] >= 10 and m[f"{v}_final_loss"] < m[f"{v}_first_loss"]
    assert (result.run_dir / "variants.png").is_file() and (result.run_dir / "learning_rates.png").is_file()
    # the good step (half the critical one) brings the loss below a quarter of its start
    assert m["sweep_0.5_loss_ratio"] < 0.25
    # the too-small step barely moves it; the too-large one makes it explode
    assert m["sweep_0.01_loss_ratio"] > 0.5
    r = m["sweep_1.5_loss_ratio"]
    assert not math.isfinite(r) or r > 100
    # per epoch, more (noisier) updates make more progress than one full-gradient step
    assert m["SGD (1 sample)_final_loss"] < m["batch GD_final_loss"]
    assert m["mini-batch (100)_final_loss"] < m["batch GD_final_loss"]


def test_hand_gradient_equals_autograd():
    torch.manual_seed(0)
    x, t = torch.randn(20, 6, dtype=torch.float64), torch.randn(20, 3, dtype=torch.float64)
    model = gd.Linear(6, 3)
    model.w, model.b = torch.randn(3, 6, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    gw, gb = model.gradient(x, t)
    w, b = model.w.clone().requires_grad_(), model.b.clone().requires_grad_()
    (x @ w.t() + b - t).pow(2).sum(1).mean().backward()
    assert torch.allclose(gw, w.grad, atol=1e-12) and torch.allclose(gb, b.grad, atol=1e-12)


def test_critical_step_separates_convergence_from_divergence():
    torch.manual_seed(1)
    x = torch.randn(200, 5) * torch.tensor([5.0, 1.0, 1.0, 0.5, 0.2])
    t = torch.randn(200, 2)
    _, lr_max = gd.critical_lr(x)
    g = torch.Generator().manual_seed(0)
    _, below, _ = gd.descend(x, t, 0.95 * lr_max, len(x), 300, g)
    _, above, _ = gd.descend(x, t, 1.05 * lr_max, len(x), 300, g)
    assert below[-1] < below[0]
    assert not math.isfinite(above[-1]) or above[-1] > 10 * above[0]


def test_bad_lr_factors_are_refused():
    for bad in ("0.1,big", "0.1,-2", ""):
        with pytest.raises(UsageError, match="lr_factors"):
            gd.Config(lr_factors=bad)
    assert gd.Config(lr_factors="0.1, 2").lr_factors == "0.1, 2"


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("epochs", 1),
    ("batch_size", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("gradient-descent", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
