import pytest
import torch
from torch.autograd import Function

from dlc.errors import DlcError, UsageError
from dlc.labs import autograd_function as af
from dlc.labs import get, make_config, run_lab
from tests.labs.helpers import assert_checks, run_tiny


def test_functions_pass_gradcheck_and_train(runs_dir):
    result = run_tiny("autograd-function", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["gradcheck_MyReLU"] and m["gradcheck_MyTanh"] and m["gradcheck_MyLinear"]
    assert m["last_train_loss"] < 0.5 * m["first_train_loss"]
    assert m["test_error"] < 0.15  # chance is 0.5
    assert m["max_param_difference_vs_nn"] < 1e-4  # same steps as torch's own modules


@pytest.mark.parametrize(
    "fn,args",
    [
        (af.MyTanh.apply, [(4, 3)]),
        (af.MyLinear.apply, [(4, 3), (2, 3), (2,)]),
    ],
)
def test_gradcheck_float64(fn, args):
    g = torch.Generator().manual_seed(0)
    inputs = tuple(torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True) for s in args)
    assert torch.autograd.gradcheck(fn, inputs)


def test_relu_gradcheck_and_backward_equals_autograd():
    x = torch.tensor([[-2.0, -0.5, 0.3, 1.7]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(af.MyReLU.apply, (x,))
    u = torch.randn(1, 4, dtype=torch.float64)
    (ours,) = torch.autograd.grad((af.MyReLU.apply(x) * u).sum(), x)
    (ref,) = torch.autograd.grad((torch.relu(x) * u).sum(), x)
    assert torch.equal(ours, ref)


def test_gradcheck_catches_a_wrong_backward():
    class WrongTanh(Function):
        @staticmethod
        def forward(ctx, x):
            y = torch.tanh(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_output):
            (y,) = ctx.saved_tensors
            return grad_output * (1 - y)  # should be 1 - y^2

    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert not torch.autograd.gradcheck(WrongTanh.apply, (x,), raise_exception=False)


def test_linear_skips_gradients_nobody_needs():
    x = torch.randn(3, 2)  # no requires_grad: MyLinear must return None for it
    w = torch.randn(4, 2, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    af.MyLinear.apply(x, w, b).sum().backward()
    assert x.grad is None and w.grad is not None and torch.allclose(b.grad, torch.full((4,), 3.0))


def test_unknown_activation_is_refused():
    with pytest.raises(DlcError, match="activation"):
        af.mlp(8, "gelu", ours=True)
    with pytest.raises(UsageError, match="--activation"):
        make_config(get("autograd-function"), activation="gelu")


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("hidden", 1),
    ("epochs", 1),
    ("n", 2),
    ("batch_size", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("autograd-function", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
