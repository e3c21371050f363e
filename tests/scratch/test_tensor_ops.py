"""Every Tensor operation against torch.autograd in float64: values and gradients."""

import operator

import pytest
import torch

import dlc.scratch as S
from tests.scratch.compare import check, randn

BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),  # rank difference
    ((3, 1), (1, 4)),  # size-1 dimensions stretched on both sides
    ((2, 3, 4), (3, 1)),
    ((), (3, 4)),  # a 0-dim scalar tensor
    ((1,), (3, 4)),
    ((5, 1, 3), (4, 1)),
    ((2, 1, 1), (1, 3, 1)),
    ((4,), ()),
]
BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_binary_broadcasting(name, shapes):
    op = BINARY[name]
    a, b = randn(*shapes[0]), randn(*shapes[1], positive=(name == "div"))
    check(op, op, a, b)
    check(op, op, b, a if name != "div" else a.abs() + 0.5)  # operands swapped


@pytest.mark.parametrize("name", BINARY)
def test_binary_with_one_operand_constant(name):
    op = BINARY[name]
    a, b = randn(3, 4), randn(4, positive=True)
    check(op, op, a, b, needs_grad=[True, False])
    check(op, op, a, b, needs_grad=[False, True])


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x + 2.5,
        lambda x: 2.5 + x,
        lambda x: x - 1.5,
        lambda x: 1.5 - x,
        lambda x: x * 3.0,
        lambda x: 3.0 * x,
        lambda x: x / 4.0,
        lambda x: 4.0 / x,
        lambda x: -x,
        lambda x: x**3,
        lambda x: x**0.5,
        lambda x: x**-1.5,
        lambda x: 2.0**x,
        lambda x: x + 2,
        lambda x: x * 2,
    ],
    ids=[
        "add",
        "radd",
        "sub",
        "rsub",
        "mul",
        "rmul",
        "div",
        "rdiv",
        "neg",
        "cube",
        "sqrt-pow",
        "neg-pow",
        "rpow",
        "add-int",
        "mul-int",
    ],
)
def test_scalar_operands(fn):
    check(fn, fn, randn(3, 4, positive=True))


def test_tensor_exponent_broadcasts():
    check(operator.pow, operator.pow, randn(3, 4, positive=True), randn(4))


@pytest.mark.parametrize(
    "shapes",
    [
        ((3, 4), (4, 5)),
        ((4,), (4,)),
        ((3, 4), (4,)),
        ((4,), (4, 5)),
        ((2, 3, 4), (4, 5)),
        ((2, 3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((4,), (2, 4, 5)),
        ((2, 3, 4), (4,)),
        ((3, 4), (2, 4, 5)),
    ],
    ids=str,
)
def test_matmul(shapes):
    check(operator.matmul, operator.matmul, randn(*shapes[0]), randn(*shapes[1]))


@pytest.mark.parametrize("method", ["sum", "mean"])
@pytest.mark.parametrize(
    "dim,keepdim",
    [(None, False), (0, False), (1, True), (-1, False), ((0, 2), False), ((0, 2), True), ((-1, 1), False)],
)
def test_sum_mean(method, dim, keepdim):
    def f(x):
        return getattr(x, method)() if dim is None else getattr(x, method)(dim, keepdim=keepdim)

    check(f, f, randn(2, 3, 4))


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_max(dim, keepdim):
    def ours(x):
        return x.max() if dim is None else x.max(dim, keepdim)

    def ref(x):
        return x.max() if dim is None else x.max(dim, keepdim).values

    check(ours, ref, randn(3, 4, 5))


def test_max_shares_the_gradient_between_ties_as_torch_does():
    x = torch.tensor([[1.0, 3.0], [3.0, 2.0]], dtype=torch.float64)
    check(lambda t: t.max(), lambda t: t.max(), x)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.reshape(6, 4),
        lambda x: x.reshape(-1),
        lambda x: x.view(4, 3, 2),
        lambda x: x.reshape((2, 12)),
        lambda x: x.transpose(0, 2),
        lambda x: x.permute(2, 0, 1),
        lambda x: x.unsqueeze(1),
        lambda x: x.unsqueeze(-1).squeeze(-1),
        lambda x: x.flatten(1),
        lambda x: x[0].T,
        lambda x: x[:1].squeeze(),
        lambda x: x[:, :1].expand(2, 5, 4),
    ],
    ids=[
        "reshape",
        "flat",
        "view",
        "tuple",
        "transpose",
        "permute",
        "unsqueeze",
        "squeeze",
        "flatten",
        "T",
        "squeeze-all",
        "expand",
    ],
)
def test_shape_operations(fn):
    check(fn, fn, randn(2, 3, 4))


INDICES = {
    "int": 1,
    "negative": -1,
    "slice": slice(1, 3),
    "step": (slice(None), slice(0, 4, 2)),
    "none-ellipsis": (None, Ellipsis, 1),
    "mixed": (0, slice(1, None), 2),
    "tensor-repeats": torch.tensor([0, 2, 0, 0]),
    "tensor-pair": (torch.tensor([0, 1, 1]), torch.tensor([2, 0, 2])),
    "tensor-and-slice": (slice(None), torch.tensor([3, 3, 1])),
    "bool-mask": torch.tensor([True, False, True]),
}


@pytest.mark.parametrize("name", INDICES)
def test_indexing(name):
    index = INDICES[name]
    check(lambda x: x[index], lambda x: x[index], randn(3, 4, 5))


def test_index_with_a_scratch_tensor():
    idx = torch.tensor([2, 2, 0])
    check(lambda x: x[S.Tensor(idx)], lambda x: x[idx], randn(3, 4))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack(dim):
    a, b, c = randn(2, 3), randn(2, 3), randn(2, 3)
    check(lambda *t: S.cat(t, dim), lambda *t: torch.cat(t, dim), a, b, c)
    check(lambda *t: S.stack(t, dim), lambda *t: torch.stack(t, dim), a, b, c)


def test_cat_of_different_sizes_and_a_constant():
    a, b = randn(2, 3), randn(4, 3)
    check(lambda x, y: S.cat([x, y]), lambda x, y: torch.cat([x, y]), a, b, needs_grad=[True, False])


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu"])
def test_elementwise(name):
    x = randn(4, 5, positive=name in ("log", "sqrt"))
    check(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), x)


def test_relu_gradient_at_zero_is_zero_like_torch():
    x = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64)
    check(lambda t: t.relu(), lambda t: t.relu(), x)


def test_to_dtype_is_differentiable():
    x = randn(3, 2).float()
    ours = S.Tensor(x, requires_grad=True)
    y = ours.double() * 2.0
    assert y.dtype == torch.float64
    y.sum().backward()
    assert ours.grad.dtype == torch.float32
    assert torch.equal(ours.grad, torch.full((3, 2), 2.0))


def test_a_longer_expression():
    def f(x, w, b):
        h = (x @ w + b).tanh()
        return ((h * h).sum(1, keepdim=True) / (1 + h.abs().max())).log().mean()

    check(f, f, randn(5, 3), randn(3, 4), randn(4))
