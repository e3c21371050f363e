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
# # Wasserstein GANs (EE-559 10.2)
# A plain GAN's discriminator estimates, up to constants, the Jensen-Shannon divergence
# between the real and the generated distributions. When the two barely overlap, as early
# in training, that divergence is stuck near its maximum $\ln 2$ however far apart they
# are, and its gradient vanishes: the discriminator's loss says little about how good the
# samples are.
#
# The Wasserstein-1 distance (the "earth mover's" distance: the least mass times distance
# needed to move one distribution onto the other) does: moving the generated mass closer
# lowers it smoothly. By the Kantorovich-Rubinstein duality it is
# $$W_1(P, Q) = \max_{\|C\|_L \le 1} \; E_{x \sim P}[C(x)] - E_{x \sim Q}[C(x)],$$
# a maximum over 1-Lipschitz functions. A *critic* $C$ trained to maximise that difference
# estimates the distance, and the generator minimises the estimate. Two ways to keep $C$
# Lipschitz:
#
# - **weight clipping** (Arjovsky et al., 2017): clamp every weight to $[-0.01, 0.01]$ after
#   each step (RMSProp, lr 5e-5). Crude: the critic is Lipschitz with *some* constant, not 1;
# - **gradient penalty** (WGAN-GP, Gulrajani et al., 2017): add
#   $\lambda\, E[(\|\nabla C(\hat x)\| - 1)^2]$ on points $\hat x$ between real and generated
#   samples (Adam, betas (0, 0.9)). The paper's $\lambda = 10$ and lr 1e-4 are for images; on
#   this 2-D toy, in a budget of seconds, the lab uses $\lambda = 1$ and lr 1e-3 (the authors'
#   own toy script lowers $\lambda$ to 0.1).
#
# Both take 5 critic steps per generator step. The lab trains them and the plain GAN of
# the `gan` lab on the same ring of 8 Gaussians, with the same networks from the same
# initial weights and the same number of generator updates. Each critic (and the GAN's
# discriminator) is first warmed up alone against the untrained generator, as the WGAN
# authors' code does, so that its first estimate means something. Every few generator
# updates it records the critic's estimate and the true sample distance (the sliced
# Wasserstein distance to held-out points, from `dlc.quality`), and it asks: does the
# estimate go down when the samples get better?

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": a shorter budget (CI runs "tiny")
result = run_lab("wgan", size=size)
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
# The first figure has one column per method: on top what its critic says, below the
# distance it should follow, against the number of generator updates, with the untrained
# generator's distance (dashed) and two real samples' (dotted: the floor, what two draws of
# the same data differ by). $r$ is the correlation of the two curves over training.
#
# - **WGAN-GP**: the estimate starts high (the warmed-up critic sees the untrained
#   generator's samples far from the ring) and falls with the distance. Right after the
#   generator's first big move the critic lags for a few dozen updates (a dip), then it
#   follows again, down to the end.
# - **Weight clipping**: the estimate is hundreds of times smaller: the clipped critic
#   is Lipschitz with some small constant, not 1, so it measures the distance only up to an
#   unknown scale. Its critic also trains slowly (lr 5e-5), so early on the estimate rises
#   while the critic is still learning, whatever the samples do.
# - **GAN**: the Jensen-Shannon bound $\ln 2 - \text{D loss}/2$ starts near its maximum
#   $\ln 2$, then hovers at whatever balance the two players reach. Early on the samples
#   swing far from the data (the distance rises above the untrained generator's) while the
#   bound *falls*: it says nothing about that.
#
# The second figure shows the samples. On this easy toy the plain GAN, given the default
# budget, ends about as close to the data as WGAN-GP (at `tiny` size it is still far off),
# and the clipped WGAN spreads its mass widely: the point of the Wasserstein loss is not
# (only) better samples but a loss that tells you how training goes. The numbers, with the
# MMD as a second distance:

# %%
m = result.metrics
print(f"{'':18s} {'r':>6s} {'r late':>7s} {'sliced W':>9s} {'MMD':>8s} {'modes':>6s}")
for key, name in [("gan", "GAN"), ("wgan_clip", "WGAN (clipping)"), ("wgan_gp", "WGAN-GP")]:
    print(
        f"{name:18s} {m[key + '_corr']:6.2f} {m[key + '_corr_late']:7.2f} {m[key + '_sw']:9.3f} "
        f"{m[key + '_mmd']:8.4f} {m[key + '_modes']:4d}/8"
    )
blank = f"{'':6s} {'':7s}"
print(f"{'untrained G':18s} {blank} {m['sw_untrained']:9.3f} {m['mmd_untrained']:8.4f} {m['modes_untrained']:4d}/8")
print(f"{'real (floor)':18s} {blank} {m['sw_floor']:9.3f} {m['mmd_floor']:8.4f}")

# %% [markdown]
# "r late" is the correlation without the first quarter of training, where the big first
# fall happens: it asks whether the estimate keeps following the finer changes. It is
# smaller and noisier, and at `tiny` size, where the late part is short and holds the
# critic's recovery from its dip, it can be negative.
#
# ## The duality, poked at directly
# Between two Gaussians of the same shape, $W_1$ is the distance between their means
# (shifting every point by the same vector is the cheapest transport). Train a small critic
# on samples of two 2-D Gaussians `shift` apart, with the penalty ($\lambda = 1$, as in
# the lab) and with clipping. The penalty is soft: a critic of slope $k$ along the shift
# earns $k W$ and pays $\lambda (k - 1)^2$, so the best slope is $k = 1 + W / 2\lambda$ and
# the estimate is $W + W^2 / 2\lambda$: a little above $W$, but growing with it. The clipped
# critic's estimate grows in proportion to $W$, with a tiny constant.

# %%
import torch

from dlc.models.gans import gradient_penalty


def trained_critic_estimate(real, fake, clip=None, gp_lambda=1.0, steps=250):
    critic = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    if clip is None:
        opt = torch.optim.Adam(critic.parameters(), lr=3e-3, betas=(0.0, 0.9))
    else:
        opt = torch.optim.RMSprop(critic.parameters(), lr=5e-3)
    for _ in range(steps):
        r, f = real[torch.randint(0, len(real), (256,))], fake[torch.randint(0, len(fake), (256,))]
        loss = critic(f).mean() - critic(r).mean()
        if clip is None:
            loss = loss + gp_lambda * gradient_penalty(critic, r, f)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if clip is not None:
            with torch.no_grad():
                for p in critic.parameters():
                    p.clamp_(-clip, clip)
    with torch.no_grad():
        return (critic(real).mean() - critic(fake).mean()).item()


torch.manual_seed(0)
fake = torch.randn(2000, 2)
print("W1 (exact)  penalty: estimate  W + W^2/2  clipping: estimate  estimate / W")
for shift in (1.0, 2.0, 3.0):
    real = torch.randn(2000, 2) + torch.tensor([shift, 0.0])
    gp, clipped = trained_critic_estimate(real, fake), trained_critic_estimate(real, fake, clip=0.01)
    print(f"{shift:10.1f}  {gp:18.3f}  {shift + shift**2 / 2:9.2f}  {clipped:18.5f}  {clipped / shift:12.5f}")

# %% [markdown]
# ## Exercise
# 1. Clip at 0.1 instead of 0.01 (`--clip 0.1`): what happens to the size of the estimate,
#    and to the samples? At 0.001?
# 2. Run with the paper's penalty, `--gp_lambda 10` (and then also `--lr_gp 1e-4`): does the
#    estimate still follow the distance? Set `--gp_lambda 0`: the critic is unconstrained.
#    What does its estimate do?
# 3. Give the WGANs one critic step per generator step (`--n_critic 1`), as the GAN has:
#    which method wins now? And without the warm-up (`--warmup 0`): what is the critic's
#    first estimate, and what does that do to $r$?
