"""ESCAPE T1: the MLP fits the noisy sinusoid; the tutorial's lr 0.5 does not."""

import pytest
import torch

from dlc.data.toy import data_seeds
from dlc.errors import DlcError
from dlc.labs import run_lab
from dlc.labs.sinusoid import NOISE, make_model, mse, true_mean
from tests.labs.helpers import assert_checks, run_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return run_tiny("sinusoid", tmp_path_factory.mktemp("runs"))


def test_tiny_run_fits_far_better_than_the_mean(tiny):
    result = tiny
    m = result.metrics
    # The check: test MSE below a quarter of the MSE of the best constant prediction.
    assert m["test_mse"] < 0.25 * m["baseline_mse"], result.line
    # The constant's MSE is about Var(sin x) = 1/2 on [-10, 10]: the baseline is real.
    assert 0.4 < m["baseline_mse"] < 0.6
    # Training lowered the loss to a small fraction of its start.
    first = _first_epoch_loss(result.run_dir)
    assert m["final_train_loss"] < 0.2 * first
    assert (result.run_dir / "fit.png").is_file()
    assert m["first_train_loss"] == first
    assert_checks(result)
    # No checkpoints for this fit of one-step epochs; the curves figure is there.
    assert (result.run_dir / "curves.png").is_file()
    assert not (result.run_dir / "checkpoints").exists()


def test_step_lr_halves_the_rate_halfway(runs_dir):
    import json

    r = run_tiny("sinusoid", runs_dir, step_lr=True, epochs=10)
    epochs = [json.loads(s) for s in (r.run_dir / "metrics.jsonl").read_text().splitlines()]
    lrs = [rec["lr"] for rec in epochs if rec.get("kind") == "epoch"]
    assert lrs == [0.05] * 5 + [0.025] * 5
    assert r.metrics["final_lr"] == 0.025 and "halved at epoch 5" in r.line


def test_the_tutorials_lr_of_half_fails_where_the_default_fits(tiny, runs_dir):
    good = tiny.metrics
    bad = run_tiny("sinusoid", runs_dir, lr=0.5).metrics
    # Same data, same epochs: lr 0.5 does worse than predicting the mean; lr 0.05 far better.
    assert bad["mse_ratio"] > 1.0 > 4 * good["mse_ratio"]


def _first_epoch_loss(run_dir):
    import json

    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "epoch":
            return rec["train_loss"]
    raise AssertionError("no epoch record in metrics.jsonl")


def test_model_is_the_tutorials_1_200_100_1_leaky_relu():
    model = make_model()
    linears = [l for l in model.layers if isinstance(l, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(1, 200), (200, 100), (100, 1)]
    assert all(isinstance(a, torch.nn.LeakyReLU) for a in model.layers if not isinstance(a, torch.nn.Linear))
    assert sum(p.numel() for p in model.parameters()) == 2 * 200 + 201 * 100 + 101


def test_true_mean_is_the_expected_target():
    # y = sin(x) + 0.2 U(0, 1): averaging many noisy draws at fixed x gives sin(x) + 0.1.
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([0.0, 1.0, -2.5])
    draws = torch.sin(x) + NOISE * torch.rand(200_000, 3, generator=g)
    torch.testing.assert_close(draws.mean(0), true_mean(x), atol=2e-3, rtol=0)
    assert mse(true_mean(x), torch.sin(x)) == pytest.approx((NOISE / 2) ** 2)


def test_train_and_test_draws_are_independent_and_seeded():
    assert len({*data_seeds(0), *data_seeds(1)}) == 4
    a, b = data_seeds(3)
    assert a != b and data_seeds(3) == (a, b)
    assert all(s >= 0 for s in data_seeds(-1))


def test_bad_options_are_refused(runs_dir):
    with pytest.raises(DlcError, match="lr"):
        run_lab("sinusoid", size="tiny", runs_dir=runs_dir, quiet=True, lr=0.0)
    with pytest.raises(DlcError, match="n_train"):
        run_lab("sinusoid", size="tiny", runs_dir=runs_dir, quiet=True, n_train=1)
