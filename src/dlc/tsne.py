"""t-SNE (van der Maaten and Hinton, 2008) in torch: exact, O(n^2) in memory and time.

A 2-D map of high-dimensional points that keeps neighbours together:

1. For each point i, a Gaussian over the others, ``p_{j|i} ~ exp(-beta_i |x_i - x_j|^2)``,
   whose precision ``beta_i`` is found by binary search so that its entropy is
   ``log(perplexity)`` (a smooth "number of neighbours"); the joint probabilities are
   ``p_ij = (p_{j|i} + p_{i|j}) / 2n``.
2. In the map, a Student-t (one degree of freedom) similarity,
   ``q_ij = (1 + |y_i - y_j|^2)^-1 / sum_{k != l} (1 + |y_k - y_l|^2)^-1``; its heavy tail
   lets dissimilar points lie far apart without cost ("crowding problem").
3. Gradient descent on ``KL(P || Q) = sum p_ij log(p_ij / q_ij)``, whose gradient is
   ``4 sum_j (p_ij - q_ij) (y_i - y_j) / (1 + |y_i - y_j|^2)``, with momentum, per-coordinate
   adaptive gains, and *early exaggeration* (P multiplied by a factor for the first
   iterations, which forms tight, well-separated clusters early).

Fine for a few thousand points; the Barnes-Hut approximation of larger maps is not here.
"""

from __future__ import annotations

import math

import torch

from dlc.errors import InvalidArgument


def _squared_distances(x: torch.Tensor) -> torch.Tensor:
    sq = x.pow(2).sum(1)
    return (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp_min(0).fill_diagonal_(0)


def conditional_probabilities(d2: torch.Tensor, perplexity: float, tol: float = 1e-5, steps: int = 100) -> torch.Tensor:
    """Rows ``p_{j|i}`` (zero diagonal) from squared distances, each row's precision found by
    binary search (all rows at once) so that its entropy (nats) is ``log(perplexity)``."""
    n = d2.shape[0]
    target = math.log(perplexity)
    beta = torch.ones(n, dtype=d2.dtype, device=d2.device)
    lo = torch.zeros_like(beta)
    hi = torch.full_like(beta, float("inf"))
    eye = torch.eye(n, dtype=torch.bool, device=d2.device)
    d2 = d2.masked_fill(eye, float("inf"))
    # shift each row by its nearest distance: exp does not underflow for large beta
    d2 = d2 - d2.min(1, keepdim=True).values
    for _ in range(steps):
        logits = -beta[:, None] * d2
        p = torch.softmax(logits, 1)
        h = -(p * torch.log(p.clamp_min(1e-300))).sum(1)  # entropy in nats
        diff = h - target
        if bool((diff.abs() < tol).all()):
            break
        too_flat = diff > 0  # entropy too high: sharpen (larger beta)
        lo = torch.where(too_flat, beta, lo)
        hi = torch.where(too_flat, hi, beta)
        beta = torch.where(torch.isinf(hi), beta * 2, (lo + hi) / 2)
    return torch.softmax(-beta[:, None] * d2, 1)


def joint_probabilities(x: torch.Tensor, perplexity: float = 30.0) -> torch.Tensor:
    """The symmetric ``p_ij`` of the points ``x`` (N x D): sums to 1, zero diagonal."""
    _check_points(x, perplexity)
    x = x.double()
    p = conditional_probabilities(_squared_distances(x), perplexity)
    p = (p + p.T) / (2 * len(x))
    return p.clamp_min(1e-12).fill_diagonal_(0)


def kl_divergence(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``KL(P || Q)`` of the map ``y`` (N x d) for joint probabilities ``p`` (differentiable)."""
    w = 1 / (1 + _squared_distances(y))
    w = w - torch.diag_embed(torch.diagonal(w))  # no self-similarity
    q = w / w.sum()
    mask = p > 0
    return (p[mask] * (p[mask].log() - q[mask].clamp_min(1e-300).log())).sum()


def kl_gradient(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The gradient of :func:`kl_divergence` with respect to ``y``, in closed form:
    ``4 sum_j (p_ij - q_ij) w_ij (y_i - y_j)``, with ``w_ij = 1 / (1 + |y_i - y_j|^2)``."""
    w = (1 / (1 + _squared_distances(y))).fill_diagonal_(0)
    q = w / w.sum()
    m = (p - q) * w
    return 4 * (m.sum(1, keepdim=True) * y - m @ y)


def tsne(
    x: torch.Tensor,
    dim: int = 2,
    *,
    perplexity: float = 30.0,
    iterations: int = 1000,
    lr: float | None = None,
    exaggeration: float = 12.0,
    exaggeration_iterations: int = 250,
    seed: int = 0,
) -> torch.Tensor:
    """A ``dim``-D t-SNE map of the points ``x`` (N x D), as an N x dim float tensor.

    lr: the step size (None: ``max(N / exaggeration / 4, 50)``, a common automatic choice);
    momentum 0.5 during the exaggeration, 0.8 after; gains as in the authors' code.
    The start is drawn from N(0, 1e-4^2) with ``seed``: the same inputs give the same map.
    """
    _check_points(x, perplexity)
    if dim < 1:
        raise InvalidArgument(f"t-SNE: dim must be >= 1, got {dim}")
    if iterations < 0 or exaggeration_iterations < 0:
        raise InvalidArgument("t-SNE: iterations must be >= 0")
    if not exaggeration >= 1:
        raise InvalidArgument(f"t-SNE: exaggeration must be >= 1, got {exaggeration}")
    if lr is not None and not lr > 0:
        raise InvalidArgument(f"t-SNE: lr must be > 0, got {lr}")
    n = len(x)
    lr = lr if lr is not None else max(n / exaggeration / 4, 50.0)
    p = joint_probabilities(x, perplexity).float()  # the descent in float32: twice as fast
    g = torch.Generator().manual_seed(seed)
    y = (torch.randn(n, dim, generator=g) * 1e-4).to(p.device)
    velocity = torch.zeros_like(y)
    gains = torch.ones_like(y)
    for it in range(iterations):
        early = it < exaggeration_iterations
        grad = kl_gradient(p * exaggeration if early else p, y)
        momentum = 0.5 if early else 0.8
        same_sign = (grad > 0) == (velocity > 0)
        gains = torch.where(same_sign, gains * 0.8, gains + 0.2).clamp_min(0.01)
        velocity = momentum * velocity - lr * gains * grad
        y = y + velocity
        y = y - y.mean(0)
    return y.to(x.dtype if x.is_floating_point() else torch.float32)


def _check_points(x: torch.Tensor, perplexity: float) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise InvalidArgument(f"t-SNE needs points as an N x D tensor, got {getattr(x, 'shape', type(x).__name__)}")
    if len(x) < 3:
        raise InvalidArgument(f"t-SNE needs at least 3 points, got {len(x)}")
    if not torch.isfinite(x).all():
        raise InvalidArgument("t-SNE: the points hold NaN or infinite values")
    if not (isinstance(perplexity, (int, float)) and 1 <= perplexity < len(x) - 1):
        raise InvalidArgument(
            f"t-SNE: perplexity must be at least 1 and below the number of points - 1 ({len(x) - 1}), got {perplexity}"
        )
