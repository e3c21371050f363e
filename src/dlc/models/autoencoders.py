"""Convolutional auto-encoders of EE-559 chapter 9: a plain (or denoising) auto-encoder
and a variational one, both on 1 x 28 x 28 images with values in [0, 1].

Two encoder / decoder pairs, each decoder the mirror of its encoder (transposed
convolutions where the encoder has convolutions):

- ``"small"`` (the labs' default, ~8x cheaper than the lecture's), with width ``w``::

      1 x 28 x 28  -conv 4x4 s2->  w x 14 x 14  -conv 4x4 s2->  2w x 7 x 7  -linear->  d
      d  -linear->  2w x 7 x 7  -convT 4x4 s2->  w x 14 x 14  -convT 4x4 s2->  1 x 28 x 28

- ``"lecture"`` (lecture 9.2's network, width 32 there)::

      1 x 28 x 28  -conv 5->  24  -conv 5->  20  -conv 4 s2->  9  -conv 3 s2->  4  -conv 4->  d x 1 x 1
      and back with transposed convolutions of the same kernels and strides.

ReLU between layers, and nothing after the decoder's last layer: :class:`AutoEncoder`
returns its output as the pixels (trained with the squared error; a sigmoid there starts
at 0.5 everywhere, saturates towards the black background, and the squared error's
gradient through it vanishes: training stalls at the all-black image), and :class:`VAE`
reads it as the Bernoulli decoder's log-odds (the cross-entropy's gradient does not vanish).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ARCHS = ("small", "lecture")


def conv_encoder(out_dim: int, width: int = 16, arch: str = "small") -> nn.Sequential:
    """``(N, 1, 28, 28) -> (N, out_dim)``."""
    w = width
    if arch == "small":
        return nn.Sequential(
            nn.Conv2d(1, w, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * w * 7 * 7, out_dim),
        )
    if arch == "lecture":
        return nn.Sequential(
            nn.Conv2d(1, w, 5),
            nn.ReLU(),
            nn.Conv2d(w, w, 5),
            nn.ReLU(),
            nn.Conv2d(w, w, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(w, w, 3, stride=2),
            nn.ReLU(),
            nn.Conv2d(w, out_dim, 4),
            nn.Flatten(),
        )
    raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")


def conv_decoder(in_dim: int, width: int = 16, arch: str = "small") -> nn.Sequential:
    """``(N, in_dim) -> (N, 1, 28, 28)``, no final activation."""
    w = width
    if arch == "small":
        return nn.Sequential(
            nn.Linear(in_dim, 2 * w * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (2 * w, 7, 7)),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1),
        )
    if arch == "lecture":
        return nn.Sequential(
            nn.Unflatten(1, (in_dim, 1, 1)),
            nn.ConvTranspose2d(in_dim, w, 4),
            nn.ReLU(),
            nn.ConvTranspose2d(w, w, 3, stride=2),
            nn.ReLU(),
            nn.ConvTranspose2d(w, w, 4, stride=2),
            nn.ReLU(),
            nn.ConvTranspose2d(w, w, 5),
            nn.ReLU(),
            nn.ConvTranspose2d(w, 1, 5),
        )
    raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")


class AutoEncoder(nn.Module):
    """``x -> encode -> z (N, latent_dim) -> decode -> x_hat`` (pixels, unbounded: clamp
    them to [0, 1] to show or score them as images)."""

    def __init__(self, latent_dim: int = 8, width: int = 16, arch: str = "small"):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = conv_encoder(latent_dim, width, arch)
        self.decoder = conv_decoder(latent_dim, width, arch)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


class VAE(nn.Module):
    """Variational auto-encoder (Kingma & Welling, 2014) with a Gaussian encoder
    ``q(z|x) = N(mu(x), diag(exp(logvar(x))))``, the prior ``p(z) = N(0, I)`` and a
    Bernoulli decoder ``p(x|z)`` whose log-odds are the decoder's output."""

    def __init__(self, latent_dim: int = 16, width: int = 16, arch: str = "small"):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = conv_encoder(2 * latent_dim, width, arch)
        self.decoder = conv_decoder(latent_dim, width, arch)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The mean and log-variance of q(z|x), each ``(N, latent_dim)``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """The Bernoulli means (pixel probabilities) of p(x|z)."""
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n images from the model: z ~ N(0, I), then the decoder's means."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.decode(z)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(logits of p(x|z), mu, logvar)`` for one z drawn with the reparameterisation
        trick, ``z = mu + exp(logvar / 2) * eps``, so the gradient flows through mu and logvar."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decoder(z), mu, logvar


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per sample, in nats: ``(N,)``."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)


def elbo(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per image, in nats: ``(elbo, reconstruction log-likelihood, kl)``, each ``(N,)``;
    ``elbo = E_q[log p(x|z)] - KL(q(z|x) || p(z))`` with one z drawn from q."""
    rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = gaussian_kl(mu, logvar)
    return rec - kl, rec, kl


def psnr(estimate: Tensor, clean: Tensor, peak: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio of each image, in dB: ``10 log10(peak^2 / MSE)``, ``(N,)``."""
    mse = (estimate - clean).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(peak**2 / mse.clamp_min(1e-12))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "ARCHS",
    "AutoEncoder",
    "VAE",
    "conv_decoder",
    "conv_encoder",
    "count_parameters",
    "elbo",
    "gaussian_kl",
    "psnr",
]
