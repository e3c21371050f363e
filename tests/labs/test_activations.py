"""activations at --tiny: nearest neighbours in the trained net's last hidden layer, and in
its t-SNE map, classify better than nearest neighbours on raw pixels (same points, same split)."""

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import get, make_config
from dlc.labs.activations import nn_error, record_activations
from dlc.models.convnets import LectureConvNet
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_activations_at_tiny(runs_dir):
    result = run_tiny("activations", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["n_queries"] == 50
    assert m["nn_error_hidden"] < m["nn_error_pixels"]
    assert m["nn_error_tsne"] < m["nn_error_pixels"]
    assert m["test_error"] < 0.5 * m["untrained_test_error"]
    for name in ("activation_maps.png", "embeddings.png", "curves.png"):
        assert (result.run_dir / name).is_file(), name


@requires_mnist
def test_zero_epochs_looks_at_the_random_net(runs_dir):
    result = run_tiny("activations", runs_dir, force_cpu=True, epochs=0)
    assert_checks(result)
    assert result.metrics["test_error"] == result.metrics["untrained_test_error"] > 0.45
    assert (result.run_dir / "embeddings.png").is_file()


def test_hooks_record_each_layer_and_are_removed():
    net = LectureConvNet()
    acts = record_activations(net, torch.randn(3, 1, 28, 28), ["conv1", "conv2", "fc1"])
    assert {k: tuple(v.shape) for k, v in acts.items()} == {
        "conv1": (3, 32, 24, 24), "conv2": (3, 64, 4, 4), "fc1": (3, 200),
    }  # fmt: skip
    assert not net.conv1._forward_hooks and not net.fc1._forward_hooks


def test_nn_error_uses_the_first_half_as_references():
    points = torch.tensor([[0.0], [10.0], [0.1], [9.9]])
    assert nn_error(points, torch.tensor([0, 1, 0, 1])) == 0.0
    assert nn_error(points, torch.tensor([0, 1, 1, 0])) == 1.0


def test_bad_sizes_are_refused():
    with pytest.raises(UsageError, match="--embed_size must be at least 20"):
        make_config(get("activations"), embed_size=5)
    with pytest.raises(UsageError, match="--perplexity"):
        make_config(get("activations"), embed_size=60, perplexity=30.0)
