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
# # Computer-vision tasks as tensors (EE-559 7.1)
# Classification, detection and segmentation look like different problems, but to a
# convnet they are the same supervised recipe: an image tensor goes in, a tensor of scores
# comes out, and a loss compares it with a target tensor. Only the shapes of the output and
# the target, and the loss, change:
#
# | task | output for a batch of N images | target | loss |
# | --- | --- | --- | --- |
# | classification | N x 3 class scores | N class indices | cross-entropy |
# | localisation (detection of one object) | N x 4 box numbers | N x 4 true boxes | L1 (or MSE) |
# | semantic segmentation | N x 4 x H x W scores per pixel | N x H x W class map | cross-entropy per pixel |
#
# The lab draws synthetic images of squares, circles and triangles (`dlc.data.shapes`),
# trains one small convnet per task for a few epochs, and compares each with the trivial
# predictor a student should always measure first: the most frequent class, the mean box,
# every pixel labelled background.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": 64-pixel images and more of them (CI runs "tiny")
result = run_lab("cv-tasks", size=size)
print(result.line)
print((result.run_dir / "tensors.txt").read_text())

# %%
from IPython.display import Image, display

for name in ("classification", "detection", "segmentation"):
    display(Image(filename=str(result.run_dir / f"{name}.png")))

# %% [markdown]
# ## The targets are just tensors
# One synthetic set holds every target at once: a class per object, a box per object
# (`x0, y0, x1, y1` in pixels, `x1` and `y1` exclusive), and a class per pixel. The
# segmentation target is the same image-sized grid as the input, with one integer per pixel
# instead of three colours, so `F.cross_entropy` takes it as it is: its scores are
# N x C x H x W and its targets N x H x W.

# %%
import torch
import torch.nn.functional as F

from dlc.data.shapes import CLASSES, shapes

s = shapes(4, size=32, objects=(1, 3), seed=0)
print("images", tuple(s.images.shape), s.images.dtype)
print("labels", s.labels.tolist(), "->", [[CLASSES[k] for k in row if k >= 0] for row in s.labels.tolist()])
print("boxes of image 0", s.boxes[0].tolist())
print("mask", tuple(s.masks.shape), s.masks.dtype, "pixels per class:", s.masks.flatten().bincount().tolist())
scores = torch.randn(4, 1 + len(CLASSES), 32, 32)  # what a segmenter outputs
print("per-pixel cross-entropy of random scores:", F.cross_entropy(scores, s.masks).item())

# %% [markdown]
# ## Why the trivial baselines matter
# Most pixels are background, so a segmenter that never finds a shape is already right on
# about 80% of the pixels: pixel accuracy flatters it. The mean IoU (intersection over
# union per class, averaged over background and the three shapes) gives it only about
# 0.2, since it scores zero on every shape class. Likewise, the mean box overlaps a little
# with every box, and the majority class gets a third of the images right. A number means
# something only next to these.
#
# Two design choices in the small nets matter, and are worth reading in
# `src/dlc/labs/cv_tasks.py`: the classifier takes the *maximum* of each feature map over
# the image (a shape is the same shape wherever it is), while the box regressor flattens
# its feature map into a linear layer (where the shape is, is the answer).
#
# ## Exercise
# 1. Replace the classifier's `nn.AdaptiveMaxPool2d(1)` by `nn.AdaptiveAvgPool2d(1)`: at
#    `--tiny` the accuracy drops sharply. Why would averaging hide a small shape?
# 2. Give the box regressor the classifier's pooled features instead of the flattened map:
#    what can it still predict about the box?
# 3. `dlc run cv-tasks --epochs 0`: how do the untrained nets compare with the baselines?
