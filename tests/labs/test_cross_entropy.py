import math

import pytest
import torch
import torch.nn.functional as F

from dlc.errors import DlcError, UsageError
from dlc.labs import cross_entropy as ce
from dlc.labs import run_lab
from tests.labs.helpers import assert_checks, run_tiny


def test_lab_is_stable_for_huge_logits(runs_dir):
    result = run_tiny("cross-entropy", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert abs(m["lecture_example_loss"] - 2.5141) < 1e-4  # the lecture's printed value
    assert not m["naive_finite_at_scale"]  # the formula as written overflows...
    assert m["stable_finite_at_scale"]  # ...the log-sum-exp one does not
    assert m["stable_vs_torch_rel_error"] < 1e-6
    assert m["grad_vs_torch_max_error"] < 1e-6
    assert m["naive_breaks_above"] < 100  # exp overflows float32 near 88


@pytest.mark.parametrize("scale", [1.0, 1e4, -1e4])
def test_stable_versions_equal_torch_in_float64(scale):
    torch.manual_seed(0)
    f = (scale * torch.randn(64, 7, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(7, (64,))
    assert torch.allclose(ce.log_softmax(f), F.log_softmax(f, 1), rtol=1e-12, atol=1e-12)
    assert torch.allclose(ce.softmax(f), F.softmax(f, 1), rtol=1e-12, atol=1e-12)
    mine, ref = ce.cross_entropy(f, y), F.cross_entropy(f, y)
    assert torch.allclose(mine, ref, rtol=1e-12)
    (g_mine,) = torch.autograd.grad(mine, f)
    (g_ref,) = torch.autograd.grad(ref, f)
    assert torch.allclose(g_mine, g_ref, atol=1e-12)
    assert torch.allclose(ce.cross_entropy_grad(f.detach(), y), g_ref, atol=1e-12)


def test_naive_overflows_and_agrees_when_small():
    f = torch.tensor([[1e4, -1e4, 0.0]])
    y = torch.tensor([1])
    assert not math.isfinite(ce.naive_cross_entropy(f, y).item())
    assert math.isfinite(ce.cross_entropy(f, y).item())
    small = torch.randn(32, 5, dtype=torch.float64)
    t = torch.randint(5, (32,))
    assert torch.allclose(ce.naive_cross_entropy(small, t), F.cross_entropy(small, t))


def test_bad_shapes_are_refused():
    with pytest.raises(DlcError, match="N x C"):
        ce.cross_entropy(torch.randn(4, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="N x C"):  # still a ValueError, as torch's are
        ce.cross_entropy(torch.randn(4), torch.zeros(4, dtype=torch.long))


def test_bad_options_are_refused():
    for bad in ({"dtype": "float16"}, {"batch": 0}, {"logit_scale": -1.0}):
        with pytest.raises(UsageError):
            ce.Config(**bad)


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("classes", 1),
    ("batch", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("cross-entropy", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
