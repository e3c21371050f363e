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
# # Benefits of depth (EE-559 6.1)
# A network of linear layers and ReLUs computes a *piecewise-linear* function: wherever
# no unit switches on or off, it is affine. On a 1-D input, a shallow network
# 1 -> H -> 1 bends only where one of its H units switches, so it has at most H + 1
# linear pieces, for 3H + 1 parameters. Depth changes this: a layer can *fold* the
# output of the layer below, and folds compose. The number of pieces a deep network can
# make grows exponentially with its depth, at a parameter cost that grows only linearly.
#
# The lab builds such a network by hand and compares it with the best shallow network of
# the same size.

# %%
from dlc.labs import run_lab

size = "default"  # the lab is exact and quick at every size (CI runs "tiny")
result = run_lab("depth", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# ## The fold
# The tent map t(x) = 2 relu(x) - 4 relu(x - 1/2) goes up from 0 to 1 on [0, 1/2] and
# back down on [1/2, 1]: two ReLUs, two pieces. Feed it its own output and each of the two
# halves of [0, 1] is mapped onto the whole of [0, 1] again, so the second tent is drawn
# *twice*: four pieces. Every extra layer of two units doubles the count.

# %%
import torch

from dlc.labs.depth import deep_sawtooth_net, sawtooth
from dlc.models.deep import count_pieces, parameter_count

x = ((torch.arange(1 << 14, dtype=torch.float64) + 0.5) / (1 << 14)).unsqueeze(1)
for depth in (1, 2, 3, 8):
    net = deep_sawtooth_net(depth).double()
    same = torch.equal(net(x), sawtooth(x, depth))
    pieces = count_pieces(net, x)
    print(f"{depth} layers: {parameter_count(net):3d} parameters, {pieces:4d} pieces, equals the composed tent: {same}")

# %% [markdown]
# A shallow network with as many parameters has only about a third as many units, hence
# pieces; the best it can do against a fine sawtooth (its output layer solved by least
# squares) is a nearly flat line at the mean, an MSE equal to the target's variance.
#
# Depth buys *representational* power. Whether gradient descent finds such a solution is
# another question: the count above is what the weights allow, not what training reaches.
#
# ## Exercise
# 1. Train `dlc.models.deep.deep_mlp(1, 2, 6, 1)` (same shape as the construction) on the
#    6-layer sawtooth with Adam from a random initialisation. How many pieces does it end
#    with (`count_pieces`)? Try a wider net, `deep_mlp(1, 8, 6, 1)`, and a shallow one with as
#    many parameters. Which one fits better, and is the answer the same for every seed?
# 2. A shallow net needs 2^L - 1 units to have 2^L pieces. How many parameters is that for
#    L = 10, against the deep construction's 6L + 1?
# 3. `count_pieces` counts changes of the on/off pattern. Why can it count more pieces than
#    there are visible corners in the output (hint: a unit whose output weight is 0)?
