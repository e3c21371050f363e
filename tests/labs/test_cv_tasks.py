"""cv-tasks at --tiny: classification, localisation and segmentation, each framed as
tensors and trained briefly, beat their trivial predictors on the same test images."""

import pytest
import torch

from dlc.labs import run_lab
from dlc.labs.cv_tasks import Segmenter, box_numbers, box_regressor, classifier, tensors_table, to_boxes
from dlc.vision.boxes import box_iou
from tests.labs.helpers import assert_checks, run_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return run_tiny("cv-tasks", tmp_path_factory.mktemp("runs"), force_cpu=True)


def test_each_task_beats_its_trivial_predictor(tiny):
    assert_checks(tiny)
    m = tiny.metrics
    assert m["epochs"] == 5 and m["train_images"] == 300 and m["test_images"] == 100 and m["image_size"] == 32
    assert m["accuracy"] > m["majority_accuracy"] + 0.3
    assert 0.2 < m["majority_accuracy"] < 0.5  # three classes drawn uniformly
    assert m["box_iou"] > m["mean_box_iou"] + 0.2
    assert m["seg_mean_iou"] > m["background_mean_iou"] + 0.2
    # all-background: right on every background pixel, IoU only for the background class
    assert m["background_pixel_accuracy"] > 0.7
    assert m["background_mean_iou"] == pytest.approx(m["background_pixel_accuracy"] / 4)
    assert tiny.line.startswith(f"classification accuracy {m['accuracy']:.1%} vs majority class")


def test_run_folder_has_the_three_task_figures_and_the_tensor_table(tiny):
    d = tiny.run_dir
    for name in ("classification", "detection", "segmentation", "classifier-curves", "segmenter-curves"):
        assert (d / f"{name}.png").is_file(), name
    table = (d / "tensors.txt").read_text()
    assert "16x3x32x32" in table and "16x4x32x32" in table and "cross-entropy per pixel" in table


def test_the_tensors_of_each_framing():
    x = torch.rand(5, 3, 32, 32)
    assert classifier()(x).shape == (5, 3)
    assert box_regressor(32)(x).shape == (5, 4)
    assert Segmenter()(x).shape == (5, 4, 32, 32)
    assert Segmenter()(torch.rand(2, 3, 64, 64)).shape == (2, 4, 64, 64)
    boxes = torch.tensor([[2.0, 4.0, 10.0, 20.0], [0.0, 0.0, 32.0, 32.0]])
    numbers = box_numbers(boxes, 32)
    assert torch.allclose(numbers, torch.tensor([[6, 12, 8, 16], [16, 16, 32, 32]]) / 32)
    # to_boxes inverts box_numbers through the sigmoid the regressor's output goes through
    back = to_boxes(torch.logit(numbers.clamp(1e-6, 1 - 1e-6)), 32)
    assert torch.allclose(back, boxes, atol=1e-3)
    assert (box_iou(back, boxes).diagonal() > 0.999).all()
    assert "classification" in tensors_table(type("C", (), {"image_size": 32, "batch_size": 8})())


def test_zero_epochs_evaluates_the_untrained_nets_and_says_so(runs_dir):
    r = run_lab("cv-tasks", size="tiny", runs_dir=runs_dir, quiet=True, force_cpu=True, epochs=0, train_images=50)
    assert r.metrics["epochs"] == 0 and r.line.endswith("untrained nets (--epochs 0)")
    assert [v.name for v in r.verdicts][0].startswith("untrained classifier")
    assert r.passed, [str(v) for v in r.verdicts]
