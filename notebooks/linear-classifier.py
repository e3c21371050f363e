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
# # The probabilistic linear classifier and feature design (EE-559 3.2-3.3)
# With two Gaussian classes of equal covariance, P(Y = 1 | x) is a sigmoid of a linear
# function of x: the linear discriminant (LDA) computes it from the class statistics,
# logistic regression fits it by maximum likelihood. No linear function separates XOR, but
# adding the designed feature x1 x2 does; squares do the same for a disc. Compare the
# decision regions with raw and designed features.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("linear-classifier", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %%
import torch
from dlc.labs.linear_classifier import Config, fit_with, quadratic_features, raw, xor_features, xor_set

x, y = xor_set(400, 0.25, seed=0)
for name, phi in (("raw", raw), ("x1 x2", xor_features), ("squares", quadratic_features)):
    _, error, _ = fit_with(phi, x, y, Config(steps=500))
    print(f"{name:>8}: training error {error:.1%}")

# %% [markdown]
# ## Exercise
# Squares alone do not solve XOR (see above): why? Design the smallest feature map that
# makes the disc set separable, then test whether the XOR fit survives noisier clusters
# (`run_lab("linear-classifier", xor_std=0.5)`): when do the classes stop being separable
# even with x1 x2?
