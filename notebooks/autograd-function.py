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
# # Writing an autograd function (EE-559 5.7)
# A `torch.autograd.Function` is an operation with a hand-written backward: `forward` saves
# what the backward needs, `backward` turns dLoss/d(output) into dLoss/d(inputs). The lab
# writes ReLU, tanh and a linear layer this way, checks each backward against finite
# differences with `torch.autograd.gradcheck` (float64), and trains an MLP made only of them
# on practical 5's disc set next to the same MLP made of torch's modules.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("autograd-function", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# gradcheck can fail: here is a tanh whose backward forgot the square.

# %%
import torch
from torch.autograd import Function


class WrongTanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y)  # should be 1 - y * y


x = torch.randn(5, dtype=torch.float64, requires_grad=True)
print("gradcheck:", torch.autograd.gradcheck(WrongTanh.apply, (x,), raise_exception=False))

# %% [markdown]
# ## Exercise
# Write `MySigmoid` (save the output; the derivative is y (1 - y)), check it with
# `torch.autograd.gradcheck` in float64, add it to `ACTIVATIONS` next to `MyTanh`, and train
# with it. Then run `gradcheck` in float32 on `MyTanh` and explain why it fails.
# From the command line, the tanh version: `dlc run autograd-function --activation tanh`.
