"""cifar10-speedrun: it learns at --tiny (test error below half of chance and of the
untrained network's, same run), --epochs 0 evaluates the untrained network, the whitening
layer whitens the training patches, --minutes stops training early and anneals on the
clock, and bad options are refused before the run starts."""

import json

import pytest
import torch
import torch.nn.functional as F

from dlc import data
from dlc.engine import checkpoint
from dlc.errors import UsageError
from dlc.labs import get, make_config
from dlc.labs.cifar10_speedrun import SpeedNet, alternating_flip, training_patches, triangle, whitening_weights
from tests.conftest import requires_cifar
from tests.labs.helpers import assert_checks, run_tiny


@requires_cifar
def test_cifar10_speedrun_learns_at_tiny(runs_dir):
    result = run_tiny("cifar10-speedrun", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["train_samples"] == 5000 and m["test_n"] == 1000 and m["epochs"] == 5
    assert m["steps"] == m["planned_steps"] == 500 and not m["stopped_early"]  # 100 batches of 50 per epoch
    assert m["untrained_test_error"] > 0.8  # chance is 90%
    assert m["test_error"] < 0.45
    assert m["test_errors"] == round(m["test_error"] * 1000)
    assert result.line.startswith(f"test accuracy {m['test_accuracy']:.2%} ({m['test_errors']}/1,000 wrong")
    assert "500 steps (5.00 epochs of 5,000 images)" in result.line
    d = result.run_dir
    for name in ("schedule.png", "whitening.png", "misclassified.png"):
        assert (d / name).is_file(), name
    config = json.loads((d / "config.json").read_text())["config"]
    assert config["label_smoothing"] == 0.2 and config["whiten"] and config["minutes"] == 0
    epochs = [json.loads(s) for s in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in epochs] == [1, 2, 3, 4, 5]
    # the saved weights are the trained network: loaded into a fresh one, they give the
    # same plain (no test-time augmentation) error on the same 1,000 test images
    net = SpeedNet(width=0.25, stride=2)
    net.load_state_dict(checkpoint.load(d / "model.pt"))
    net.eval()
    tx, ty = data.load("cifar10", train=False)
    x, _ = data.load("cifar10", train=True)
    x = x[:5000].float()
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    with torch.no_grad():
        plain = net((tx[:1000].float() - mean) / std).argmax(1)
    assert abs(float((plain != ty[:1000].long()).float().mean()) - m["plain_test_error"]) < 0.005


@requires_cifar
def test_zero_epochs_evaluates_the_untrained_network(runs_dir):
    result = run_tiny("cifar10-speedrun", runs_dir, force_cpu=True, epochs=0)
    m = result.metrics
    assert m["steps"] == 0 and m["epochs"] == 0
    assert m["test_error"] > 0.8  # near chance (90%)
    assert result.line.startswith("no training (--epochs 0)")
    assert [v.name for v in result.verdicts] == ["untrained network's test error, near chance (90%)"]
    assert result.passed


@requires_cifar
def test_minutes_stops_training_early_and_anneals_on_the_clock(runs_dir):
    result = run_tiny("cifar10-speedrun", runs_dir, force_cpu=True, minutes=0.02)  # 1.2 s of ~7 s
    m = result.metrics
    assert m["stopped_early"] and 0 < m["steps"] < m["planned_steps"] == 500
    assert f"stopped by --minutes 0.02 after {m['steps']} of 500 planned steps" in result.line
    # the triangle ran on the clock: the last step's rate is near 0, not the peak's
    # (a schedule counted in steps would still be warming up, so few of its 500 steps done)
    assert m["final_lr"] < 0.25 * 0.2


@requires_cifar
def test_the_whitening_layer_whitens_the_training_patches():
    x, _ = data.load("cifar10", train=True)
    x = x[:500].double() / 255
    x = (x - x.mean((0, 2, 3), keepdim=True)) / x.std((0, 2, 3), keepdim=True)
    patches = training_patches(x, images=500)
    assert patches.shape == (500 * 31 * 31, 3, 2, 2) and patches.dtype == torch.float64
    filters = whitening_weights(patches)  # eps 0: exactly white
    out = F.conv2d(x, filters)  # 12 channels of 31 x 31
    flat = out.permute(1, 0, 2, 3).reshape(12, -1)
    torch.testing.assert_close(torch.cov(flat), torch.eye(12, dtype=torch.float64), atol=1e-8, rtol=0)
    # the network's stem: the same filters (with the lab's eps) and their negatives, frozen
    net = SpeedNet(width=0.25)
    lab_filters = net.whiten(x.float(), eps=5e-4)
    assert not net.stem.weight.requires_grad and net.stem.bias.requires_grad
    torch.testing.assert_close(net.stem.weight[12:], -net.stem.weight[:12])
    cov = torch.cov(F.conv2d(x, lab_filters).permute(1, 0, 2, 3).reshape(12, -1))
    # eps shrinks each variance to eigenvalue / (eigenvalue + eps): at most 1, and still uncorrelated
    assert (cov.diagonal() <= 1 + 1e-6).all() and cov.diagonal()[0] > 0.999
    assert (cov - torch.diag(cov.diagonal())).abs().max() < 1e-3


def test_whitening_weights_conventions():
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(4, 4, generator=g, dtype=torch.float64)
    x = torch.randn(2000, 4, generator=g, dtype=torch.float64) @ mix
    filters = whitening_weights(x.view(-1, 1, 2, 2))
    assert filters.shape == (4, 1, 2, 2) and filters.dtype == torch.float64
    w = filters.view(4, 4)
    torch.testing.assert_close(w @ torch.cov(x.T) @ w.T, torch.eye(4, dtype=torch.float64))
    # largest eigenvalue first: the filters' norms (1 / sqrt(eigenvalue)) grow
    norms = w.norm(dim=1)
    assert (norms[1:] >= norms[:-1]).all()
    # each filter's largest-magnitude entry is positive
    assert (w.gather(1, w.abs().argmax(1, keepdim=True)) > 0).all()


def test_alternating_flips_and_the_triangle():
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).view(2, 1, 2, 3)
    first = torch.tensor([True, False])
    even, odd = alternating_flip(x, first, 0), alternating_flip(x, first, 1)
    torch.testing.assert_close(even, torch.stack([x[0].flip(2), x[1]]))
    torch.testing.assert_close(odd, torch.stack([x[0], x[1].flip(2)]))  # the other way in odd epochs
    assert triangle(0.0, 1.0, 0.2) == pytest.approx(0.1)
    assert triangle(0.2, 1.0, 0.2) == pytest.approx(1.0)
    assert triangle(0.6, 1.0, 0.2) == pytest.approx(0.5)
    assert triangle(1.0, 1.0, 0.2) == 0.0 and triangle(1.5, 1.0, 0.2) == 0.0


@pytest.mark.parametrize(
    "options, word",
    [
        ({"minutes": -1.0}, "minutes"),
        ({"tta": 3}, "tta"),
        ({"stride": 3}, "stride"),
        ({"width": 0.0}, "width"),
        ({"train_images": 0}, "train_images"),
        ({"warmup": 1.0}, "warmup"),
    ],
)
def test_bad_options_are_refused(options, word):
    with pytest.raises(UsageError, match=word):
        make_config(get("cifar10-speedrun"), "tiny", **options)
