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
# # Autograd (EE-559 4.1-4.2)
# Autograd records the operations applied to tensors that require a gradient; the record
# (the tape) is a directed acyclic graph, and `backward()` walks it from the output to the
# inputs in reverse topological order, adding up what reaches a value used several times.
# `dlc.scratch.Tensor` is such an engine, written on plain torch tensor operations. The
# lab prints the tape of the lecture's example, draws a DAG with a shared node, and
# compares the gradients of random DAGs with torch.autograd's.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("autograd", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# Build a graph yourself: every operation adds a node; `format_tape` lists them in the
# order the forward pass computed them, and `backpropagate` (the lab's backward pass, or
# yours in the exercise version of this notebook) walks them back.

# %%
import torch
from dlc.labs.autograd import backpropagate
from dlc.scratch import Tensor, format_tape


def build(x):
    y = x * x  # x used twice by one operation
    return (y + x).tanh().sum() + y.mean()  # y used twice by two operations


x = Tensor(torch.tensor([1.0, -2.0, 3.0]), requires_grad=True, name="x")
z = build(x)
print(format_tape(z))
backpropagate(z)
print("dz/dx =", x.grad)

# %% [markdown]
# ## Exercise
# Derive dz/dx for the cell above by hand (z = sum(tanh(x^2 + x)) + mean(x^2)) and check
# the printed gradient. Then make the random DAGs larger (`run_lab("autograd", ops=200)` or
# `dlc run autograd --ops 200`): the gradients still agree to about 1e-15, because each
# node's backward is exact and the engine only adds and chains them.
