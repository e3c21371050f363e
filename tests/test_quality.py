"""Sample-set distances against brute-force or closed-form references."""

import math

import pytest
import torch

from dlc.errors import InvalidArgument
from dlc.quality import frechet_distance, mmd, sliced_wasserstein


def test_sliced_wasserstein_in_one_dimension_is_the_exact_w1():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 1, generator=g, dtype=torch.float64)
    b = torch.randn(200, 1, generator=g, dtype=torch.float64) * 2 + 1
    exact = (a.view(-1).sort().values - b.view(-1).sort().values).abs().mean()
    assert sliced_wasserstein(a, b, directions=4) == pytest.approx(float(exact), rel=1e-9)


def test_sliced_wasserstein_of_a_shift_is_the_mean_projected_shift():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(300, 2, generator=g, dtype=torch.float64)
    t = torch.tensor([3.0, -1.0], dtype=torch.float64)
    d = torch.randn(2, 64, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    d /= d.norm(dim=0)
    expected = (t @ d).abs().mean()
    assert sliced_wasserstein(a, a + t, directions=64, seed=7) == pytest.approx(float(expected), rel=1e-9)
    assert sliced_wasserstein(a, a) == 0


def test_sliced_wasserstein_tells_near_from_far():
    g = torch.Generator().manual_seed(2)
    real, other_real = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
    far = torch.randn(400, 2, generator=g) * 0.2 + 2
    assert sliced_wasserstein(real, other_real) < 0.2 * sliced_wasserstein(real, far)


def brute_mmd(a, b, scales):
    pooled = torch.cat([a, b]).double()
    d2 = [[float(((x - y) ** 2).sum()) for y in pooled] for x in pooled]
    positive = sorted(v for row in d2 for v in row if v > 0)
    k = len(positive)
    median = positive[(k - 1) // 2]  # the lower median, as torch.median

    def kern(i, j):
        return sum(math.exp(-d2[i][j] / (2 * s * s * median)) for s in scales) / len(scales)

    n, m = len(a), len(b)
    aa = sum(kern(i, j) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    bb = sum(kern(n + i, n + j) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    ab = sum(kern(i, n + j) for i in range(n) for j in range(m)) / (n * m)
    return aa + bb - 2 * ab


def test_mmd_equals_its_definition():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(7, 3, generator=g), torch.randn(5, 3, generator=g) + 0.5
    assert mmd(a, b) == pytest.approx(brute_mmd(a, b, (0.5, 1.0, 2.0)), rel=1e-9)


def test_mmd_is_near_zero_for_one_distribution_and_not_for_two():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(300, 2, generator=g), torch.randn(300, 2, generator=g)
    c = torch.randn(300, 2, generator=g) * 0.5 + 1.5
    assert abs(mmd(a, b)) < 0.01 < mmd(a, c)


def test_frechet_distance_in_closed_form():
    g = torch.Generator().manual_seed(5)
    a = torch.randn(1000, 1, generator=g, dtype=torch.float64)
    b = torch.randn(1000, 1, generator=g, dtype=torch.float64) * 3 + 2
    (m1, s1), (m2, s2) = (a.mean(), a.std()), (b.mean(), b.std())
    expected = (m1 - m2) ** 2 + (s1 - s2) ** 2  # 1-D Gaussians: mean gap^2 + std gap^2
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-9)


def test_frechet_distance_with_non_commuting_covariances():
    g = torch.Generator().manual_seed(6)
    a = torch.randn(400, 4, generator=g, dtype=torch.float64) @ torch.randn(4, 4, generator=g, dtype=torch.float64)
    b = torch.randn(400, 4, generator=g, dtype=torch.float64) @ torch.randn(4, 4, generator=g, dtype=torch.float64)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    # tr sqrt(C1 C2) from the eigenvalues of the (non-symmetric) product: real and >= 0
    cross = torch.linalg.eigvals(ca @ cb).real.clamp(min=0).sqrt().sum()
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + ca.trace() + cb.trace() - 2 * cross
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-7)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)


def test_bad_sets_are_refused():
    with pytest.raises(InvalidArgument, match="different dimensions"):
        mmd(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(InvalidArgument, match="at least 2"):
        frechet_distance(torch.zeros(1, 2), torch.zeros(3, 2))
    with pytest.raises(InvalidArgument, match="NaN"):
        sliced_wasserstein(torch.full((3, 2), float("nan")), torch.zeros(3, 2))
