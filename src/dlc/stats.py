"""Small statistical tools several labs share: normalisation by training statistics,
seeded splits, PCA, polynomial features and least squares.

They live here, once, so that no lab imports another; each is the textbook algorithm in
a few tensor operations.
"""

from __future__ import annotations

import torch

from dlc.errors import UsageError


def standardize(train: torch.Tensor, *others: torch.Tensor, per_feature: bool = False):
    """Subtract the training set's mean and divide by its standard deviation, for the
    training set and every other set given (the test set stands for unseen data, so it is
    scaled with the training statistics). ``per_feature``: one mean and std per column
    (dimension 0 is the samples) instead of two scalars. Returns the new tensors."""
    if per_feature:
        mu, std = train.mean(0), train.std(0)
    else:
        mu, std = train.mean(), train.std()
    out = tuple((t - mu) / std for t in (train, *others))
    return out if others else out[0]


def check_fraction(name: str, value: float) -> None:
    """Refuse a fraction that leaves nothing on one side (e.g. a validation fraction)."""
    if not 0 < value < 1:
        raise UsageError(f"{name} must be between 0 and 1 (e.g. 0.2), got {value}")


def split(x: torch.Tensor, y: torch.Tensor, val_fraction: float, seed: int):
    """A seeded random (train, validation) split of one set: ((x, y), (x_val, y_val))."""
    check_fraction("val_fraction", val_fraction)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed)).to(x.device)
    n_val = max(1, int(len(x) * val_fraction))
    return (x[order[n_val:]], y[order[n_val:]]), (x[order[:n_val]], y[order[:n_val]])


def pca(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean of ``x`` (N x D) and its principal directions as rows, by decreasing variance.

    The directions are eigenvectors of the scatter matrix B'B of the centred data B. When
    there are fewer samples than dimensions (CIFAR at 1,000 samples: 3,072 dimensions) the
    N x N Gram matrix BB' has the same non-zero eigenvalues and is much cheaper to
    decompose: if BB'u = lu then B'B (B'u) = l (B'u), so B'u / |B'u| is a direction. Only
    min(N, D) directions are returned.
    """
    mean = x.mean(0)
    b = (x - mean).double()
    if b.size(0) < b.size(1):
        values, u = torch.linalg.eigh(b @ b.T)
        vectors = b.T @ u
        vectors = vectors / vectors.norm(dim=0).clamp_min(1e-12)
    else:
        values, vectors = torch.linalg.eigh(b.T @ b)
    order = values.argsort(descending=True)
    return mean, vectors[:, order].T.to(x.dtype).contiguous()


def powers(x: torch.Tensor, degree: int) -> torch.Tensor:
    """The design matrix [1, x, x^2, ..., x^D] (last dimension), for x of any shape."""
    return x.unsqueeze(-1) ** torch.arange(degree + 1, dtype=x.dtype, device=x.device)


def fit_polynomial(degree: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Least-squares coefficients alpha_0..alpha_D of sum_d alpha_d x^d ~ y.

    Works on a batch of training sets too: x and y of shape (..., N) give (..., D + 1).
    """
    return torch.linalg.lstsq(powers(x, degree), y.unsqueeze(-1)).solution.squeeze(-1)


def polynomial(alpha: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The polynomials alpha (..., D + 1) at x: one x per polynomial (..., N), or one shared
    x (N) for all of them; returns (..., N)."""
    design = powers(x, alpha.shape[-1] - 1)
    if x.dim() == 1:
        return alpha @ design.T
    return (design @ alpha.unsqueeze(-1)).squeeze(-1)
