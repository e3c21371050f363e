"""lecture-convnet at --tiny: it learns (test error far below chance and far below the
untrained network's), and its run folder holds everything the contract promises."""

import json

import torch

from dlc.engine import checkpoint as ckpt
from dlc.models.convnets import LectureConvNet
from tests.conftest import requires_mnist
from tests.labs.helpers import run_tiny


@requires_mnist
def test_lecture_convnet_learns_at_tiny(runs_dir):
    result = run_tiny("lecture-convnet", runs_dir, force_cpu=True)
    m = result.metrics
    assert m["test_n"] == 100 and m["train_samples"] == 500 and m["epochs"] == 10
    # chance is 90% error; the same network before training is near it
    assert m["untrained_test_error"] > 0.6
    assert m["test_error"] < 0.35
    assert m["test_error"] < 0.5 * m["untrained_test_error"]
    assert m["test_errors"] == round(m["test_error"] * 100)
    assert result.line.startswith(f"test error {m['test_error']:.2%} ({m['test_errors']}/100), 10 epochs")

    d = result.run_dir
    for name in (
        "config.json",
        "metrics.jsonl",
        "summary.json",
        "curves.png",
        "misclassified.png",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
    ):
        assert (d / name).is_file(), name
    assert list((d / "tensorboard").glob("events.out.tfevents.*"))
    records = [json.loads(s) for s in (d / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    assert [r["epoch"] for r in epochs] == list(range(1, 11))
    assert epochs[-1]["train_loss"] < 0.5 * epochs[0]["train_loss"]
    assert len([r for r in records if r.get("kind") == "step"]) == 50  # 5 batches x 10 epochs
    assert json.loads((d / "config.json").read_text())["config"]["lr"] == 0.1
    last = ckpt.load(d / "checkpoints" / "last.pt")
    assert last["finished"] and last["step"] == 50


def test_the_network_is_the_lectures():
    net = LectureConvNet()
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes == {
        "conv1.weight": (32, 1, 5, 5),
        "conv1.bias": (32,),
        "conv2.weight": (64, 32, 5, 5),
        "conv2.bias": (64,),
        "fc1.weight": (200, 256),
        "fc1.bias": (200,),
        "fc2.weight": (10, 200),
        "fc2.bias": (10,),
    }
    x = torch.randn(3, 1, 28, 28)
    # conv 5 -> 24, max-pool 3 -> 8, conv 5 -> 4, max-pool 2 -> 2: 64 x 2 x 2 = 256 features
    h = torch.relu(torch.nn.functional.max_pool2d(net.conv1(x), 3))
    h = torch.relu(torch.nn.functional.max_pool2d(net.conv2(h), 2))
    assert h.shape == (3, 64, 2, 2)
    assert net(x).shape == (3, 10)


@requires_mnist
def test_zero_epochs_evaluates_the_untrained_network_and_says_so(runs_dir):
    result = run_tiny("lecture-convnet", runs_dir, force_cpu=True, epochs=0)
    m = result.metrics
    assert m["epochs"] == 0 and m["train_loss"] is None
    assert m["test_error"] == m["untrained_test_error"] > 0.45
    assert result.line.startswith(
        f"no training (--epochs 0): the untrained network's test error is {m['test_error']:.2%}"
    )
    # the check states what an untrained network shows, and it holds
    assert [v.name for v in result.verdicts] == ["untrained network's test error, near chance (90%)"]
    assert result.passed
    assert (result.run_dir / "misclassified.png").is_file()
