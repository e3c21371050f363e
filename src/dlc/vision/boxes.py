"""Boxes: IoU, non-maximum suppression, average precision (EE-559 7.3).

A box is a row ``(x0, y0, x1, y1)`` with ``x0 <= x1`` and ``y0 <= y1`` (pixels, x1 and
y1 exclusive, so the width is ``x1 - x0``); N boxes are an N x 4 tensor.

- :func:`box_iou`: the N x M matrix of intersection over union;
- :func:`nms`, :func:`batched_nms`: greedy non-maximum suppression (per class);
- :func:`match`: predictions of one image, by decreasing score, to the true boxes;
- :func:`average_precision`: the area under the precision-recall curve of scored,
  matched predictions (all-point interpolation, as PASCAL VOC since 2010);
- :func:`mean_average_precision`: per-class AP over a set of images and their mean
  (mAP@0.5 with the default threshold), with the IoUs of the matched boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from dlc.errors import InvalidArgument


def _check_boxes(boxes: torch.Tensor, name: str = "boxes") -> torch.Tensor:
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise InvalidArgument(f"{name} must be an N x 4 tensor of (x0, y0, x1, y1), got {shape}")
    if len(boxes) and ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
        raise InvalidArgument(f"{name}: every box needs x0 <= x1 and y0 <= y1")
    return boxes


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """The areas (N) of N x 4 boxes: ``(x1 - x0) * (y1 - y0)``."""
    boxes = _check_boxes(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The N x M matrix of intersection over union of boxes ``a`` (N x 4) and ``b`` (M x 4).

    IoU = area(a ∩ b) / (area(a) + area(b) - area(a ∩ b)); 0 where the union is empty
    (two boxes of zero area).
    """
    area_a, area_b = box_area(_check_boxes(a, "a")), box_area(_check_boxes(b, "b"))
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), torch.zeros_like(inter))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: the indices of the boxes kept, by decreasing score.

    Take the best-scored box left, keep it, drop every other box whose IoU with it is
    above ``iou_threshold``; repeat until no box is left.
    """
    _check_boxes(boxes)
    if scores.shape != (len(boxes),):
        raise InvalidArgument(f"nms: scores must have one value per box ({len(boxes)}), got {tuple(scores.shape)}")
    order = scores.argsort(descending=True, stable=True)
    iou = box_iou(boxes[order], boxes[order])
    alive = torch.ones(len(order), dtype=torch.bool, device=boxes.device)
    keep = []
    for i in range(len(order)):  # one pass over the sorted boxes; suppression is vectorised
        if alive[i]:
            keep.append(i)
            alive &= iou[i] <= iou_threshold
    return order[torch.tensor(keep, dtype=torch.int64, device=boxes.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression within each class (boxes of different classes never suppress
    each other); the indices kept, by decreasing score."""
    if classes.shape != scores.shape:
        raise InvalidArgument(f"batched_nms: classes must have one value per box, got {tuple(classes.shape)}")
    kept = [torch.nonzero(classes == c).view(-1) for c in classes.unique()]
    kept = [idx[nms(boxes[idx], scores[idx], iou_threshold)] for idx in kept]
    if not kept:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    kept = torch.cat(kept)
    return kept[scores[kept].argsort(descending=True, stable=True)]


def match(
    pred_boxes: torch.Tensor, pred_scores: torch.Tensor, true_boxes: torch.Tensor, iou_threshold: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Match one image's predictions to its true boxes (all of one class), greedily by
    decreasing score: each prediction takes the unmatched true box it overlaps most, if
    their IoU is at least ``iou_threshold`` (else it is a false positive).

    Returns, in the predictions' order, the index of the matched true box (-1: none) and
    the IoU with it (0: none).
    """
    n = len(_check_boxes(pred_boxes, "pred_boxes"))
    assigned = torch.full((n,), -1, dtype=torch.int64)
    ious = torch.zeros(n)
    if n == 0 or len(_check_boxes(true_boxes, "true_boxes")) == 0:
        return assigned, ious
    iou = box_iou(pred_boxes, true_boxes).cpu()
    taken = torch.zeros(len(true_boxes), dtype=torch.bool)
    for i in pred_scores.argsort(descending=True, stable=True).tolist():
        row = iou[i].masked_fill(taken, -1.0)
        j = int(row.argmax())
        if row[j] >= iou_threshold:
            assigned[i], ious[i], taken[j] = j, row[j], True
    return assigned, ious


def average_precision(scores: torch.Tensor, correct: torch.Tensor, n_true: int) -> float:
    """The area under the precision-recall curve of scored predictions.

    scores: the predictions' scores; correct: whether each matched a true box; n_true:
    how many true boxes there are. Sorted by decreasing score, the k first predictions
    have precision TP_k / k and recall TP_k / n_true; precision is replaced by its
    maximum at any higher recall (the envelope), and AP is the sum over the recall steps
    of (step width) x (envelope precision). No true box: NaN (the class is not scored).
    """
    if scores.shape != correct.shape or scores.dim() != 1:
        raise InvalidArgument("average_precision: scores and correct must be 1-D and of the same length")
    if n_true < 0 or int(correct.sum()) > n_true:
        raise InvalidArgument(f"average_precision: {int(correct.sum())} correct predictions but n_true={n_true}")
    if n_true == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = scores.argsort(descending=True, stable=True)
    tp = correct[order].double().cumsum(0)
    precision = tp / torch.arange(1, len(tp) + 1, dtype=torch.float64)
    recall = tp / n_true
    envelope = precision.flip(0).cummax(0).values.flip(0)
    steps = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((steps * envelope).sum())


@dataclass
class Detections:
    """One image's boxes (N x 4), class indices (N) and, for predictions, scores (N)."""

    boxes: torch.Tensor
    labels: torch.Tensor
    scores: torch.Tensor | None = None


def mean_average_precision(
    predictions: Sequence[Detections], truths: Sequence[Detections], num_classes: int, iou_threshold: float = 0.5
) -> dict:
    """AP per class over a set of images, and their mean (mAP@``iou_threshold``).

    In each image and class, predictions are matched to true boxes by :func:`match`; the
    class's AP ranks its predictions of every image together. Classes with no true box
    are left out of the mean. Returns ``{"map", "ap" (per class, NaN if not scored),
    "matched_iou" (the mean IoU of the matched pairs, NaN if none), "n_matched", "n_pred",
    "n_true"}``.
    """
    if len(predictions) != len(truths):
        raise InvalidArgument(f"{len(predictions)} images of predictions but {len(truths)} of true boxes")
    scores: list[list[torch.Tensor]] = [[] for _ in range(num_classes)]
    correct: list[list[torch.Tensor]] = [[] for _ in range(num_classes)]
    n_true = [0] * num_classes
    matched_ious = []
    n_pred = 0
    for p, t in zip(predictions, truths):
        if p.scores is None:
            raise InvalidArgument("mean_average_precision: the predictions need scores")
        n_pred += len(p.boxes)
        for c in range(num_classes):
            pc, tc = p.labels == c, t.labels == c
            n_true[c] += int(tc.sum())
            assigned, ious = match(p.boxes[pc], p.scores[pc], t.boxes[tc], iou_threshold)
            scores[c].append(p.scores[pc].detach().cpu())
            correct[c].append(assigned >= 0)
            matched_ious.append(ious[assigned >= 0])
    ap = [
        average_precision(torch.cat(scores[c]), torch.cat(correct[c]), n_true[c]) if scores[c] else float("nan")
        for c in range(num_classes)
    ]
    scored = [a for a in ap if a == a]
    ious = torch.cat(matched_ious) if matched_ious else torch.zeros(0)
    return {
        "map": sum(scored) / len(scored) if scored else float("nan"),
        "ap": ap,
        "matched_iou": float(ious.mean()) if len(ious) else float("nan"),
        "n_matched": len(ious),
        "n_pred": n_pred,
        "n_true": sum(n_true),
    }
