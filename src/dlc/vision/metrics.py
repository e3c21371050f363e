"""Segmentation scores (EE-559 7.4): confusion matrix, pixel accuracy, per-class IoU.

Predictions and targets are integer class maps of the same shape (e.g. N x H x W,
0 for background). The scores are those of the whole set (pixels of every image pooled),
as segmentation benchmarks report them, not means of per-image scores.
"""

from __future__ import annotations

import torch

from dlc.errors import InvalidArgument


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The K x K matrix (int64) whose entry [i, j] counts the pixels of true class i
    predicted as class j."""
    if pred.shape != target.shape:
        raise InvalidArgument(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.dtype.is_floating_point or target.dtype.is_floating_point:
        raise InvalidArgument("pred and target must be integer class maps (e.g. scores.argmax(1)), not floats")
    p, t = pred.reshape(-1).long(), target.reshape(-1).long()
    for name, x in (("pred", p), ("target", t)):
        if len(x) and (x.min() < 0 or x.max() >= num_classes):
            raise InvalidArgument(f"{name} holds classes outside 0..{num_classes - 1}: {x.min()}..{x.max()}")
    return torch.bincount(t * num_classes + p, minlength=num_classes * num_classes).view(num_classes, num_classes)


def pixel_accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """The fraction of pixels whose predicted class is the true one."""
    if pred.shape != target.shape or pred.numel() == 0:
        raise InvalidArgument(
            f"pred and target must have the same, non-empty shape: {tuple(pred.shape)}, {tuple(target.shape)}"
        )
    return float((pred == target).double().mean())


def class_iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per class k, |pred = k and target = k| / |pred = k or target = k| (float64, K);
    NaN for a class absent from both."""
    cm = confusion_matrix(pred, target, num_classes).double()
    inter = cm.diag()
    union = cm.sum(0) + cm.sum(1) - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(inter, float("nan")))


def mean_iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> float:
    """The mean of :func:`class_iou` over the classes present in pred or target."""
    return float(class_iou(pred, target, num_classes).nanmean())
