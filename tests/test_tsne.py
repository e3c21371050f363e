"""dlc.tsne: the perplexity search, the closed-form gradient against autograd in float64,
and maps that keep well-separated groups apart."""

import math

import pytest
import torch

from dlc.errors import InvalidArgument
from dlc.tsne import (
    _squared_distances,
    conditional_probabilities,
    joint_probabilities,
    kl_divergence,
    kl_gradient,
    tsne,
)


def test_each_row_has_the_asked_perplexity():
    torch.manual_seed(0)
    x = torch.randn(80, 5, dtype=torch.float64)
    for perplexity in (5.0, 20.0):
        p = conditional_probabilities(_squared_distances(x), perplexity)
        assert torch.allclose(p.sum(1), torch.ones(80, dtype=torch.float64))
        assert float(p.diagonal().abs().max()) == 0
        entropy = -(p * p.clamp_min(1e-300).log()).sum(1)
        assert torch.allclose(entropy.exp(), torch.full((80,), perplexity, dtype=torch.float64), rtol=1e-4)


def test_joint_probabilities_are_symmetric_and_sum_to_one():
    x = torch.randn(50, 3)
    p = joint_probabilities(x, 10)
    assert p.dtype == torch.float64 and torch.equal(p, p.T)
    assert math.isclose(float(p.sum()), 1.0, rel_tol=1e-9)
    assert float(p.diagonal().abs().max()) == 0


def test_the_gradient_matches_autograd_in_float64():
    torch.manual_seed(1)
    p = joint_probabilities(torch.randn(40, 6, dtype=torch.float64), 8)
    for scale in (1e-3, 1.0, 10.0):
        y = (torch.randn(40, 2, dtype=torch.float64) * scale).requires_grad_()
        kl_divergence(p, y).backward()
        expected = y.grad
        got = kl_gradient(p, y.detach())
        assert torch.allclose(got, expected, rtol=1e-8, atol=1e-12 * float(expected.abs().max()) + 1e-15)


def test_the_kl_divergence_is_zero_only_for_equal_distributions():
    y = torch.randn(10, 2, dtype=torch.float64)
    w = 1 / (1 + _squared_distances(y))
    w.fill_diagonal_(0)
    q = w / w.sum()
    assert abs(float(kl_divergence(q, y))) < 1e-12
    assert float(kl_divergence(joint_probabilities(torch.randn(10, 4), 3), y)) > 0


def test_it_separates_well_separated_blobs():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 30, generator=g) * 8
    x = torch.cat([c + torch.randn(40, 30, generator=g) for c in centres])
    labels = torch.arange(4).repeat_interleave(40)
    y = tsne(x, perplexity=15, iterations=500, seed=0)
    assert y.shape == (160, 2) and torch.isfinite(y).all()
    d = torch.cdist(y, y).fill_diagonal_(float("inf"))
    assert float((labels[d.argmin(1)] != labels).float().mean()) == 0  # every nearest neighbour in its blob
    within = torch.stack([torch.cdist(y[labels == k], y[labels == k]).mean() for k in range(4)]).mean()
    centres_2d = torch.stack([y[labels == k].mean(0) for k in range(4)])
    between = torch.pdist(centres_2d).min()
    assert between > 2 * within
    assert torch.equal(tsne(x, perplexity=15, iterations=50, seed=3), tsne(x, perplexity=15, iterations=50, seed=3))


def test_bad_input_is_refused():
    with pytest.raises(InvalidArgument, match="N x D"):
        tsne(torch.randn(10))
    with pytest.raises(InvalidArgument, match="at least 3 points"):
        tsne(torch.randn(2, 3))
    with pytest.raises(InvalidArgument, match="perplexity"):
        tsne(torch.randn(10, 3), perplexity=9)
    with pytest.raises(InvalidArgument, match="NaN"):
        tsne(torch.tensor([[0.0, 1.0], [float("nan"), 0.0], [1.0, 1.0], [2.0, 2.0]]), perplexity=1)
    with pytest.raises(InvalidArgument, match="exaggeration"):
        tsne(torch.randn(10, 3), perplexity=2, exaggeration=0.5)
