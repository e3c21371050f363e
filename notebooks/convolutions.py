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
# # Convolutions and pooling (EE-559 4.4-4.5)
# A convolution is a dot product between a kernel and every patch of the input. Written as
# that definition it is a loop over output positions; `unfold` first gathers every patch
# into a column, so the layer becomes a single matrix product. Max pooling gathers the same
# patches and takes their max. The lab checks both against `F.conv2d` / `F.max_pool2d`
# (outputs and gradients, float64), times them, and shows what hand-made edge and blur
# filters, then a ReLU and 2x2 max pooling, do to MNIST digits.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("convolutions", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The whole convolution in three lines: patches as columns, then a matrix product.

# %%
import torch
import torch.nn.functional as F

x, w = torch.randn(2, 3, 10, 10), torch.randn(4, 3, 5, 5)
cols = F.unfold(x, kernel_size=5)            # 2 x (3*5*5) x (6*6): one column per position
y = (w.view(4, -1) @ cols).view(2, 4, 6, 6)  # 2 x 4 x 6 x 6
print(cols.shape, y.shape, (y - F.conv2d(x, w)).abs().max().item())

# %% [markdown]
# ## Exercise
# 1. The comparison includes overlapping pools (kernel 3, stride 2) on random inputs, which
#    have no ties. Build an input where two entries of a pool share the maximum (e.g.
#    `torch.ones(1, 1, 4, 4)`) and compare the gradients of `max_pool2d_unfold` and
#    `F.max_pool2d`: where does each send the gradient?
# 2. Write `avg_pool2d` as a convolution with a constant kernel (`conv2d_unfold` with
#    `w = torch.full((C, 1, k, k), 1 / k**2)` applied per channel) and compare.
# `dlc run convolutions --batch 1000` times the three implementations on a bigger batch.
