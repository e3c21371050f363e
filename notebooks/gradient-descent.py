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
# # Gradient descent (EE-559 3.5)
# A linear model fitted to MNIST by least squares, with the gradient and the loop written
# out. The loss is quadratic, so its largest curvature L fixes the critical step 2/L.
# First figure: batch gradient descent, mini-batches of 100 and one-sample SGD at the same
# learning rate, per epoch and per update. Second figure: batch gradient descent with a
# step well below, at half, and above the critical one -- the last one explodes.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("gradient-descent", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The loop itself is four lines (`descend` in `dlc/labs/gradient_descent.py`). Here it is
# on a 2-D least-squares problem, just below and just above the critical step.

# %%
import torch
from dlc.labs.gradient_descent import critical_lr, descend

x = torch.randn(100, 2) * torch.tensor([3.0, 0.5])
t = x @ torch.tensor([[1.0], [-2.0]])
L, lr_max = critical_lr(x)
for factor in (0.9, 1.1):
    _, losses, _ = descend(x, t, factor * lr_max, len(x), 30, torch.Generator().manual_seed(0))
    print(f"lr = {factor} x 2/L: loss {losses[0]:.3g} -> {losses[-1]:.3g}")

# %% [markdown]
# ## Exercise
# One-sample SGD has its own, smaller critical step: a single sample's curvature is about
# 2|x|^2 (here ~1,600). Raise the shared learning rate until SGD blows up while batch
# gradient descent still converges (`run_lab("gradient-descent", lr=2e-3)`,
# `dlc run gradient-descent --lr 2e-3`). Then find the largest lr_factors entry that still
# converges (`--lr_factors 0.9,0.99,1.01`): it should be 1, as the quadratic analysis says.
