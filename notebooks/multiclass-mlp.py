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
# # Multi-class classification with an MLP (ESCAPE T3)
# Points in the unit disc, labelled by their quadrant: four classes. The MLP has two
# hidden layers and four outputs without activation (logits); the cross-entropy applies
# the softmax. Adam with lr 0.002 on the full batch, 50 epochs. The result line compares
# the test accuracy with chance (always answering the most frequent class); the figure
# shows the four decision regions learned around the axes.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("multiclass-mlp", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The data: the class counts quadrants counter-clockwise from the positive x axis
# (0: x > 0, y > 0; 1: x < 0, y > 0; 2: both negative; 3: x > 0, y < 0).

# %%
from dlc.data import toy

x, y = toy.quadrants(6, seed=0)
for point, label in zip(x.tolist(), y.tolist()):
    print(f"({point[0]:+.2f}, {point[1]:+.2f}) -> class {label}")

# %% [markdown]
# ## Exercise
# The learning rate 0.002 is small, and 50 epochs of one full-batch step each are only
# 50 steps: look at the loss curve, is it still falling? Try
# `run_lab("multiclass-mlp", epochs=200)` and `run_lab("multiclass-mlp", lr=0.02)`.
# Then shrink the network (`hidden1=8, hidden2=4`): which errors remain, and where are
# they in the decision-region figure? Points near the axes and the origin are the hard
# ones: why?
