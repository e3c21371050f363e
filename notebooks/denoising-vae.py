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
# # Denoising and variational auto-encoders (EE-559 9.3)
# Two ways to make an auto-encoder learn more than "copy the input through a bottleneck".
#
# **Denoising.** Corrupt the input (here Gaussian noise, or a fraction of the pixels set to
# 0) and ask for the *clean* image. To undo noise the network must know what digits look
# like: the reconstruction is pulled back to the digits' manifold. We score it with the
# PSNR, 10 log10(1 / MSE) in dB against the clean digit, and compare it with the noisy
# input's own PSNR and with a 3 x 3 mean filter (a denoiser that knows nothing about digits).
#
# **Variational.** To *generate* digits, the codes must follow a known distribution we can
# sample. A VAE's encoder outputs a Gaussian q(z|x) = N(mu(x), sigma(x)^2) instead of one
# code, the decoder a distribution p(x|z) over images (here Bernoulli pixels), and both are
# trained to maximise the evidence lower bound
#
#     ELBO(x) = E_{z ~ q(z|x)} [log p(x|z)] - KL(q(z|x) || N(0, I))  <=  log p(x)
#
# The expectation is estimated with one z = mu + sigma * eps, eps ~ N(0, I): the
# *reparameterisation trick*, which lets the gradient reach mu and sigma. After training,
# decoding z ~ N(0, I) gives new digits. Whether they look like digits is judged by a digit
# classifier that dlc trains once and caches (`dlc.judge`): the Fréchet distance between
# the features of samples and of real test digits, compared with the untrained decoder
# (the ceiling) and with two halves of real digits (the floor).

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": all of MNIST (CI runs "tiny")
result = run_lab("denoising-vae", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# What to see: in **denoising** the auto-encoder's digits are clean strokes (a bit
# blurred) where the mean filter only spreads the noise; **denoiser_psnr** shows the gain
# appear within the first epoch. In **elbo**, the bound rises fast and then slowly; its
# right panel shows the trade-off inside it: the reconstruction term improves while the
# KL term *grows* (the codes start to carry information, which costs nats against the
# prior). **vae_samples** puts real digits, VAE samples and the untrained decoder's output
# side by side with their Fréchet distances.
#
# The KL term has a closed form for two Gaussians; check it against `torch.distributions`:

# %%
import torch
from torch.distributions import Normal, kl_divergence

from dlc.models.autoencoders import gaussian_kl

mu, logvar = torch.randn(3, 4), torch.randn(3, 4)
closed_form = gaussian_kl(mu, logvar)
library = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
print(closed_form, library)

# %% [markdown]
# ## Exercise
# 1. Masking noise: `run_lab("denoising-vae", noise="mask", noise_level=0.5)`. How does the
#    mean filter fare against missing pixels, compared with Gaussian noise?
# 2. Turn the noise up (`noise_level=1.0`): the noisy input's PSNR falls; does the
#    denoiser's fall as much?
# 3. A VAE with a 2-D latent space (`vae_latent=2`): the ELBO is lower (why?). Decode a grid
#    of z values in [-2, 2]^2 with `VAE.decode` to see how the digits are laid out.
