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
# # L2 and L1 penalties (EE-559 5.4)
# A linear classifier on MNIST, trained with no penalty, with an L2 penalty (weight decay),
# and with an L1 penalty applied two ways: its plain subgradient, and its proximal step
# (soft-thresholding: shrink towards zero, stop at zero). Look at the weight images (exact
# zeros in black) and the histogram: L2 shrinks everything a little, the L1 subgradient makes
# weights tiny but never zero, the proximal step makes them exactly zero.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("penalties", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# Why the subgradient never lands on zero: a weight at 0.0003 with lr * lambda = 0.0005
# jumps to -0.0002, then back to 0.0003, forever. The proximal step stops at zero.

# %%
import torch
from dlc.labs.penalties import soft_threshold

w = torch.tensor([0.0003])
for step in range(4):
    print("subgradient:", (w := w - 0.0005 * w.sign()).item())
print("proximal:   ", soft_threshold(torch.tensor([0.0003]), 0.0005).item())

# %% [markdown]
# ## Exercise
# Find the largest L1 weight `l1` for which the test error stays within one point of the
# unpenalised model's (`run_lab("penalties", l1=1e-2)`, `dlc run penalties --l1 1e-2`):
# how many pixels does the classifier still look at? Then check that `torch.optim.SGD(...,
# weight_decay=wd)` is the L2 penalty with lambda = wd / 2 (`weight_decay_difference` in
# the lab does it step by step).
