"""segmentation at --tiny: the U-Net labels the pixels well, far better than labelling
everything background and than the same net without skip connections."""

import pytest
import torch

from dlc.labs import run_lab
from dlc.labs.segmentation import UNet, scores
from tests.labs.helpers import assert_checks, run_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return run_tiny("segmentation", tmp_path_factory.mktemp("runs"), force_cpu=True)


def test_unet_beats_all_background_and_the_net_without_skips(tiny):
    assert_checks(tiny)
    m = tiny.metrics
    assert m["epochs"] == 8 and m["train_images"] == 300 and m["test_images"] == 100
    assert m["pixel_accuracy"] > 0.95 and m["mean_iou"] > 0.8
    # all-background is right on most pixels yet scores only the background's IoU
    assert m["background_pixel_accuracy"] > 0.7 and m["background_mean_iou"] < 0.25
    assert m["pixel_error"] < 0.5 * m["no_skip_pixel_error"] and m["mean_iou"] > m["no_skip_mean_iou"]
    assert min(m["iou"].values()) > 0.6  # every class, not only the background
    assert m["no_skip_parameters"] < m["parameters"]  # the skips only widen two convolutions
    for name in ("masks", "iou_per_class", "unet-curves", "no-skip-curves"):
        assert (tiny.run_dir / f"{name}.png").is_file(), name


def test_unet_shapes_and_the_scores_of_a_perfect_and_an_empty_map():
    x = torch.rand(2, 3, 32, 32)
    assert UNet(8)(x).shape == (2, 4, 32, 32) and UNet(4, skip=False)(x).shape == (2, 4, 32, 32)
    masks = torch.zeros(2, 8, 8, dtype=torch.long)
    masks[0, 2:5, 2:5] = 1
    masks[1, 0:2, 0:4] = 3
    perfect = scores(masks, masks)
    assert perfect["pixel_accuracy"] == 1.0 and perfect["iou"] == [1.0, 1.0, 0.0, 1.0]  # class 2 absent: 0
    empty = scores(torch.zeros_like(masks), masks)
    assert empty["pixel_accuracy"] == pytest.approx(1 - 17 / 128)
    assert empty["mean_iou"] == pytest.approx((1 - 17 / 128) / 4)


def test_zero_epochs_evaluates_the_untrained_nets(runs_dir):
    r = run_lab("segmentation", size="tiny", runs_dir=runs_dir, quiet=True, force_cpu=True, epochs=0, train_images=20)
    assert r.metrics["epochs"] == 0 and r.line.endswith("untrained nets (--epochs 0)")
    assert [v.name for v in r.verdicts] == ["untrained U-Net's mean IoU"] and r.passed
