"""object-detection at --tiny: the grid detector finds the shapes (mAP@0.5, IoU of the
matched boxes) far better than the same detector untrained; its targets and decoding
are each other's inverse."""

import pytest
import torch

from dlc.data.shapes import shapes
from dlc.labs import run_lab
from dlc.labs.object_detection import GridDetector, decode, detection_loss, grid_targets
from dlc.vision.boxes import box_iou
from tests.labs.helpers import assert_checks, run_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return run_tiny("object-detection", tmp_path_factory.mktemp("runs"), force_cpu=True)


def test_the_detector_finds_the_shapes_far_better_than_untrained(tiny):
    assert_checks(tiny)
    m = tiny.metrics
    assert m["epochs"] == 6 and m["test_images"] == 100
    assert m["map50"] > 0.6 and m["untrained_map50"] < 0.2 and m["matched_iou"] > 0.6
    assert 0 < m["n_matched"] <= m["n_true"] and m["n_detections"] <= m["no_nms_detections"]
    assert set(m["ap50"]) == {"square", "circle", "triangle"}
    for name in ("detections", "ap_per_class", "curves"):
        assert (tiny.run_dir / f"{name}.png").is_file(), name
    assert tiny.line.startswith(f"mAP@0.5 {m['map50']:.2f} (untrained {m['untrained_map50']:.2f})")


def test_decoding_the_targets_gives_back_the_true_boxes():
    s = shapes(20, 32, (1, 3), seed=5)
    target = grid_targets(s.boxes, s.labels, 32)
    assert target.shape == (20, 6, 4, 4)
    assert int(target[:, 0].sum()) == int(s.counts.sum())  # one cell per shape, never shared
    # a perfect net's output: large logits for objectness and the class, box numbers through the logit
    out = torch.zeros(20, 8, 4, 4)
    out[:, 0] = torch.where(target[:, 0] > 0, 20.0, -20.0)
    cls = target[:, 1].clamp(min=0).long()
    out[:, 1:4] = torch.nn.functional.one_hot(cls, 3).permute(0, 3, 1, 2) * 20.0
    out[:, 4:] = torch.logit(target[:, 2:].clamp(1e-6, 1 - 1e-6))
    found = decode(out, 32, min_score=0.5, nms_iou=0.5)
    for i, d in enumerate(found):
        keep = s.labels[i] >= 0
        assert len(d.boxes) == int(s.counts[i])
        assert sorted(d.labels.tolist()) == sorted(s.labels[i][keep].tolist())
        assert (box_iou(d.boxes, s.boxes[i][keep]).max(1).values > 0.999).all()
    assert detection_loss(out, target)["box_loss"] < 1e-4


def test_the_detector_outputs_one_prediction_per_cell():
    assert GridDetector()(torch.rand(2, 3, 64, 64)).shape == (2, 8, 8, 8)


def test_zero_epochs_evaluates_the_untrained_detector(runs_dir):
    r = run_lab("object-detection", size="tiny", runs_dir=runs_dir, quiet=True, force_cpu=True, epochs=0)
    assert r.metrics["epochs"] == 0 and r.metrics["map50"] == r.metrics["untrained_map50"]
    assert r.line.startswith("no training (--epochs 0)") and r.passed
