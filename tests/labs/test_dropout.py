"""dropout at --tiny: the dropout net's train/test gap and test loss are below the plain
net's (same initial weights, same batches); eval mode is deterministic, train mode is not."""

import pytest
import torch
from torch import nn

from dlc.labs.dropout import make_net, two_passes
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_dropout_at_tiny(runs_dir):
    result = run_tiny("dropout", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["epochs"] == 20 and m["train_samples"] == 500 and m["test_samples"] == 100
    # the setting over-fits: the plain net fits the training set, far better than the test set
    assert m["plain_train_error"] < 0.01 and m["plain_test_error"] > 0.05
    assert m["dropout_gap"] < m["plain_gap"]
    assert m["eval_mode_difference"] == 0 and m["train_mode_difference"] > 0
    assert (result.run_dir / "curves.png").is_file()


@requires_mnist
def test_zero_epochs_checks_the_modes_only(runs_dir):
    result = run_tiny("dropout", runs_dir, force_cpu=True, epochs=0)
    assert_checks(result)
    assert len(result.verdicts) == 2 and result.line.startswith("no training (--epochs 0)")


def test_the_nets_share_their_initial_weights():
    torch.manual_seed(0)
    plain = make_net(16)
    torch.manual_seed(0)
    dropped = make_net(16, 0.5, 0.2)
    assert [type(m).__name__ for m in dropped] == [
        "Dropout",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
    for a, b in zip(plain.parameters(), dropped.parameters()):
        assert torch.equal(a, b)


def test_dropout_keeps_the_expectation_in_train_mode():
    torch.manual_seed(0)
    d = nn.Dropout(0.5)
    x = torch.ones(200_000)
    y = d(x)
    assert set(y.unique().tolist()) == {0.0, 2.0}  # dropped, or scaled by 1 / (1 - p)
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)
    net = make_net(8, 0.5)
    assert two_passes(net, torch.randn(4, 784), train=False) == 0.0
    assert two_passes(net, torch.randn(4, 784), train=True) > 0.0


def test_both_rates_zero_is_refused(runs_dir):
    from dlc.errors import UsageError
    from dlc.labs import run_lab

    with pytest.raises(UsageError, match="both 0"):
        run_lab("dropout", p=0.0, p_input=0.0, runs_dir=runs_dir, quiet=True)
    with pytest.raises(UsageError, match="--p "):
        run_lab("dropout", p=1.0, runs_dir=runs_dir, quiet=True)
