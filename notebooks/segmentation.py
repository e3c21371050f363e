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
# # Semantic segmentation with a small U-Net (EE-559 7.4)
# Semantic segmentation gives every pixel a class. A classification convnet pools its
# feature maps down to a vector; a *fully-convolutional* net keeps them as maps, and a
# decoder brings them back to the image's size, here with transposed convolutions that
# double the height and width. The deep, coarse maps know *what* a shape is (they see all
# of it); the early, fine maps know *where* its edges are. The U-Net's skip connections
# concatenate the fine maps to the decoder's at each resolution, so the output can have
# both. The lab trains the same net with and without them, and compares both with the
# trivial segmentation: every pixel background.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": 64-pixel images and more of them (CI runs "tiny")
result = run_lab("segmentation", size=size)
print(result.line)
print("IoU per class, U-Net:", {k: round(v, 2) for k, v in result.metrics["iou"].items()})
print("IoU per class, no skips:", {k: round(v, 2) for k, v in result.metrics["no_skip_iou"].items()})

# %%
from IPython.display import Image, display

for name in ("masks", "iou_per_class"):
    display(Image(filename=str(result.run_dir / f"{name}.png")))

# %% [markdown]
# Look at the squares in the "no skips" row: from maps of a quarter of the image's size,
# the corners are blurred away, and a square with rounded corners looks like a circle.
#
# ## Pixel accuracy flatters; IoU does not
# Most pixels are background, so labelling every pixel background is already right about
# 80% of the time. The IoU of a class (pixels where prediction and truth are both that
# class, over pixels where either is) gives the all-background guess 0 for every shape
# class. The functions are in `dlc.vision.metrics`:

# %%
import torch

from dlc.data.shapes import shapes
from dlc.vision.metrics import class_iou, pixel_accuracy

s = shapes(100, size=32, seed=1)
guess = torch.zeros_like(s.masks)
print(f"all background: pixel accuracy {pixel_accuracy(guess, s.masks):.1%}")
print("IoU per class (background, square, circle, triangle):", class_iou(guess, s.masks, 4).tolist())

# %% [markdown]
# ## The transposed convolution doubles the size
# A 2x2 transposed convolution with stride 2 spreads each input value over a 2x2 block of
# the output (weighted by its kernel): the adjoint of a 2x2 convolution with stride 2.

# %%
up = torch.nn.ConvTranspose2d(1, 1, 2, stride=2, bias=False)
with torch.no_grad():
    up.weight.copy_(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]))
    print(up(torch.tensor([[[[1.0, 10.0]]]])))

# %% [markdown]
# ## Exercise
# 1. Make the net narrower (`run_lab("segmentation", width=4)`) and wider (`width=16`):
#    does the no-skip net catch up with more channels, or is detail lost for good?
# 2. Train longer (`epochs=20`): does the gap between the two nets close?
# 3. In a copy of the lab, replace the transposed convolutions by
#    `nn.Upsample(scale_factor=2)` followed by a 3x3 convolution: is anything lost?
