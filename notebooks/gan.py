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
# # Generative adversarial networks (EE-559 10.1)
# A GAN trains two networks against each other. The generator $G$ maps noise $z$ to a sample;
# the discriminator $D$ outputs the probability that a sample is real. $D$ is trained as a
# plain classifier (real: 1, generated: 0); $G$ is trained to make $D$ say 1 on its samples.
# At the equilibrium of this game the generated distribution equals the data distribution,
# and $D$ outputs 1/2 everywhere.
#
# Nothing in the losses says "how good are the samples": each player's loss is measured
# against an opponent that keeps changing, so a falling generator loss may only mean a
# weaker discriminator (the `wgan` lab shows a loss that does track quality). So
# this lab *measures* the samples from outside the game: on a 2-D ring of 8 Gaussians with
# the sliced Wasserstein distance to held-out real points, and on MNIST with the Fréchet
# distance in the feature space of a digit classifier that dlc trains once (`dlc.judge`).
# Each number comes with the untrained generator (the ceiling) and real data (the floor).

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": all of MNIST (CI runs "tiny")
result = run_lab("gan", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# ## Reading the figures
# - **The ring**: the untrained generator puts every sample in a small blob near the origin.
#   During training the samples spread, often over a few modes only, then (with luck and
#   enough steps) over the whole ring. A mode counts as *covered* when at least 2% of the
#   samples fall within 3 standard deviations of its centre (a fair share is 1/8 = 12.5%).
#   When the generator keeps only some modes, it has *collapsed*: each sample looks real,
#   but the distribution is not the data's. The discriminator alone cannot prevent it,
#   since it judges samples one by one.
# - **The digits**: the same noise vectors in every row, so one column follows one sample
#   through training. The judge also says which digit each sample is; the bar chart shows the
#   shares: a digit with no bar is a collapsed mode.
#
# The discriminator's and generator's losses over an epoch, per game, are in the metrics:

# %%
import json

records = [json.loads(s) for s in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
for r in records:
    if r.get("kind") == "epoch" and r.get("trainer") == "mnist":
        print(f"epoch {r['epoch']:3}  D loss {r['train_d_loss']:.3f}  G loss {r['train_g_loss']:.3f}")

# %% [markdown]
# ## The step, poked at directly
# The lab's `LectureGANStep` (the library's `GANStep` with the lecture's two losses written in
# the lab) does, for each batch, one discriminator step and one generator step.
# The generator's loss is the "non-saturating" one: it *maximises* $\log D(G(z))$ rather
# than minimising $\log(1 - D(G(z)))$. Both have the same fixed point, but early in training
# $D$ rejects every generated sample easily, and then the second one has almost no gradient:

# %%
import torch

d_logit = torch.linspace(-8, 0, 5, requires_grad=True)  # D is sure the samples are fake
saturating = torch.log1p(-torch.sigmoid(d_logit)).sum()  # G minimises log(1 - D)
non_saturating = -torch.nn.functional.logsigmoid(d_logit).sum()  # G minimises -log D
(g_sat,) = torch.autograd.grad(saturating, d_logit)
(g_ns,) = torch.autograd.grad(non_saturating, d_logit)
for x, a, b in zip(d_logit.tolist(), g_sat.tolist(), g_ns.tolist()):
    print(f"D(G(z)) = {torch.sigmoid(torch.tensor(x)).item():.4f}: gradient {a:+.4f} (log(1-D)) vs {b:+.4f} (-log D)")

# %% [markdown]
# ## Exercise
# 1. Change `LectureGANStep.generator_loss` (in a copy of `src/dlc/labs/gan.py`, run with
#    `dlc run my_gan.py`) to the saturating loss
#    $\log(1 - D(G(z)))$. How do the ring's distance and the covered modes change?
# 2. Make the discriminator weaker or stronger: `--lr` is shared by both players; give the
#    discriminator its own learning rate and try 10x smaller and 10x larger.
# 3. Run the ring with more modes (`--modes 16`) or narrower ones (`--ring_std 0.05`): how many
#    modes does the generator cover after the same number of epochs? Does it improve with
#    `--epochs_2d 100`?
