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
# # Looking at parameters (EE-559 8.1)
# What has a trained network learned? For the first layer of a convnet the answer can be
# *looked at*: each filter is a small image (here 5 x 5, 32 of them) that the layer correlates
# with every patch of the input, so a filter that detects a stroke of some orientation looks
# like that stroke. Deeper layers mix many channels and are much harder to read this way
# (that is what the next labs — activations, saliency, optimizing inputs — are for).
#
# The lab trains the first lecture's convnet for a few epochs and shows the filters before
# and after training, and the difference: what training wrote into them. It measures each
# filter's *spatial smoothness*, the correlation between neighbouring weights: about 0 for
# the random initialisation, higher when neighbouring weights agree (blobs, bars, edges).

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": all of MNIST, 10 epochs (CI runs "tiny")
result = run_lab("parameters", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# After a few epochs the filters still carry most of their initial noise (the initial
# weights are not forgotten, only added to), but the *change* is smooth: blobs and oriented
# bars, the shapes of strokes and stroke edges at the scale of a 5 x 5 patch. With more
# training (`size = "full"`) the change grows and the filters themselves look smoother.
#
# ## The measure, on filters we know
# Smoothness is the correlation of each weight with its right and lower neighbours, the
# filter's mean removed first.

# %%
import torch

from dlc.labs.parameters import smoothness

x = torch.arange(5.0)
examples = {
    "white noise": torch.randn(1, 5, 5),
    "horizontal ramp": x.expand(5, 5).reshape(1, 5, 5),
    "vertical edge": (x >= 2.5).float().expand(5, 5).reshape(1, 5, 5),
    "checkerboard": ((x[:, None] + x[None, :]) % 2).reshape(1, 5, 5),
}
for name, f in examples.items():
    print(f"{name:16} smoothness {float(smoothness(f)):+.2f}")

# %% [markdown]
# ## Exercise
# 1. Train longer (`run_lab("parameters", epochs=20)`): how does the mean smoothness of the
#    trained filters grow, and the relative change `result.metrics["relative_change"]`?
# 2. Add weight decay in a copy of the lab (`torch.optim.SGD(..., weight_decay=1e-3)`): it
#    shrinks what the data does not support, i.e. the initial noise. Are the filters smoother?
# 3. Compute the smoothness of the second layer's filters (`model.conv2.weight`, 64 x 32 x 5 x 5)
#    before and after training: is the effect as clear on a layer that sees feature maps
#    instead of pixels?
