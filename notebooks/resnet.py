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
# # Residual networks (EE-559 6.5, practical 6)
# Stacking more layers should never make a network *worse* in principle (the extra layers
# could learn the identity), yet a deep plain network trains worse than a shallower one:
# the gradient that reaches its first layers is the product of one factor per layer, and
# it vanishes (or explodes). A residual block computes `relu(x + f(x))` instead of
# `relu(f(x))`: the identity is the default, and the gradient has a direct path back
# through every `+ x`.
#
# The practical's experiment: the same deep network with and without skip connections,
# with and without batch normalisation. First, the norm of the gradient that each block's
# first convolution receives at initialisation; then the four networks trained the same way.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": a deeper, wider net at full resolution (CI runs "tiny")
result = run_lab("resnet", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# Read the gradient figure from right (the output side) to left (the input side). Without
# skip connections and without batch norm, every block multiplies the gradient by a factor
# below one: at the first block it is many orders of magnitude smaller than at the last,
# so the first blocks do not learn at all (the red training curve stays at chance, ln 10).
# Batch norm alone rescales the activations but not the gradient path: without skip
# connections the gradient now *grows* towards the input, and training is slow. With skip
# connections the gradient stays within a small factor across the whole depth.
#
# ## The block
# The whole lesson fits in one `forward`:

# %%
import inspect

from dlc.labs.resnet import ResBlock

print(inspect.getsource(ResBlock.forward))

# %% [markdown]
# A block whose convolutions output zero is exactly the identity (up to the final ReLU of
# non-negative inputs): this is why a residual network can be made deeper without
# becoming harder to fit.

# %%
import torch

block = ResBlock(4, batch_norm=False)
for conv in (block.conv1, block.conv2):
    torch.nn.init.zeros_(conv.weight)
    torch.nn.init.zeros_(conv.bias)
x = torch.rand(1, 4, 5, 5)  # non-negative, like the output of the previous block's ReLU
print("identity:", torch.equal(block(x), x))

# %% [markdown]
# ## Exercise
# 1. Make the network deeper (`dlc run resnet --blocks 30`): how small does the plain
#    net's first gradient get, and does the residual net still train?
# 2. With `--blocks 4` the plain net trains too: find the depth at which it stops.
# 3. Write `ResBlock.forward` yourself (the lines between `BEGIN SOLUTION` and
#    `END SOLUTION` in `src/dlc/labs/resnet.py`) and run the lab's test.
