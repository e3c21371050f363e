"""How close generated samples are to real ones: distances between two sets of samples.

The generative labs report each of these for their samples, for the untrained generator
(the ceiling) and for held-out real data (the floor: what two real draws differ by).

- :func:`sliced_wasserstein`: the mean, over random directions, of the 1-D Wasserstein-1
  distance between the two sets' projections (exact in 1-D: sort and compare). Cheap,
  no bandwidth to choose; for low-dimensional data (the 2-D toys).
- :func:`mmd`: the maximum mean discrepancy with Gaussian kernels (unbiased estimate,
  averaged over several bandwidths around the median distance): 0 for equal
  distributions, in expectation.
- :func:`frechet_distance`: the Fréchet distance between Gaussians fitted to two sets of
  features, ``|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2)``; in the feature
  space of a trained classifier it is the "FID" of Heusel et al. (2017), here with a
  classifier dlc trains itself (:mod:`dlc.judge`).
"""

from __future__ import annotations

import torch

from dlc.errors import InvalidArgument


def _as_sets(a: torch.Tensor, b: torch.Tensor, least: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = a.reshape(len(a), -1).double(), b.reshape(len(b), -1).double()
    if a.shape[1] != b.shape[1]:
        raise InvalidArgument(f"the two sample sets have different dimensions: {a.shape[1]} and {b.shape[1]}")
    if len(a) < least or len(b) < least:
        raise InvalidArgument(f"need at least {least} samples in each set, got {len(a)} and {len(b)}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise InvalidArgument("the samples hold NaN or infinite values")
    return a, b


def _quantiles(x: torch.Tensor, n: int) -> torch.Tensor:
    """The n evenly spaced quantiles of each column of x (linear interpolation)."""
    s = x.sort(0).values
    pos = torch.linspace(0, len(s) - 1, n, dtype=torch.float64)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=len(s) - 1)
    w = (pos - lo).unsqueeze(1)
    return s[lo] * (1 - w) + s[hi] * w


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, directions: int = 128, seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance between sample sets ``a`` (N x D) and ``b`` (M x D).

    Sets of different sizes are compared through their quantiles; the random directions
    come from ``seed``, so the same sets always give the same number."""
    a, b = _as_sets(a, b, least=1)
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(a.shape[1], directions, generator=g, dtype=torch.float64)
    d /= d.norm(dim=0, keepdim=True)
    n = max(len(a), len(b))
    pa, pb = _quantiles(a @ d, n), _quantiles(b @ d, n)
    return float((pa - pb).abs().mean())


def mmd(a: torch.Tensor, b: torch.Tensor, scales: tuple[float, ...] = (0.5, 1.0, 2.0)) -> float:
    """Unbiased squared MMD between sample sets ``a`` and ``b`` with Gaussian kernels of
    bandwidths ``scales`` times the median pairwise distance of the pooled samples
    (the lower median when their count is even)."""
    a, b = _as_sets(a, b)
    pooled = torch.cat([a, b])
    d2 = torch.cdist(pooled, pooled).pow(2)
    median = d2[d2 > 0].median() if (d2 > 0).any() else torch.tensor(1.0, dtype=torch.float64)
    k = sum(torch.exp(-d2 / (2 * s * s * median)) for s in scales) / len(scales)
    n, m = len(a), len(b)
    kaa, kbb, kab = k[:n, :n], k[n:, n:], k[:n, n:]
    within_a = (kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
    within_b = (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
    return float(within_a + within_b - 2 * kab.mean())


def gaussian_fit(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (unbiased) of N x D features, in float64."""
    f = features.reshape(len(features), -1).double()
    if len(f) < 2:
        raise InvalidArgument(f"need at least 2 samples to fit a Gaussian, got {len(f)}")
    mu = f.mean(0)
    c = f - mu
    return mu, c.T @ c / (len(f) - 1)


def _sqrt_psd(c: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(c)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` and ``b`` (N x D).

    The matrix square root is taken of the symmetric ``C1^1/2 C2 C1^1/2`` (same trace as
    that of ``C1 C2``), by eigen-decomposition, so it stays real and stable."""
    a, b = _as_sets(a, b)
    (mu1, c1), (mu2, c2) = gaussian_fit(a), gaussian_fit(b)
    s1 = _sqrt_psd(c1)
    cross = torch.linalg.eigvalsh(s1 @ c2 @ s1).clamp(min=0).sqrt().sum()
    return float(((mu1 - mu2) ** 2).sum() + c1.trace() + c2.trace() - 2 * cross)
