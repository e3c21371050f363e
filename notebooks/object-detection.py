# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A one-stage detector (EE-559 7.3)
# A detector must say *where* each object is and *what* it is, for a number of objects it
# does not know in advance. One-stage detectors (YOLO, SSD) turn this into a fixed-size
# output: the image is cut into a grid of cells, and every cell predicts whether an
# object's centre falls in it (objectness), the object's class, and its box. The output
# is then a tensor like any other, and the loss a sum of familiar pieces: binary
# cross-entropy for objectness, cross-entropy for the class, L1 for the box.
#
# At test time every cell proposes a box with a score; neighbouring cells often see the
# same object, so *non-maximum suppression* keeps the best-scored box and removes those
# that overlap it too much. Detections are scored by *average precision*: sort them by
# score, match each to an unmatched true box of IoU >= 0.5, and take the area under the
# precision-recall curve; mAP@0.5 is its mean over the classes.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": 64-pixel images and more of them (CI runs "tiny")
result = run_lab("object-detection", size=size)
print(result.line)
print("AP@0.5 per class:", {k: round(v, 2) for k, v in result.metrics["ap50"].items()})

# %%
from IPython.display import Image, display

for name in ("detections", "ap_per_class", "curves"):
    display(Image(filename=str(result.run_dir / f"{name}.png")))

# %% [markdown]
# ## IoU and non-maximum suppression, by hand
# The box utilities live in `dlc.vision.boxes`. Three boxes: two overlap a lot, the third
# is elsewhere. NMS at IoU 0.5 keeps the best of the first two and the third.

# %%
import torch

from dlc.vision.boxes import average_precision, box_iou, nms

boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 1, 11, 11], [20.0, 20, 30, 30]])
scores = torch.tensor([0.7, 0.9, 0.8])
print(box_iou(boxes, boxes))
print("kept, best first:", nms(boxes, scores, 0.5).tolist())

# %% [markdown]
# Average precision rewards ranking the right boxes first. Four detections of which the
# 1st, 2nd and 4th (by score) are right, for 4 true boxes: precision 1, 1, 2/3, 3/4 at
# recall 1/4, 2/4, 2/4, 3/4, and one true box never found.

# %%
print(average_precision(torch.tensor([0.9, 0.8, 0.7, 0.6]), torch.tensor([True, True, False, True]), 4))

# %% [markdown]
# ## Exercise
# 1. Turn NMS off (`run_lab("object-detection", nms_iou=1.0)`): how many more boxes, and
#    what happens to the precision? Then suppress too much (`nms_iou=0.0`).
# 2. The loss weighs the box term by 5 (see `detection_loss`). Set it to 1 in a copy of
#    the lab: which of mAP@0.5 and the matched boxes' IoU suffers?
# 3. Raise `--min_score` to 0.5: mAP@0.5 can only go down (why?), but the figure is cleaner.
