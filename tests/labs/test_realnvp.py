"""realnvp at --tiny: the flows' log-determinants equal autograd's, their inverses are exact,
and training beats the untrained flows and the Gaussian baselines of the same run."""

import math

import torch

from dlc.labs.realnvp import checkerboard, dequantize, from_logit, to_logit
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_realnvp_at_tiny(runs_dir):
    result = run_tiny("realnvp", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["train_samples"] == 500 and m["test_samples"] == 100 and m["points"] == 1000
    assert m["epochs"] == 10 and m["mnist_epochs"] == 2
    for name in ("moons", "checkerboard"):
        assert m[f"{name}_logdet_error"] < 1e-6 and m[f"{name}_inverse_error"] < 1e-5
        assert m[f"{name}_loglik"] > m[f"{name}_loglik_gaussian"] > m[f"{name}_loglik_untrained"] - 5
        assert len(m[f"{name}_curve"]) == 10
    # no density on the checkerboard beats the true one, log(1/8), by more than sampling noise
    assert m["checkerboard_loglik"] < -math.log(8) + 0.2
    assert m["mnist_logdet_error"] < 1e-6 and m["mnist_inverse_error"] < 1e-5
    assert m["mnist_bpd"] < m["mnist_bpd_baseline"] < 8  # 8 bits/dim: the uniform density on 0..255
    assert m["mnist_bpd"] < m["mnist_bpd_untrained"]
    assert f"MNIST {m['mnist_bpd']:.2f} bits/dim" in result.line
    for name in ("densities_2d", "mnist_samples", "curves"):
        assert (result.run_dir / f"{name}.png").is_file(), name


@requires_mnist
def test_zero_epochs_evaluates_untrained_flows(runs_dir):
    result = run_tiny("realnvp", runs_dir, force_cpu=True, epochs=0, mnist_epochs=0)
    assert_checks(result)
    m = result.metrics
    assert m["moons_loglik"] == m["moons_loglik_untrained"] and m["mnist_bpd"] == m["mnist_bpd_untrained"]
    names = [v.name for v in result.verdicts]
    assert "moons, untrained flow: test log-lik. below the fitted Gaussian's" in names
    assert not any(n.startswith("MNIST: test bits/dim") for n in names)


def test_checkerboard_is_uniform_on_the_dark_squares():
    x = checkerboard(4000, seed=3)
    assert x.shape == (4000, 2) and torch.equal(x, checkerboard(4000, seed=3))
    assert x.min() >= -2 and x.max() <= 2
    cells = torch.floor(x).long() + 2  # 0..3 in each coordinate
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()  # only the dark squares
    counts = torch.bincount(cells[:, 0] * 4 + cells[:, 1], minlength=16)
    dark = counts[counts > 0]
    assert len(dark) == 8 and dark.min() > 400 and dark.max() < 600  # 500 each on average


def test_logit_transform_and_its_jacobian():
    px = torch.tensor([[0.0, 128.0, 255.0]])
    u = dequantize(px, torch.Generator().manual_seed(0))
    assert (u > px / 256).all() and (u < (px + 1) / 256).all()
    u64 = u.double().requires_grad_()
    y, logdet = to_logit(u64, 0.05)
    # the diagonal Jacobian's log-determinant, against autograd
    (grad,) = torch.autograd.grad(y.sum(), u64)
    assert torch.allclose(logdet, grad.log().sum(1), atol=1e-12)
    assert torch.allclose(from_logit(y.detach(), 0.05), u.double(), atol=1e-12)
