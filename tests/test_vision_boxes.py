"""dlc.vision.boxes against brute-force Python references, and against the formulas
torchvision documents (as facts: torchvision is not a dependency and is not imported)."""

import itertools
import random

import pytest
import torch

from dlc.errors import InvalidArgument
from dlc.vision.boxes import (
    Detections,
    average_precision,
    batched_nms,
    box_area,
    box_iou,
    match,
    mean_average_precision,
    nms,
)


def random_boxes(n, seed, size=20.0, integer=False):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 2
    boxes = torch.cat([xy, xy + wh], 1).double()
    return boxes.round() if integer else boxes


def iou_reference(a, b):
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    w = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    h = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = w * h
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


def nms_reference(boxes, scores, threshold):
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        if all(iou_reference(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


def test_iou_matrix_equals_the_pairwise_reference():
    for integer in (False, True):  # integer boxes: touching and identical edges happen
        a, b = random_boxes(17, 0, integer=integer), random_boxes(11, 1, integer=integer)
        got = box_iou(a, b)
        assert got.shape == (17, 11)
        ref = torch.tensor([[iou_reference(x, y) for y in b.tolist()] for x in a.tolist()], dtype=torch.float64)
        assert torch.allclose(got, ref, atol=1e-12)


def test_iou_facts():
    # torchvision's formula: inter / (area1 + area2 - inter), with x2 - x1 as width
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 4.0, 2.0], [5.0, 5.0, 6.0, 6.0]])
    assert box_iou(a, b)[0].tolist() == pytest.approx([1 / 7, 1.0, 0.0, 0.0])
    assert box_area(b).tolist() == [4.0, 4.0, 4.0, 1.0]
    # a box inside another: IoU is the ratio of their areas; zero-area boxes give 0, not NaN
    assert box_iou(torch.tensor([[0.0, 0, 4, 4]]), torch.tensor([[1.0, 1, 3, 3]])).item() == pytest.approx(0.25)
    point = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    assert box_iou(point, point).item() == 0.0
    assert box_iou(a, torch.zeros(0, 4)).shape == (1, 0)


def test_bad_boxes_are_refused():
    with pytest.raises(InvalidArgument, match="N x 4"):
        box_iou(torch.zeros(3), torch.zeros(2, 4))
    with pytest.raises(InvalidArgument, match="x0 <= x1"):
        box_iou(torch.tensor([[2.0, 0, 1, 1]]), torch.zeros(1, 4))
    with pytest.raises(InvalidArgument, match="one value per box"):
        nms(torch.zeros(2, 4), torch.zeros(3), 0.5)


def test_nms_equals_the_greedy_reference():
    for seed, threshold in itertools.product(range(5), (0.0, 0.3, 0.5, 0.7)):
        boxes = random_boxes(30, seed)
        scores = torch.rand(30, generator=torch.Generator().manual_seed(100 + seed)).double()
        got = nms(boxes, scores, threshold).tolist()
        assert got == nms_reference(boxes.tolist(), scores.tolist(), threshold)
        assert scores[got].tolist() == sorted(scores[got].tolist(), reverse=True)  # by decreasing score


def test_nms_facts():
    # torchvision: discards boxes with IoU > iou_threshold with a kept, higher-scored box
    boxes = torch.tensor([[0.0, 0, 2, 2], [1.0, 1, 3, 3], [0.0, 0, 2, 2.2], [10.0, 10, 12, 12]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [0, 1, 3]  # box 2 overlaps box 0 at 0.91
    assert nms(boxes, scores, 1 / 7).tolist() == [0, 1, 3]  # IoU exactly at the threshold: kept
    assert nms(boxes, scores, 0.1).tolist() == [0, 3]
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []


def test_batched_nms_suppresses_only_within_a_class():
    for seed in range(4):
        boxes = random_boxes(40, seed)
        g = torch.Generator().manual_seed(seed)
        scores, classes = torch.rand(40, generator=g).double(), torch.randint(0, 3, (40,), generator=g)
        got = batched_nms(boxes, scores, classes, 0.4)
        ref = []
        for c in range(3):
            idx = [i for i in range(40) if classes[i] == c]
            ref += [idx[k] for k in nms_reference(boxes[idx].tolist(), scores[idx].tolist(), 0.4)]
        assert sorted(got.tolist()) == sorted(ref)
        assert scores[got].tolist() == sorted(scores[got].tolist(), reverse=True)
    same = torch.tensor([[0.0, 0, 2, 2], [0.0, 0, 2, 2]])
    assert batched_nms(same, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]), 0.5).tolist() == [0, 1]
    assert batched_nms(same, torch.tensor([0.9, 0.8]), torch.tensor([1, 1]), 0.5).tolist() == [0]


def ap_reference(scores, correct, n_true):
    ranked = sorted(zip(scores, correct), key=lambda t: -t[0])
    precision, recall, tp = [], [], 0
    for k, (_, c) in enumerate(ranked, 1):
        tp += c
        precision.append(tp / k)
        recall.append(tp / n_true)
    ap, previous = 0.0, 0.0
    for k in range(len(ranked)):
        ap += (recall[k] - previous) * max(precision[k:])
        previous = recall[k]
    return ap


def test_average_precision_equals_the_reference():
    rng = random.Random(0)
    for _ in range(50):
        n = rng.randint(1, 30)
        scores = [rng.random() for _ in range(n)]
        correct = [rng.random() < 0.5 for _ in range(n)]
        n_true = sum(correct) + rng.randint(0, 5) or 1
        got = average_precision(torch.tensor(scores), torch.tensor(correct), n_true)
        assert got == pytest.approx(ap_reference(scores, correct, n_true), abs=1e-12)


def test_average_precision_facts():
    s = torch.tensor([0.9, 0.8, 0.7])
    assert average_precision(s, torch.tensor([True, True, True]), 3) == 1.0  # every true box, ranked first
    assert average_precision(s, torch.tensor([True, False, True]), 2) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert average_precision(s, torch.tensor([False, False, False]), 2) == 0.0
    assert average_precision(s, torch.tensor([True, True, True]), 6) == pytest.approx(0.5)  # half never found
    assert average_precision(torch.zeros(0), torch.zeros(0, dtype=torch.bool), 4) == 0.0
    assert average_precision(torch.zeros(0), torch.zeros(0, dtype=torch.bool), 0) != average_precision(
        torch.zeros(0), torch.zeros(0, dtype=torch.bool), 0
    )  # NaN: a class with no true box is not scored
    with pytest.raises(InvalidArgument):
        average_precision(s, torch.tensor([True, True, True]), 2)


def test_match_takes_predictions_by_score_and_each_true_box_once():
    truth = torch.tensor([[0.0, 0, 10, 10], [20.0, 20, 30, 30]])
    pred = torch.tensor([[0.0, 0, 10, 9], [0.0, 0, 10, 10], [21.0, 20, 30, 30], [50.0, 50, 60, 60]])
    assigned, ious = match(pred, torch.tensor([0.5, 0.9, 0.8, 0.7]), truth, 0.5)
    # the best-scored prediction (1) takes true box 0; prediction 0 finds it taken: a false positive
    assert assigned.tolist() == [-1, 0, 1, -1]
    assert ious.tolist() == pytest.approx([0.0, 1.0, 0.9, 0.0])


def test_mean_average_precision_of_perfect_wrong_and_partial_predictions():
    truths = [
        Detections(torch.tensor([[0.0, 0, 10, 10], [20.0, 20, 30, 30]]), torch.tensor([0, 1])),
        Detections(torch.tensor([[5.0, 5, 15, 15]]), torch.tensor([0])),
    ]
    perfect = [Detections(t.boxes, t.labels, torch.ones(len(t.labels))) for t in truths]
    r = mean_average_precision(perfect, truths, num_classes=3)
    assert r["map"] == 1.0 and r["matched_iou"] == 1.0 and r["n_matched"] == 3 == r["n_true"]
    assert r["ap"][:2] == [1.0, 1.0] and r["ap"][2] != r["ap"][2]  # class 2 has no true box: NaN, left out
    wrong_class = [Detections(t.boxes, 1 - t.labels, torch.ones(len(t.labels))) for t in truths]
    assert mean_average_precision(wrong_class, truths, 3)["map"] == 0.0
    # image 1's box found, image 0's class-0 box missed: class 0 recall 1/2 at precision 1
    partial = [
        Detections(torch.tensor([[20.0, 20, 30, 30]]), torch.tensor([1]), torch.tensor([0.9])),
        Detections(torch.tensor([[5.0, 5, 15, 14]]), torch.tensor([0]), torch.tensor([0.8])),
    ]
    r = mean_average_precision(partial, truths, 3)
    assert r["ap"][:2] == pytest.approx([0.5, 1.0]) and r["map"] == pytest.approx(0.75)
    assert r["matched_iou"] == pytest.approx((1.0 + 0.9) / 2)
    with pytest.raises(InvalidArgument):
        mean_average_precision(partial[:1], truths, 3)
