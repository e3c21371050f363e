"""batchnorm at --tiny: at the large step the plain net diverges or stalls and the BN net
trains; at the small step both train; eval mode uses the running statistics."""

import math

import pytest
import torch
from torch import nn

from dlc.labs.batchnorm import by_hand, eval_mode_check, make_net
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_batchnorm_at_tiny(runs_dir):
    result = run_tiny("batchnorm", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["steps"] == 50  # 500 images, batches of 100, 10 epochs
    assert m["plain_large_diverged"] or m["plain_large_train_loss"] > 2.0
    assert not m["batchnorm_large_diverged"] and m["batchnorm_large_train_loss"] < 0.5 * math.log(10)
    assert m["running_difference"] < 1e-4 < m["batch_difference"]
    assert m["running_mean_norm"] > 0  # training moved the running mean away from its initial 0
    assert (result.run_dir / "training_loss.png").is_file()


@requires_mnist
def test_zero_epochs_checks_eval_mode_only(runs_dir):
    result = run_tiny("batchnorm", runs_dir, force_cpu=True, epochs=0)
    assert_checks(result)
    assert len(result.verdicts) == 2 and result.line.startswith("no training (--epochs 0)")
    assert result.metrics["running_mean_norm"] == 0  # nothing trained: the initial statistics


def test_running_statistics_follow_the_momentum_rule():
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(3)
    h = torch.randn(50, 3) * 2 + 5
    bn.train()
    out = bn(h)
    # training: the batch's statistics (biased variance) ...
    assert torch.allclose(out, by_hand(bn, h, running=False), atol=1e-5)
    # ... and the running ones move by momentum 0.1 (unbiased variance)
    assert torch.allclose(bn.running_mean, 0.1 * h.mean(0), atol=1e-6)
    assert torch.allclose(bn.running_var, 0.9 + 0.1 * h.var(0, unbiased=True), atol=1e-5)
    bn.eval()
    assert torch.allclose(bn(h), by_hand(bn, h, running=True), atol=1e-5)


def test_eval_mode_check_and_the_nets():
    torch.manual_seed(0)
    net = make_net(3, 16, batchnorm=True)
    assert [type(m).__name__ for m in net][:3] == ["Linear", "BatchNorm1d", "ReLU"]
    x = torch.randn(64, 784)
    net.train()
    for _ in range(5):
        net(x)
    ev = eval_mode_check(net, x)
    assert ev["running_difference"] < 1e-4 and ev["batch_difference"] > 1e-3
    torch.manual_seed(0)
    plain = make_net(3, 16, batchnorm=False)
    torch.manual_seed(0)
    bn = make_net(3, 16, batchnorm=True)
    lin = [m.weight for m in plain if isinstance(m, nn.Linear)]
    assert all(torch.equal(a, b) for a, b in zip(lin, [m.weight for m in bn if isinstance(m, nn.Linear)]))


def test_bad_options_are_refused(runs_dir):
    from dlc.errors import UsageError
    from dlc.labs import run_lab

    with pytest.raises(UsageError, match="--large_lr"):
        run_lab("batchnorm", small_lr=0.5, large_lr=0.1, runs_dir=runs_dir, quiet=True)
    with pytest.raises(UsageError, match="--batch_size"):
        run_lab("batchnorm", batch_size=1, runs_dir=runs_dir, quiet=True)
