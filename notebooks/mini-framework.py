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
# # A framework without autograd (EE-559 mini-project 2)
# The mini-project asks for a deep-learning framework built on tensor operations only:
# each module caches what it needs in `forward`, and `backward` turns the gradient of its
# output into the gradient of its input while accumulating its parameters' gradients.
# The lab trains 2 -> 25 -> 25 -> 25 -> 2 on the disc set (1,000 + 1,000 points) with
# MSE and SGD, autograd off. Look at the loss curve and at the learned regions: the
# network draws a polygonal disc out of ReLU half-planes.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("mini-framework", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The modules are small enough to read, and each one can be checked against autograd.
# Here is one Linear layer's backward next to torch's (in the exercise version of this
# notebook, your own `Linear` from the task above):

# %%
import torch

from dlc.labs.mini_framework import Linear

layer = Linear(3, 2).to(dtype=torch.float64)
x = torch.randn(4, 3, dtype=torch.float64)
grad_out = torch.randn(4, 2, dtype=torch.float64)
layer.forward(x)
grad_in = layer.backward(grad_out)

w = layer.weight.clone().requires_grad_()
b = layer.bias.clone().requires_grad_()
xr = x.clone().requires_grad_()
(xr @ w.t() + b).backward(grad_out)
print("input gradient equal:", torch.allclose(grad_in, xr.grad, rtol=1e-12))
print("weight gradient equal:", torch.allclose(layer.grad_weight, w.grad, rtol=1e-12))

# %% [markdown]
# ## Exercise
# The mini-project allowed Tanh as well as ReLU. Train with Tanh
# (`run_lab("mini-framework", activation="tanh")` or `dlc run mini-framework --activation tanh`):
# does it reach the same test error in 50 epochs? Then find the smallest hidden size that
# still gets under 5% test error (`hidden=8`, `hidden=4`, ...), and look at how the regions'
# figure changes: fewer units, fewer straight edges around the disc.

# %% [markdown]
# ## The mini-project itself
# The project asked for a whole framework, not only the backward passes: a folder (a
# Python package) whose modules define `Linear`, `ReLU`, `Tanh`, `Sequential`, `LossMSE`
# (each with `forward`, `backward` and `param()`) and `SGD(model.param(), lr)`.
# `dlc check mini-framework path/to/your_package` grades such a folder: each module's
# backward against torch.autograd, the project's scenario (this disc set, 2 -> 25 -> 25 ->
# 25 -> 2, train and test error) and the rule that autograd stays off.
