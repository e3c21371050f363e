"""mnist-speedrun at --tiny: it learns (test error far below chance and below the untrained
network's, in the same run), its run folder holds the schedule figure, and its network
without batch normalisation is the lecture's."""

import json

import torch

from dlc.labs.mnist_speedrun import SpeedNet
from dlc.models.convnets import LectureConvNet
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_mnist_speedrun_learns_at_tiny(runs_dir):
    result = run_tiny("mnist-speedrun", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["train_samples"] == 500 and m["test_n"] == 100 and m["epochs"] == 10
    assert m["steps"] == 50  # 5 batches of 100 per epoch
    assert not m["full"] and len(result.verdicts) == 2  # the target's floor is for --full only
    assert m["untrained_test_error"] > 0.6  # chance is 90%
    assert m["test_error"] < 0.25
    assert m["test_errors"] == round(m["test_error"] * 100)
    assert result.line.startswith(f"test accuracy {m['test_accuracy']:.2%} ({m['test_errors']}/100 wrong), 10 epochs")
    d = result.run_dir
    assert (d / "schedule.png").is_file()
    config = json.loads((d / "config.json").read_text())["config"]
    assert config["beta1"] == 0.7 and config["beta2"] == 0.9 and config["batch_size"] == 100


@requires_mnist
def test_zero_epochs_evaluates_the_untrained_network(runs_dir):
    result = run_tiny("mnist-speedrun", runs_dir, force_cpu=True, epochs=0)
    assert result.metrics["epochs"] == 0 and result.metrics["steps"] == 0
    assert result.line.startswith("no training (--epochs 0)")
    assert [v.name for v in result.verdicts] == ["untrained network's test error, near chance (90%)"]
    assert result.passed


def test_without_batch_norm_the_network_is_the_lectures():
    torch.manual_seed(0)
    lecture = LectureConvNet()
    plain = SpeedNet(batch_norm=False)
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in lecture.state_dict().items()}
    plain.load_state_dict(lecture.state_dict())
    x = torch.randn(5, 1, 28, 28)
    torch.testing.assert_close(plain(x), lecture(x))
    # with batch normalisation: one BatchNorm2d after each pooling, the same outputs' shape
    bn = SpeedNet()
    assert bn.bn1.num_features == 32 and bn.bn2.num_features == 64
    assert bn(x).shape == (5, 10)
