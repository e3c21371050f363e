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
# # Conditional GANs and image-to-image translation (EE-559 10.3)
# A GAN's generator maps noise to samples; nothing says *which* sample. A **conditional
# GAN** gives the class (or any other information) to both players: the generator draws
# `G(z, y)` and the discriminator judges pairs `D(x, y)`. A well drawn "3" presented as a
# "7" is now a fake, so the generator must obey the label.
#
# This lab trains a small conditional DCGAN on MNIST and asks dlc's own digit classifier
# (the "judge", trained once and cached) which digit each sample shows; it also reports the
# Fréchet distance of the samples to real test digits, against the untrained generator
# (the ceiling) and real digits (the floor). Then it trains pix2pix on a toy translation:
# coarse label maps of synthetic shapes -> images.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": more data and samples (CI runs "tiny")
result = run_lab("cgan", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# Each row of the sample figure asked for one digit. Before training the judge reads the
# requested digit in about 10% of the samples: chance. After training it reads it in most.
# The per-digit numbers show which classes are still hard for the generator:

# %%
for digit, acc in enumerate(result.metrics["per_digit_accuracy"]):
    print(f"requested {digit}: judged right in {acc:.0%}")

# %% [markdown]
# ## How the discriminator sees the class
# The generator reads the class as a one-hot code concatenated with the noise. The
# discriminator here is a *projection discriminator*: from the image it computes features
# `h`, and its logit is `linear(h) + <embed(y), h>`. The class embedding starts at zero, so
# at first the label changes nothing; during training it learns, per class, the direction of
# features that "look like this digit". Poke at it: the same image scores differently under
# different labels once the embedding is not zero.

# %%
import torch

from dlc.labs.cgan import CondGenerator, ProjectionDiscriminator

torch.manual_seed(0)
G, D = CondGenerator(z_dim=32, channels=16), ProjectionDiscriminator(channels=16)
G.eval()  # batch normalisation in eval mode: one image at a time
with torch.no_grad():
    x = G(torch.randn(1, 32), torch.tensor([3]))
D.eval()
print("zero embedding, labels 0..9:", [round(float(D(x, torch.tensor([k]))), 3) for k in range(10)])
torch.nn.init.normal_(D.embed.weight, std=0.05)
print("random embedding, labels 0..9:", [round(float(D(x, torch.tensor([k]))), 3) for k in range(10)])

# %% [markdown]
# ## pix2pix: when the input does not decide the output
# In image-to-image translation the condition is a whole image. Trained with an L1 loss
# alone, a network predicts, pixel by pixel, the *median* of everything the input allows.
# Here the label map fixes where the shapes are and what they are, but never their colours
# (random in every image): the median of random colours is grey, so the L1-only network
# draws grey shapes on a grey background, the colour counterpart of the blur seen in
# photographs. pix2pix adds a conditional discriminator that looks at (input, output) pairs
# patch by patch (PatchGAN); grey images are easy to tell from real ones, so the generator
# is pushed towards outputs that look like one real sample, at the price of a higher L1
# error (it no longer minimises L1 alone). The lab measures both:

# %%
m = result.metrics
for k in ("l1", "pix2pix", "real"):
    print(
        f"{k:8} saturation {m[k + '_saturation']:.3f}  sharpness {m[k + '_sharpness']:.4f}  L1 error {m[k + '_l1_error']:.3f}"
    )

# %% [markdown]
# A GAN trained for a few seconds is far from perfect: pix2pix's outputs carry artefacts
# (textures, checkerboards from the transposed convolutions) and their colours are not
# yet those of the target, which no model could know. The point is the direction: the
# adversarial term moves the outputs away from the grey average towards plausible images.
#
# ## Exercise
# 1. Give the exact mask (`coarse=1`): the shapes are then fully determined. Does L1-only
#    still draw grey shapes? Which part of the output is still undetermined?
# 2. Raise the L1 weight to the paper's 100 (`l1_weight=100`): how do saturation and L1
#    error of pix2pix move? And with `l1_weight=0` (a pure conditional GAN)?
# 3. Replace the projection discriminator by one that only sees the image (set the class
#    embedding to zero and freeze it): does the generator still obey the requested digit?
