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
# # Looking at activations (EE-559 8.2)
# A network's parameters are hard to read beyond the first layer, but what each layer
# *computes* for a given input can be recorded and looked at. PyTorch's forward hooks do
# it without touching the model: `module.register_forward_hook(fn)` calls `fn(module, input,
# output)` at every forward pass.
#
# Two views. The feature maps of the convolutional layers, image by image: the first layer's
# maps still look like the digit; deeper maps are smaller and more abstract. And the last
# hidden layer, where every image is a vector of 200 numbers that the final linear layer must
# separate into ten classes: mapped to 2-D by PCA (the best linear projection for variance) and
# t-SNE (a non-linear map that keeps each point's neighbours close).
#
# How good a representation is can be *measured*: a nearest-neighbour classifier in it.
# The lab compares 1-NN on raw pixels with 1-NN in the hidden layer and in its 2-D maps.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": all of MNIST (CI runs "tiny")
result = run_lab("activations", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The network was never asked to put similar digits close together, only to classify; but to
# classify with one linear layer at the end, it had to make the classes separable, and that
# also makes Euclidean neighbours in the hidden layer more often of the same class than
# neighbours in pixel space (where a slightly shifted digit is far away). t-SNE keeps most of
# that in two dimensions; PCA, a linear projection to 2 of 200 dimensions, loses much of it.
#
# t-SNE's picture must be read with care: the sizes of the clusters and the distances between
# them mean little (it only tries to keep *neighbours*), and a different perplexity or seed
# draws a different map.
#
# ## A hook by hand

# %%
import torch

from dlc.models.convnets import LectureConvNet

net = LectureConvNet()
shapes = {}
handle = net.conv2.register_forward_hook(lambda m, i, o: shapes.update(input=i[0].shape, output=o.shape))
net(torch.randn(5, 1, 28, 28))
handle.remove()
print("conv2 sees", tuple(shapes["input"]), "and computes", tuple(shapes["output"]))

# %% [markdown]
# ## t-SNE on points we understand
# `dlc.tsne.tsne` is a plain, exact implementation (O(n^2)): three groups in 50 dimensions.

# %%
from dlc.tsne import tsne

g = torch.Generator().manual_seed(0)
centres = torch.randn(3, 50, generator=g) * 5
x = torch.cat([c + torch.randn(60, 50, generator=g) for c in centres])
y = tsne(x, perplexity=20, iterations=500)
for k in range(3):
    print(f"group {k}: centre of its map {y[60 * k : 60 * (k + 1)].mean(0).tolist()}")

# %% [markdown]
# ## Exercise
# 1. Run with `perplexity=5` and `perplexity=50` (`run_lab("activations", perplexity=5)`):
#    how do the clusters change, and the 1-NN error in the t-SNE map?
# 2. Record the *second* convolutional layer (flattened, 64 x 4 x 4 = 1,024 values) with
#    `record_activations` and compute its 1-NN error with `nn_error`: is it between the
#    pixels' and the last hidden layer's?
# 3. With `epochs=0` the network is random: how good are random convolutional features for
#    nearest neighbours, compared with pixels?
