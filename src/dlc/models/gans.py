"""Pieces of the GAN labs (EE-559 10.1-10.2): 2-D toy data, small generators and
critics, and the measures of mode coverage.

- :func:`ring`: a mixture of ``modes`` Gaussians evenly spaced on a circle, the classic
  toy on which GANs show mode collapse (each mode is easy; covering all of them is not);
- :func:`mode_coverage`: how many of the ring's modes hold at least ``min_share`` of the
  samples (within ``3 std`` of their centre), and the share of samples near any mode;
- :func:`mlp_generator`, :func:`mlp_critic`: the lecture's small MLPs for 2-D data;
- :class:`DCGenerator`, :class:`DCDiscriminator`: a small DCGAN (Radford et al., 2016)
  for 28 x 28 digits: transposed convolutions up, strided convolutions down,
  batch normalisation, ReLU in the generator and LeakyReLU in the discriminator;
- :func:`gradient_penalty`: WGAN-GP's penalty (Gulrajani et al., 2017),
  ``E[(|grad_x C(x_hat)| - 1)^2]`` on random points between real and fake samples;
- :class:`GANStep`: the plain GAN's training step for :func:`dlc.engine.fit` (the ``gan``
  lab's game, and the ``wgan`` lab's baseline), and :func:`js_estimate`, what its
  discriminator's loss says about the distance between the real and generated data.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlc.engine.steps import Step
from dlc.errors import InvalidArgument


def ring_centers(modes: int = 8, radius: float = 2.0) -> Tensor:
    """The ``modes`` x 2 centres of the ring, the first one at angle 0."""
    if modes < 1:
        raise InvalidArgument(f"a ring needs at least 1 mode, got {modes}")
    a = torch.arange(modes, dtype=torch.float32) * (2 * math.pi / modes)
    return radius * torch.stack([a.cos(), a.sin()], 1)


def ring(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` points of an even mixture of Gaussians (std ``std``) on a circle: (n x 2 float32,
    the mode of each point, int64). Drawn from a local generator: the same seed, the same set."""
    if n < 1:
        raise InvalidArgument(f"n must be at least 1, got {n}")
    if not std > 0:
        raise InvalidArgument(f"std must be positive, got {std}")
    g = torch.Generator().manual_seed(seed)
    mode = torch.randint(0, modes, (n,), generator=g)
    x = ring_centers(modes, radius)[mode] + std * torch.randn(n, 2, generator=g)
    return x, mode


def mode_coverage(samples: Tensor, centers: Tensor, std: float, min_share: float = 0.02) -> dict:
    """How well 2-D ``samples`` cover the modes at ``centers`` (Gaussians of std ``std``).

    A sample belongs to a mode if it lies within ``3 std`` of its centre. Returns
    ``modes_covered`` (modes holding at least ``min_share`` of all samples: a few % of
    them, against a fair share of 1 / modes), ``near`` (the share of samples near any
    mode: the "high-quality" samples) and ``shares`` (one per mode)."""
    if samples.dim() != 2 or samples.shape[1] != 2:
        raise InvalidArgument(f"samples must be N x 2, got {tuple(samples.shape)}")
    if len(samples) == 0:
        raise InvalidArgument("no samples to measure")
    d = torch.cdist(samples.detach().float().cpu(), centers.float())
    nearest = d.min(1)
    near = nearest.values <= 3 * std
    shares = torch.bincount(nearest.indices[near], minlength=len(centers)).double() / len(samples)
    return {
        "modes_covered": int((shares >= min_share).sum()),
        "near": float(near.double().mean()),
        "shares": shares.tolist(),
    }


def mlp(d_in: int, d_out: int, hidden: int = 128, layers: int = 2) -> nn.Sequential:
    """``layers`` hidden layers of ``hidden`` ReLU units between ``d_in`` and ``d_out``."""
    sizes = [d_in] + [hidden] * layers
    mods: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        mods += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*mods, nn.Linear(sizes[-1], d_out))


def mlp_generator(z_dim: int = 8, hidden: int = 128, layers: int = 2) -> nn.Sequential:
    """Noise (N x z_dim) -> 2-D points; no output activation (the data are unbounded)."""
    return mlp(z_dim, 2, hidden, layers)


def mlp_critic(hidden: int = 128, layers: int = 2) -> nn.Sequential:
    """2-D points -> one score: a logit for a GAN's discriminator, a real value for a
    WGAN's critic (no sigmoid in either: BCE-with-logits applies it)."""
    return mlp(2, 1, hidden, layers)


class DCGenerator(nn.Module):
    """z (N x z_dim) -> N x 1 x 28 x 28 images in [0, 1]:
    Linear -> 2c x 7 x 7 -> ConvT(4, stride 2) -> c x 14 x 14 -> ConvT(4, stride 2) -> 1 x 28 x 28."""

    def __init__(self, z_dim: int = 32, channels: int = 32):
        super().__init__()
        self.z_dim, c = z_dim, channels
        self.fc = nn.Sequential(nn.Linear(z_dim, 2 * c * 7 * 7), nn.BatchNorm1d(2 * c * 7 * 7), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z: Tensor) -> Tensor:
        h = self.fc(z)
        return self.up(h.view(len(z), -1, 7, 7))


class DCDiscriminator(nn.Module):
    """N x 1 x 28 x 28 images -> one logit each: Conv(4, stride 2) -> c x 14 x 14 ->
    Conv(4, stride 2) -> 2c x 7 x 7 -> Linear. ``batchnorm=False`` for a WGAN-GP critic
    (the penalty is per sample; batch normalisation would mix the samples)."""

    def __init__(self, channels: int = 32, batchnorm: bool = True):
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),
            nn.BatchNorm2d(2 * c) if batchnorm else nn.Identity(),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * c * 7 * 7, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP's penalty: the mean of ``(|grad C(x_hat)| - 1)^2`` over points ``x_hat``
    drawn uniformly on the segments between paired real and fake samples. Differentiable
    (``create_graph``), so that the critic's step minimises it."""
    if real.shape != fake.shape:
        raise InvalidArgument(f"real and fake batches differ in shape: {tuple(real.shape)} and {tuple(fake.shape)}")
    eps = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def discriminator_loss(D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """The GAN discriminator's loss: binary cross-entropy of "real" (1) on ``real`` and
    "generated" (0) on ``fake`` samples, the sum of the two means (``D`` gives logits)."""
    on_real, on_fake = D(real), D(fake)
    return F.binary_cross_entropy_with_logits(on_real, torch.ones_like(on_real)) + F.binary_cross_entropy_with_logits(
        on_fake, torch.zeros_like(on_fake)
    )


@torch.no_grad()
def js_estimate(D: nn.Module, real: Tensor, fake: Tensor) -> float:
    """What a GAN's discriminator says about the two distributions: ``ln 2 - loss / 2``,
    a lower bound of their Jensen-Shannon divergence (in nats; 0 for a discriminator that
    says 1/2 everywhere, at most ``ln 2``, reached by a perfect one on disjoint supports)."""
    return math.log(2) - 0.5 * float(discriminator_loss(D, real, fake))


class GANStep(Step):
    """The lecture's alternation on each batch of real samples: the discriminator learns to
    say 1 on real and 0 on generated samples, then the generator learns to make it say 1,
    with the "non-saturating" loss ``-log D(G(z))`` (rather than minimising
    ``log(1 - D(G(z)))``, whose gradient vanishes when D wins).

    ``warmup``: the first ``warmup`` batches train the discriminator alone (the ``wgan`` lab
    warms every critic up the same way; 0, the default: none). ``g_updates`` counts the
    generator's updates."""

    def __init__(self, G, D, opt_g, opt_d, z_dim: int, warmup: int = 0):
        self.G, self.D, self.opt_g, self.opt_d, self.z_dim = G, D, opt_g, opt_d, z_dim
        self.warmup, self.batches, self.g_updates = warmup, 0, 0

    def __call__(self, batch):
        (real,) = batch
        fake = self.G(torch.randn(len(real), self.z_dim, device=real.device))
        d_loss = self.discriminator_loss(real, fake.detach())
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        self.batches += 1
        g_loss = self.generator_loss(fake)
        if self.batches > self.warmup:
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            self.g_updates += 1
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return discriminator_loss(self.D, real, fake)

    def generator_loss(self, fake: Tensor) -> Tensor:
        """The non-saturating loss: cross-entropy of "real" (1) on the generated samples."""
        on_fake = self.D(fake)
        return F.binary_cross_entropy_with_logits(on_fake, torch.ones_like(on_fake))
