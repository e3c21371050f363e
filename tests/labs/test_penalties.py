import pytest
import torch

from dlc.errors import DlcError, UsageError
from dlc.labs import get, make_config, run_lab
from dlc.labs import penalties as pen
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_l1_zeroes_weights_l2_only_shrinks(runs_dir):
    result = run_tiny("penalties", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["n_weights"] == 784 * 10
    n = 784 * 10
    assert m["L1 proximal_zeros"] > 0.15 * n  # L1 (proximal): many weights exactly 0
    assert m["L2_zeros"] == 0  # L2: none
    assert m["none_zeros"] == 0
    assert m["L1 subgradient_zeros"] < 0.01 * n  # the bare subgradient hovers around 0
    assert m["L2_mean_abs"] < m["none_mean_abs"]  # ... but L2 does shrink them
    assert m["L1 proximal_test_error"] < m["none_test_error"] + 0.1
    assert m["weight_decay_max_difference"] < 1e-12
    # sparsity grows with lambda for L1 and never appears for L2
    assert m["sweep_L1 proximal_0.01_zero_fraction"] > m["sweep_L1 proximal_0.001_zero_fraction"]
    assert m["sweep_L2_0.01_zero_fraction"] == 0


def test_soft_threshold_stops_at_zero():
    w = torch.tensor([-3.0, -0.5, 0.0, 0.2, 2.0])
    assert torch.equal(pen.soft_threshold(w, 1.0), torch.tensor([-2.0, 0.0, 0.0, 0.0, 1.0]))


def test_proximal_l1_recovers_a_sparse_regression():
    # y depends on 3 of 20 features: the L1 solution is exactly zero on most of the 17 others
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 20, generator=g)
    true = torch.zeros(20)
    true[:3] = torch.tensor([2.0, -1.5, 1.0])
    y = (x @ true > 0).long()
    init = (torch.zeros(2, 20), torch.zeros(2))
    w, _ = pen.train_linear(x, y, "L1 proximal", 0.1, 0.1, 30, 50, init)
    w2, _ = pen.train_linear(x, y, "L2", 0.1, 0.1, 30, 50, init)
    assert (w[:, 3:] == 0).float().mean() > 0.8 and (w[:, :3] != 0).all()
    assert (w2 == 0).sum() == 0


def test_unknown_method_is_refused():
    with pytest.raises(DlcError, match="method"):
        pen.train_linear(
            torch.zeros(2, 3),
            torch.zeros(2, dtype=torch.long),
            "L3",
            0.1,
            0.1,
            1,
            2,
            (torch.zeros(2, 3), torch.zeros(2)),
        )


def test_bad_sweeps_are_refused():
    assert pen.parse_sweep("1e-3, 1e-2") == [1e-3, 1e-2]
    for bad in ("", "1e-3,x", "1e-3,-1"):
        with pytest.raises(UsageError, match="--sweep"):
            make_config(get("penalties"), sweep=bad)


# Every count option at 0 is refused before the run, with the minimum it needs.
ZERO_COUNTS = [
    ("epochs", 1),
    ("batch_size", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("penalties", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
