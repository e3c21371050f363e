"""Toy sets: shapes, dtypes, the geometric rule behind each label, balance, seeding."""

import math

import pytest
import torch

from dlc.data import toy

CLASSIFIERS = {
    "disc": lambda **k: toy.disc(**k),
    "disc_outside": lambda **k: toy.disc_outside(**k),
    "rings": lambda **k: toy.rings(**k),
    "quadrants": lambda **k: toy.quadrants(**k),
    "moons": lambda **k: toy.moons(**k),
    "spirals": lambda **k: toy.spirals(**k),
    "blobs": lambda **k: toy.blobs(**k),
}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_shapes_dtypes_and_seeding(name):
    make = CLASSIFIERS[name]
    x, y = make(n=501, seed=3)
    assert x.shape == (501, 2) and x.dtype == torch.float32
    assert y.shape == (501,) and y.dtype == torch.int64
    x2, y2 = make(n=501, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = make(n=501, seed=4)
    assert not torch.equal(x, x3)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_global_rng_untouched(name):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    CLASSIFIERS[name](n=100, seed=0)
    assert torch.equal(torch.get_rng_state(), before)


def test_disc_label_is_the_geometric_rule():
    x, y = toy.disc(n=20_000, seed=1)
    assert x.min() >= 0 and x.max() <= 1
    inside = ((x[:, 0] - 0.5) ** 2 + (x[:, 1] - 0.5) ** 2).sqrt() < 1 / math.sqrt(2 * math.pi)
    assert torch.equal(y, inside.long())
    assert abs(y.float().mean().item() - 0.5) < 0.02  # area 1/2: balanced


def test_disc_outside_label_is_the_geometric_rule():
    x, y = toy.disc_outside(n=20_000, seed=1)
    assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(y, (x.norm(dim=1) > math.sqrt(2 / math.pi)).long())
    assert abs(y.float().mean().item() - 0.5) < 0.02


def test_rings_radii_and_balance():
    x, y = toy.rings(n=1000, seed=0)
    r = x.norm(dim=1)
    assert torch.bincount(y).tolist() == [500, 500]
    assert r[y == 0].max() <= 2.5 + 1e-5 and r[y == 1].min() >= 3.5 - 1e-5 and r[y == 1].max() <= 5 + 1e-5


def test_quadrant_labels():
    x, y = toy.quadrants(n=4000, seed=0)
    assert x.norm(dim=1).max() <= 1 + 1e-6
    expected = torch.where(x[:, 0] >= 0, torch.where(x[:, 1] >= 0, 0, 3), torch.where(x[:, 1] >= 0, 1, 2))
    agree = (expected == y).float().mean().item()
    assert agree > 0.999  # only points within float error of an axis may differ
    assert all(abs(c - 1000) < 120 for c in torch.bincount(y).tolist())


def test_balanced_classes():
    assert torch.bincount(toy.moons(n=1001, seed=0)[1]).tolist() == [501, 500]
    assert torch.bincount(toy.spirals(n=900, classes=3, seed=0)[1]).tolist() == [300, 300, 300]
    assert torch.bincount(toy.blobs(n=1000, centers=4, seed=0)[1]).tolist() == [250] * 4


def test_blobs_around_their_centers():
    centers = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]
    x, y = toy.blobs(n=3000, centers=centers, std=0.5, seed=0)
    for k, c in enumerate(centers):
        assert torch.allclose(x[y == k].mean(0), torch.tensor(c), atol=0.1)
        assert torch.allclose(x[y == k].std(0), torch.tensor([0.5, 0.5]), atol=0.05)
    with pytest.raises(ValueError, match="centers"):
        toy.blobs(centers=[1.0, 2.0])


def test_spiral_arms_are_interleaved():
    x, y = toy.spirals(n=2000, classes=2, noise=0.0, seed=0)
    assert x.norm(dim=1).max() <= 1 + 1e-6
    # without noise, arm k at radius t has angle 2 pi (1.5 t + k/2): check it modulo 2 pi
    r = x.norm(dim=1)
    a = torch.atan2(x[:, 1], x[:, 0])
    expected = 2 * math.pi * (1.5 * r + y.float() / 2)
    d = torch.remainder(a - expected + math.pi, 2 * math.pi) - math.pi
    assert d.abs().max() < 1e-3


def test_moons_shape_of_the_two_halves():
    x, y = toy.moons(n=2000, noise=0.0, seed=0)
    assert torch.allclose(x[y == 0].norm(dim=1), torch.ones(int((y == 0).sum())), atol=1e-5)
    assert (x[y == 0][:, 1] >= -1e-6).all() and (x[y == 1][:, 1] <= 0.5 + 1e-6).all()


def test_sinusoid():
    x, y = toy.sinusoid(n=1000, noise=0.2, seed=0)
    assert x.shape == y.shape == (1000, 1) and x.dtype == y.dtype == torch.float32
    assert x[0, 0] == -10 and x[-1, 0] == 10 and torch.all(x[1:] > x[:-1])  # evenly spaced, sorted
    residual = y - torch.sin(x)
    assert residual.min() >= 0 and residual.max() <= 0.2  # noise * U(0, 1)
    assert abs(residual.mean().item() - 0.1) < 0.01
    assert torch.equal(y, toy.sinusoid(n=1000, seed=0)[1]) and not torch.equal(y, toy.sinusoid(seed=1)[1])
