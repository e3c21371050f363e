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
# # Auto-encoders (EE-559 9.2)
# An auto-encoder is two networks trained as one: an *encoder* f maps an image x to a short
# code z = f(x) of d numbers, and a *decoder* g maps the code back to an image, and both
# are trained so that g(f(x)) is close to x. Nothing tells them what the code should mean;
# the only pressure is the bottleneck: d numbers must carry what distinguishes one digit
# from another.
#
# If f and g were linear, the best they could do is PCA: project on the d directions of
# largest variance. A convolutional encoder (convolutions with stride 2 down to d numbers)
# and decoder (transposed convolutions back up, lecture 9.1) can bend the code around the
# digits' manifold, and should reconstruct better with the same d. The lab trains one
# auto-encoder per d and fits PCA on the same training digits, and compares their test
# errors (mean squared error per pixel, pixels in [0, 1]).

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": all of MNIST (CI runs "tiny")
result = run_lab("autoencoder", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# Read the figures in this order:
# - **error_vs_dim**: PCA's test error for every d from 1 to 64 (the line) and the
#   auto-encoders' (the dots). The dots are well below the line: the non-linear code is
#   worth several extra PCA components (read how many: the d at which the PCA line reaches
#   the dot's height).
# - **reconstructions**: the PCA images are blurred superpositions of "eigen-digits"
#   (and sometimes the wrong digit); the auto-encoder's are blurred too (the squared error
#   rewards the average of what it cannot tell apart) but keep the digit's identity.
# - **interpolation**: from a test digit a to another b. In pixel space, (1 - t) a + t b
#   is a cross-fade: the middle images are two half-bright digits on top of each other,
#   which no one would write. Decoding (1 - t) f(a) + t f(b) walks through the code space
#   instead, and the middle images are (blurry) single strokes that change shape.
#
# Why PCA is the linear optimum: for orthonormal directions (the rows of P), the best
# reconstruction of x is its projection, and the error left is the variance not captured.
# The lab computes all of PCA's errors at once from the coordinates:

# %%
import torch

from dlc import prologue
from dlc.stats import pca

x, _, xt, _ = prologue.load(train_size=1000, test_size=200, flatten=True)
x, xt = x / 255, xt / 255
mean, P = pca(x)
coords = (xt - mean) @ P[:8].T  # the 8 numbers PCA keeps per digit
reconstruction = coords @ P[:8] + mean
print("PCA d=8, test MSE per pixel:", float((reconstruction - xt).pow(2).mean()))
print("directions orthonormal:", torch.allclose(P[:8] @ P[:8].T, torch.eye(8), atol=1e-4))

# %% [markdown]
# The auto-encoder's step for the training loop is four lines: reconstruct, squared
# error, backward, Adam step (`ReconstructionStep` in `src/dlc/labs/autoencoder.py`); the
# model is `dlc.models.autoencoders.AutoEncoder`.
#
# ## Exercise
# 1. Try d = 2 and d = 64 (`run_lab("autoencoder", latent_dims="2,8,64")`). At d = 2 the
#    auto-encoder is barely ahead of PCA after 10 epochs: train longer (`epochs=40`) or
#    on more digits (`train_size=5000`). Does the gap open? What about d = 64?
# 2. Train the lecture's own network (`arch="lecture", width=32`): five convolutions, no
#    linear layer. Is it better at the same d and the same number of epochs? How much
#    slower?
# 3. Make the code *linear*: replace the encoder and decoder by a single `nn.Linear` each
#    (no ReLU). Trained to convergence it cannot beat PCA: why? Check it.
