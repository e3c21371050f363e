import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import run_lab
from dlc.labs import tensors as T
from tests.labs.helpers import assert_checks, run_tiny


def test_lab_checks(runs_dir):
    result = run_tiny("tensors", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["pattern_errors"] == 0 and m["view_shares_storage"]
    assert m["eig_max_error"] < 1e-4
    assert m["mul_row_equal"]
    assert m["mul_row_speedup"] > 10  # a Python loop per coefficient is far slower
    assert m["regression_max_error"] < 1e-4  # least squares recovers the known coefficients
    assert m["matmul_products_per_s"] > 0


def test_pattern_built_from_views_matches_the_practical():
    m = T.pattern_with_views()
    assert torch.equal(m, T.expected_pattern())
    # three rows of 2s, the first row of the practical, and a block of 3s
    assert m[1].eq(2).all() and m[6].eq(2).all() and m[11].eq(2).all()
    assert m[0].tolist() == [1, 2, 1, 1, 1, 1, 2, 1, 1, 1, 1, 2, 1]
    assert m[3].tolist() == [1, 2, 1, 3, 3, 1, 2, 1, 3, 3, 1, 2, 1]


def test_narrow_is_a_view_and_fill_writes_through():
    base = torch.zeros(4, 5)
    v = base.narrow(1, 2, 2)
    assert T.shares_storage(v, base) and v.stride() == (5, 1) and v.storage_offset() == 2
    v.fill_(7)
    assert base[:, 2:4].eq(7).all() and base[:, :2].eq(0).all()
    assert not T.shares_storage(base.clone(), base)


def test_mul_row_slow_and_fast_agree():
    m = torch.full((4, 8), 2.0)
    expected = torch.arange(1, 5).float().view(-1, 1).expand(4, 8) * 2
    assert torch.equal(T.mul_row(m), expected)
    x = torch.randn(7, 3)
    assert torch.equal(T.mul_row(x), T.mul_row_fast(x))


def test_similar_matrix_keeps_its_eigenvalues():
    ev = T.similar_matrix_eigenvalues(10, torch.Generator().manual_seed(3))
    assert torch.allclose(ev, torch.arange(1, 11, dtype=torch.float64), atol=1e-8)


def test_least_squares_recovers_coefficients_and_fails_with_noise_as_expected():
    g = torch.Generator().manual_seed(0)
    x, y, true = T.synthetic_regression(5000, 0.0, g)
    assert (T.least_squares(x, y) - true).abs().max() < 1e-10  # noiseless: exact
    x, y, true = T.synthetic_regression(50, 1.0, g)
    assert (T.least_squares(x, y) - true).abs().max() > 1e-4  # the check can fail


def test_bad_sizes_are_refused(runs_dir):
    from dlc.labs import run_lab

    with pytest.raises(UsageError, match="at least 1"):
        run_lab("tensors", size="tiny", runs_dir=runs_dir, quiet=True, matmul_size=0)


# Every count option at 0 is refused before the run, with the minimum it needs.
ZERO_COUNTS = [
    ("eig_size", 1),
    ("matmul_size", 1),
    ("mul_row_rows", 1),
    ("mul_row_cols", 1),
    ("regression_samples", 2),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("tensors", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
