"""dlc.vision.metrics against brute-force Python references."""

import pytest
import torch

from dlc.errors import InvalidArgument
from dlc.vision.metrics import class_iou, confusion_matrix, mean_iou, pixel_accuracy


def maps(seed, k=4, shape=(3, 9, 7)):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, k, shape, generator=g), torch.randint(0, k, shape, generator=g)


def test_confusion_matrix_counts_pairs():
    pred, target = maps(0)
    cm = confusion_matrix(pred, target, 4)
    ref = [[0] * 4 for _ in range(4)]
    for p, t in zip(pred.flatten().tolist(), target.flatten().tolist()):
        ref[t][p] += 1
    assert cm.tolist() == ref and cm.dtype == torch.int64 and int(cm.sum()) == pred.numel()


def test_pixel_accuracy_and_iou_equal_the_set_definitions():
    for seed in range(5):
        pred, target = maps(seed)
        p, t = pred.flatten().tolist(), target.flatten().tolist()
        assert pixel_accuracy(pred, target) == pytest.approx(sum(a == b for a, b in zip(p, t)) / len(p))
        ious = class_iou(pred, target, 4)
        for k in range(4):
            inter = sum(a == k and b == k for a, b in zip(p, t))
            union = sum(a == k or b == k for a, b in zip(p, t))
            assert ious[k].item() == pytest.approx(inter / union)
        assert mean_iou(pred, target, 4) == pytest.approx(ious.mean().item())


def test_absent_classes_and_the_all_background_predictor():
    target = torch.tensor([[0, 0, 1], [0, 2, 2]])
    background = torch.zeros_like(target)
    ious = class_iou(background, target, 4)
    assert ious[:3].tolist() == pytest.approx([0.5, 0.0, 0.0])
    assert ious[3].isnan()  # class 3 is in neither map
    assert mean_iou(background, target, 4) == pytest.approx(0.5 / 3)
    assert pixel_accuracy(background, target) == pytest.approx(0.5)
    assert mean_iou(target, target, 4) == 1.0


def test_bad_inputs_are_refused():
    with pytest.raises(InvalidArgument, match="same shape"):
        confusion_matrix(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long), 2)
    with pytest.raises(InvalidArgument, match="integer class maps"):
        confusion_matrix(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), 2)
    with pytest.raises(InvalidArgument, match="outside 0..1"):
        confusion_matrix(torch.full((2,), 2), torch.zeros(2, dtype=torch.long), 2)
    with pytest.raises(InvalidArgument):
        pixel_accuracy(torch.zeros(0), torch.zeros(0))
