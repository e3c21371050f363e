"""The backward pass on DAGs, accumulation, no_grad, and the errors a user can meet."""

import pytest
import torch

import dlc.scratch as S
from dlc.errors import DlcError
from dlc.scratch import functional as F
from tests.scratch.compare import assert_close, check, randn


def test_a_tensor_used_many_times_gets_the_sum_of_its_gradients():
    def f(a, b):
        c = a * b  # a is used four times, c twice: a diamond inside a diamond
        d = c + a
        e = (c * d).tanh() + a * a
        return (e + d).sum()

    check(f, f, randn(3, 4), randn(3, 4))


def test_shared_sub_expressions():
    def f(x, w):
        h = (x @ w).relu()
        y = h @ w.T  # w used twice, h feeds three consumers
        return (y * x).sum() + h.sum() * h.mean() + (h @ h.T).sum()

    check(f, f, randn(4, 3), randn(3, 3))


def test_same_operand_twice():
    check(
        lambda a: a * a + a / a - a @ a.T.sum(1), lambda a: a * a + a / a - a @ a.T.sum(1), randn(3, 3, positive=True)
    )


def test_gradients_accumulate_over_backward_calls_like_torch():
    x = S.Tensor(randn(3), requires_grad=True)
    xt = x.data.clone().requires_grad_()
    for _ in range(3):
        (x * x).sum().backward()
        (xt * xt).sum().backward()
    assert_close(x.grad, xt.grad)
    assert torch.allclose(x.grad, 6 * x.data)


def test_backward_twice_on_the_same_graph_accumulates():
    x = S.Tensor(randn(3), requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    y.backward()
    assert_close(x.grad, 4 * x.data.exp())


def test_leaf_gradients_are_independent_tensors():
    a, b = S.Tensor(randn(3), requires_grad=True), S.Tensor(randn(3), requires_grad=True)
    (a + b).sum().backward()  # the same incoming gradient flows to both
    a.grad.mul_(10)
    assert torch.equal(b.grad, torch.ones(3, dtype=torch.float64))
    r = S.Tensor(randn(2, 3), requires_grad=True)
    g = torch.ones(6, dtype=torch.float64)
    r.reshape(6).backward(g)  # the gradient is a view of the caller's tensor
    r.grad.zero_()
    assert torch.equal(g, torch.ones(6, dtype=torch.float64))


def test_inputs_without_requires_grad_get_no_gradient():
    x, w = S.Tensor(randn(3, 2)), S.Tensor(randn(2, 2), requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad is None and w.grad is not None


def test_no_grad_records_nothing_and_restores():
    w = S.Tensor(randn(2, 2), requires_grad=True)
    with S.no_grad():
        y = w * 2
        assert not S.is_grad_enabled()
    assert S.is_grad_enabled()
    assert not y.requires_grad and y.parents == ()

    @S.no_grad()
    def f(t):
        return t.exp()

    assert not f(w).requires_grad
    assert (w * 2).requires_grad


def test_torch_graphs_are_never_built():
    leaf = torch.randn(3, requires_grad=True)
    x = S.Tensor(leaf, requires_grad=True)
    y = (x * x).sum()
    assert not y.data.requires_grad and y.data.grad_fn is None
    y.backward()
    assert leaf.grad is None and x.grad is not None


def test_tape_lists_every_node_after_its_inputs():
    a = S.Tensor(randn(2), requires_grad=True, name="a")
    b = S.Tensor(randn(2), requires_grad=True, name="b")
    c = a * b
    out = (c + a).sum()
    order = out.tape()
    position = {id(t): i for i, t in enumerate(order)}
    assert len(order) == 5 and order[-1] is out
    for t in order:
        for p in t.parents:
            assert position[id(p)] < position[id(t)]
    listing = S.format_tape(out)
    assert "a = input(2,)" in listing and "mul(a, b)" in listing and "sum(" in listing


def test_a_deep_chain_needs_no_recursion():
    x = S.Tensor(torch.tensor(1.0, dtype=torch.float64), requires_grad=True)
    y = x
    for _ in range(20000):
        y = y * 1.0001
    y.backward()
    assert abs(x.grad.item() - 1.0001**20000) < 1e-6 * 1.0001**20000


# -- errors ----------------------------------------------------------------------------
def test_backward_of_a_non_scalar_needs_a_gradient():
    y = S.Tensor(randn(3, 2), requires_grad=True) * 2
    with pytest.raises(S.GradError, match=r"shape \(3, 2\), not a scalar.*backward\(gradient\)"):
        y.backward()
    with pytest.raises(S.ShapeError, match=r"gradient of shape \(2,\).*\(3, 2\)"):
        y.backward(torch.ones(2))
    y.backward(torch.ones(3, 2, dtype=torch.float64))  # with a gradient it works


def test_backward_without_any_gradient_to_compute():
    with pytest.raises(S.GradError, match="requires_grad=True"):
        (S.Tensor(randn(2)) * 2).sum().backward()


def test_integer_tensors_cannot_require_a_gradient():
    with pytest.raises(S.GradError, match="floating-point"):
        S.Tensor([1, 2, 3], requires_grad=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: S.Tensor(randn(3, 4)) + S.Tensor(randn(5)),
        lambda: S.Tensor(randn(3, 4)) * S.Tensor(randn(2, 4)),
        lambda: S.Tensor(randn(3, 4)) - S.Tensor(randn(4, 3)),
        lambda: S.Tensor(randn(3, 4)) / S.Tensor(randn(3, 2)),
    ],
    ids=["add", "mul", "sub", "div"],
)
def test_broadcast_mismatch_names_the_op_and_both_shapes(make):
    with pytest.raises(S.ShapeError) as info:
        make()
    msg = str(info.value)
    assert msg.split(":")[0] in ("add", "mul", "sub", "div")
    assert "(3, 4)" in msg and "broadcast" in msg
    assert isinstance(info.value, DlcError)


@pytest.mark.parametrize(
    "make,op,shapes",
    [
        (lambda: S.Tensor(randn(3, 4)) @ S.Tensor(randn(3, 4)), "matmul", ["(3, 4)", "(3, 4)"]),
        (lambda: S.cat([S.Tensor(randn(2, 3)), S.Tensor(randn(2, 4))]), "cat", ["(2, 3)", "(2, 4)"]),
        (lambda: S.Tensor(randn(2, 3)).reshape(4, 2), "reshape", ["(2, 3)", "(4, 2)"]),
        (lambda: F.linear(S.Tensor(randn(5, 3)), S.Tensor(randn(4, 2))), "linear", ["(5, 3)", "(4, 2)"]),
        (
            lambda: F.conv2d(S.Tensor(randn(1, 3, 5, 5)), S.Tensor(randn(2, 4, 3, 3))),
            "conv2d",
            ["(1, 3, 5, 5)", "(2, 4, 3, 3)"],
        ),
        (lambda: F.mse_loss(S.Tensor(randn(3)), S.Tensor(randn(4))), "mse_loss", ["(3,)", "(4,)"]),
        (lambda: F.cross_entropy(S.Tensor(randn(3, 5)), torch.tensor([1, 2])), "cross_entropy", ["(3, 5)", "(2,)"]),
    ],
    ids=["matmul", "cat", "reshape", "linear", "conv2d", "mse", "cross-entropy"],
)
def test_shape_errors_name_the_op_and_the_shapes(make, op, shapes):
    with pytest.raises(S.ShapeError) as info:
        make()
    msg = str(info.value)
    assert msg.startswith(op + ":"), msg
    for s in shapes:
        assert s in msg, msg


def test_cross_entropy_target_out_of_range():
    with pytest.raises(S.ShapeError, match=r"outside \[0, 3\)"):
        F.cross_entropy(S.Tensor(randn(2, 3)), torch.tensor([0, 3]))


@pytest.mark.parametrize("op", ["add", "mul", "matmul", "cat", "linear"])
def test_operands_on_different_devices_are_refused(op):
    cpu = S.Tensor(randn(3, 3), requires_grad=True)
    meta = S.Tensor(torch.empty(3, 3, dtype=torch.float64, device="meta"))
    make = {
        "add": lambda: cpu + meta,
        "mul": lambda: meta * cpu,
        "matmul": lambda: cpu @ meta,
        "cat": lambda: S.cat([cpu, meta]),
        "linear": lambda: F.linear(cpu, meta),
    }[op]
    with pytest.raises(
        S.DeviceError,
        match=rf"^{op}: operands are on different devices "
        rf"\((cpu and meta|meta and cpu)\)",
    ):
        make()


def test_a_failed_backward_leaves_no_half_accumulated_gradient():
    x = S.Tensor(randn(3), requires_grad=True)
    y = x * 2

    def broken(g):
        raise RuntimeError("boom")

    z = (y + y).sum()
    z._parents[0]._backward = broken  # the add node fails
    with pytest.raises(RuntimeError, match="boom"):
        z.backward()
    assert all(t._acc is None for t in z.tape())
    (y * 1.0).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), 2.0, dtype=torch.float64))
