"""fashion-speedrun at --tiny: it learns (test error far below chance and below the
untrained network's, in the same run), reports the accuracy with and without test-time
mirroring, and its network and mirrored prediction do what they say."""

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs.fashion_speedrun import Config, FashionNet, augmentation, mirrored_probabilities
from tests.data.available import requires_fashion_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_fashion_mnist
def test_fashion_speedrun_learns_at_tiny(runs_dir):
    result = run_tiny("fashion-speedrun", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["train_samples"] == 500 and m["test_n"] == 100 and m["epochs"] == 10
    assert m["steps"] == 100  # --tiny: batches of 50, 10 per epoch
    assert not m["full"] and m["test_mirror"]
    assert m["untrained_test_error"] > 0.6  # chance is 90%
    assert m["test_error"] < 0.4
    assert abs(m["plain_test_error"] - m["test_error"]) <= 0.05  # the mirror averages, it does not replace
    assert "without test-time mirroring" in result.line
    assert (result.run_dir / "schedule.png").is_file()


@requires_fashion_mnist
def test_without_test_time_mirroring_one_prediction_is_reported(runs_dir):
    result = run_tiny("fashion-speedrun", runs_dir, force_cpu=True, test_mirror=False, epochs=2)
    m = result.metrics
    assert not m["test_mirror"] and m["plain_test_error"] == m["test_error"]
    assert "without test-time mirroring" not in result.line


def test_the_network_starts_at_full_resolution_or_on_2x2_patches():
    x = torch.randn(3, 1, 28, 28)
    net = FashionNet()
    assert net.features[0](x).shape == (3, 16, 14, 14)  # conv at 28 x 28, then the pool
    assert net.features(x).shape == (3, 128, 3, 3)
    assert net(x).shape == (3, 10)
    patches = FashionNet(stem="patches")
    assert patches.features[0](x).shape == (3, 4, 14, 14)  # pixel-unshuffle: nothing lost
    assert patches.features(x).shape == (3, 128, 3, 3)
    assert patches(x).shape == (3, 10)
    with pytest.raises(ValueError, match="stem must be"):
        FashionNet(stem="big")
    with pytest.raises(UsageError, match="--stem must be 'full' or 'patches'"):
        Config(stem="big")


def test_channels_last_flatten_sends_the_gradient_back_in_the_same_layout():
    net = FashionNet().to(memory_format=torch.channels_last)
    seen = []
    last_relu = net.features[-1][-1]

    def watch(module, inputs, out):
        out.register_hook(seen.append)  # the gradient of the last ReLU's output

    last_relu.register_forward_hook(watch)
    x = torch.randn(4, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    net(x).sum().backward()
    assert seen[0].is_contiguous(memory_format=torch.channels_last)


def test_mirrored_probabilities_average_an_image_and_its_mirror():
    torch.manual_seed(0)
    net = FashionNet(width=0.25).eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        p = mirrored_probabilities(net, x)
        torch.testing.assert_close(p.sum(1), torch.ones(4))
        # the same for an image and its mirror: the prediction is mirror-invariant
        torch.testing.assert_close(p, mirrored_probabilities(net, x.flip(3)))
        torch.testing.assert_close(p, (net(x).softmax(1) + net(x.flip(3)).softmax(1)) / 2)


def test_cutout_option_blanks_squares_and_bad_values_are_refused():
    x = torch.rand(64, 1, 28, 28) + 1  # no pixel is 0 before
    assert augmentation(Config(mirror=False)) is None
    torch.manual_seed(0)
    y = augmentation(Config(mirror=False, erase=8, erase_p=1.0))(x)
    holes = (y == 0).flatten(1).sum(1)
    assert (holes > 0).all() and (holes <= 64).all()  # one square each, at most 8 x 8
    assert torch.equal(y[y != 0], x[y != 0])
    with pytest.raises(UsageError, match="--erase must be"):
        Config(erase=29)
    with pytest.raises(UsageError, match="--erase_p must be"):
        Config(erase_p=-0.1)


def test_translate_option_shifts_images_by_at_most_its_pixels_and_bad_values_are_refused():
    x = torch.zeros(32, 1, 28, 28)
    x[:, :, 13, 13] = 1.0  # one bright pixel in the middle: where it lands is the shift
    torch.manual_seed(0)
    y = augmentation(Config(mirror=False, translate=2))(x)
    assert y.shape == x.shape and torch.equal(y.sum((1, 2, 3)), x.sum((1, 2, 3)))  # moved, not lost
    where = y.view(32, -1).argmax(1)
    dy, dx = where // 28 - 13, where % 28 - 13
    assert dy.abs().max() <= 2 and dx.abs().max() <= 2
    assert ((dy != 0) | (dx != 0)).any()  # some images moved
    with pytest.raises(UsageError, match="--translate must be 0 to 8 pixels"):
        Config(translate=9)


def test_groups_split_the_14x14_convolution_and_must_divide_its_channels():
    from dlc.labs.fashion_speedrun import FashionNet

    grouped = FashionNet(groups=2).features[2][0]
    assert grouped.groups == 2 and grouped.weight.shape == (32, 16, 3, 3)
    assert FashionNet(groups=2)(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(UsageError, match="--groups 2 does not divide the 1 channels of --width 0.01"):
        Config(width=0.01, groups=2)
    with pytest.raises(UsageError, match="--groups must be 1, 2, 4 or 8"):
        Config(groups=3)
