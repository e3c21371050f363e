"""Small synthetic sets for the labs, each from a local ``torch.Generator``.

Every function takes ``n`` and ``seed`` and returns float32 inputs and int64 labels
(or float targets for regression). The same seed gives the same set, and the global
random state is left untouched, so a lab's own seeding is not disturbed.
"""

from __future__ import annotations

import math

import torch

from dlc.errors import InvalidArgument


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _uniform(shape, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=g) * (hi - lo) + lo


def _class_sizes(n: int, classes: int) -> list[int]:
    """``n`` split into ``classes`` near-equal parts (the first ones take the remainder)."""
    return [n // classes + (k < n % classes) for k in range(classes)]


def _shuffled(x: torch.Tensor, y: torch.Tensor, g: torch.Generator):
    perm = torch.randperm(len(x), generator=g)
    return x[perm].contiguous(), y[perm].contiguous()


def data_seeds(seed: int) -> tuple[int, int]:
    """Two seeds, ``(train_seed, test_seed)``, for separate training and test draws of a set.

    A test set drawn with the training seed would repeat the training points; these
    are distinct for every run seed (2 seed and 2 seed + 1), and the same seed gives the
    same pair. A negative seed (a lab's "random") draws one from the global generator.
    """
    if seed < 0:
        seed = int(torch.randint(0, 2**30, ()))
    return 2 * seed, 2 * seed + 1


def sinusoid(n: int = 1000, lo: float = -10.0, hi: float = 10.0, noise: float = 0.2, seed: int = 0):
    """ESCAPE T1 regression: x evenly spaced on [lo, hi], y = sin(x) + noise * U(0, 1); both n x 1."""
    g = _gen(seed)
    x = torch.linspace(lo, hi, n).unsqueeze(1)
    y = torch.sin(x) + noise * torch.rand(n, 1, generator=g)
    return x, y


def disc(n: int = 1000, seed: int = 0):
    """Mini-project 2: uniform in [0,1]^2; label 1 inside the disc of radius 1/sqrt(2 pi) at (0.5, 0.5).

    The disc's area is 1/2, so the two classes are balanced on average.
    """
    x = torch.rand(n, 2, generator=_gen(seed))
    y = ((x - 0.5).pow(2).sum(1) < 1 / (2 * math.pi)).long()
    return x, y


def disc_outside(n: int = 1000, seed: int = 0):
    """EE-559 practical 5: uniform in [-1,1]^2; label 1 OUTSIDE the disc of radius sqrt(2/pi).

    The disc's area (2) is half the square's (4): balanced classes.
    """
    x = _uniform((n, 2), -1.0, 1.0, _gen(seed))
    y = (x.pow(2).sum(1) > 2 / math.pi).long()
    return x, y


def _polar(r: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return torch.stack([r * torch.cos(a), r * torch.sin(a)], 1)


def rings(n: int = 1000, seed: int = 0):
    """ESCAPE T2: class 0 at radius U(0, 2.5), class 1 at radius U(3.5, 5); uniform angle, equal classes."""
    g = _gen(seed)
    n0, n1 = _class_sizes(n, 2)
    r = torch.cat([_uniform(n0, 0.0, 2.5, g), _uniform(n1, 3.5, 5.0, g)])
    a = _uniform(n, 0.0, 2 * math.pi, g)
    y = torch.cat([torch.zeros(n0), torch.ones(n1)]).long()
    return _shuffled(_polar(r, a), y, g)


def quadrants(n: int = 1000, seed: int = 0):
    """ESCAPE T3: radius U(0, 1), angle U(0, 2 pi); the class is the quadrant 0..3 (counter-clockwise)."""
    g = _gen(seed)
    r = torch.rand(n, generator=g)
    a = _uniform(n, 0.0, 2 * math.pi, g)
    y = (a / (math.pi / 2)).floor().long().clamp(0, 3)
    return _polar(r, a), y


def moons(n: int = 1000, noise: float = 0.1, seed: int = 0):
    """Two interleaved half circles (class 0 on top, class 1 below, shifted), plus Gaussian noise."""
    g = _gen(seed)
    n0, n1 = _class_sizes(n, 2)
    t0 = torch.rand(n0, generator=g) * math.pi
    t1 = torch.rand(n1, generator=g) * math.pi
    upper = torch.stack([torch.cos(t0), torch.sin(t0)], 1)
    lower = torch.stack([1 - torch.cos(t1), 0.5 - torch.sin(t1)], 1)
    x = torch.cat([upper, lower]) + noise * torch.randn(n, 2, generator=g)
    y = torch.cat([torch.zeros(n0), torch.ones(n1)]).long()
    return _shuffled(x, y, g)


def spirals(n: int = 1000, classes: int = 2, noise: float = 0.2, turns: float = 1.5, seed: int = 0):
    """``classes`` interleaved spiral arms from the origin to radius 1; ``noise`` jitters the angle (radians)."""
    g = _gen(seed)
    xs, ys = [], []
    for k, m in enumerate(_class_sizes(n, classes)):
        t = torch.rand(m, generator=g)
        a = 2 * math.pi * (turns * t + k / classes) + noise * torch.randn(m, generator=g)
        xs.append(_polar(t, a))
        ys.append(torch.full((m,), k, dtype=torch.long))
    return _shuffled(torch.cat(xs), torch.cat(ys), g)


def blobs(n: int = 1000, centers=3, std: float = 1.0, dim: int = 2, seed: int = 0):
    """Gaussian blobs of equal size; ``centers`` is a count (drawn uniformly in [-10, 10]^dim) or coordinates."""
    g = _gen(seed)
    if isinstance(centers, int):
        c = _uniform((centers, dim), -10.0, 10.0, g)
    else:
        c = torch.as_tensor(centers, dtype=torch.float32)
        if c.ndim != 2:
            raise InvalidArgument(
                f"centers must be a count or a K x D array of coordinates, got shape {tuple(c.shape)}"
            )
    sizes = _class_sizes(n, len(c))
    y = torch.cat([torch.full((m,), k, dtype=torch.long) for k, m in enumerate(sizes)])
    x = c[y] + std * torch.randn(n, c.shape[1], generator=g)
    return _shuffled(x, y, g)
