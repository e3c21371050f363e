import pytest
import torch

from dlc.errors import DlcError, UsageError
from dlc.labs import linear_classifier as L
from dlc.labs import run_lab
from tests.labs.helpers import assert_checks, run_tiny


def test_designed_features_fit_xor(runs_dir):
    result = run_tiny("linear-classifier", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["xor_raw_error"] >= 0.25  # no line separates XOR
    assert m["xor_designed_error"] == 0.0  # (x1, x2, x1 x2) does
    assert m["disc_raw_error"] > 0.25 and m["disc_designed_error"] < 0.03
    # LDA and logistic regression land close to the Bayes classifier on Gaussian classes
    assert m["gauss_lda_error"] < m["gauss_bayes_error"] + 0.05
    assert m["gauss_logistic_error"] < m["gauss_bayes_error"] + 0.05
    assert m["gauss_logistic_final_loss"] < 0.6 * m["gauss_logistic_first_loss"]


def test_logistic_gradient_equals_autograd():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(50, 3, generator=g, dtype=torch.float64)
    y = (torch.rand(50, generator=g) < 0.5).long()
    w = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn((), generator=g, dtype=torch.float64, requires_grad=True)
    loss, gw, gb = L.logistic_loss(f, y, w.detach(), b.detach())
    ref = torch.nn.functional.binary_cross_entropy_with_logits(f @ w + b, y.double())
    ref.backward()
    assert abs(float(loss) - float(ref.detach())) < 1e-12
    assert torch.allclose(gw, w.grad, atol=1e-12, rtol=0) and abs(float(gb - b.grad)) < 1e-12


def test_lda_on_true_parameters_is_the_bayes_posterior():
    """The linear posterior equals the ratio of the two Gaussian densities, point by point."""
    mu0 = torch.tensor([0.0, 1.0], dtype=torch.float64)
    mu1 = torch.tensor([2.0, -1.0], dtype=torch.float64)
    cov = torch.tensor([[2.0, 0.3], [0.3, 1.0]], dtype=torch.float64)
    w, b = L.linear_posterior(mu0, mu1, cov, 0.3)
    x = torch.randn(20, 2, dtype=torch.float64)
    p0 = torch.distributions.MultivariateNormal(mu0, cov).log_prob(x).exp() * 0.7
    p1 = torch.distributions.MultivariateNormal(mu1, cov).log_prob(x).exp() * 0.3
    assert torch.allclose(torch.sigmoid(x @ w + b), p1 / (p0 + p1), atol=1e-12)


def test_lda_needs_both_classes():
    with pytest.raises(DlcError, match="both classes"):
        L.fit_lda(torch.randn(5, 2), torch.zeros(5, dtype=torch.long))


# Every count option at 0 is refused before the run, with the minimum it needs.
ZERO_COUNTS = [
    ("steps", 1),
    ("n", 8),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("linear-classifier", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
