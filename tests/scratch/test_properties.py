"""Property-based checks over random shapes (hypothesis): any broadcastable pair, any
reduction, any batched matrix product agrees with torch.autograd in float64."""

import operator

import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import dlc.scratch as S
from tests.scratch.compare import check

SETTINGS = settings(max_examples=40, deadline=None)
OPS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]


def tensor_from(seed, shape, positive=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, dtype=torch.float64, generator=g)
    return x.abs() + 0.5 if positive else x


@SETTINGS
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
    op=st.sampled_from(OPS),
    seed=st.integers(0, 2**31),
)
def test_broadcasting_binary_ops(shapes, op, seed):
    a_shape, b_shape = shapes.input_shapes
    positive = op in (operator.truediv, operator.pow)
    a = tensor_from(seed, a_shape, positive=positive)
    b = tensor_from(seed + 1, b_shape, positive=positive)
    check(op, op, a, b)


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    data=st.data(),
    method=st.sampled_from(["sum", "mean", "max"]),
    keepdim=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_reductions(shape, data, method, keepdim, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = tensor_from(seed, shape)

    def ours(t):
        return getattr(t, method)(dim, keepdim)

    def ref(t):
        out = getattr(t, method)(dim, keepdim)
        return out.values if method == "max" else out

    check(ours, ref, x)


@SETTINGS
@given(
    batch=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
    n=st.integers(1, 4),
    k=st.integers(1, 4),
    m=st.integers(1, 4),
    vector=st.sampled_from([None, "left", "right"]),
    seed=st.integers(0, 2**31),
)
def test_batched_matmul(batch, n, k, m, vector, seed):
    ba, bb = batch.input_shapes
    a_shape = (k,) if vector == "left" else (*ba, n, k)
    b_shape = (k,) if vector == "right" else (*bb, k, m)
    check(operator.matmul, operator.matmul, tensor_from(seed, a_shape), tensor_from(seed + 1, b_shape))


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), data=st.data(), seed=st.integers(0, 2**31))
def test_reshape_and_permute_round_trips(shape, data, seed):
    perm = data.draw(st.permutations(range(len(shape))))
    x = tensor_from(seed, shape)

    def f(t):
        return (t.permute(*perm).reshape(-1) * t.reshape(-1).exp()).reshape(*shape)

    def ref(t):
        return (t.permute(*perm).reshape(-1) * t.reshape(-1).exp()).reshape(*shape)

    check(f, ref, x)


@SETTINGS
@given(n=st.integers(1, 6), c=st.integers(2, 6), seed=st.integers(0, 2**31))
@example(n=1, c=3, seed=1037867)  # a loss of 2.9e-7: where relative accuracy runs out
def test_cross_entropy_any_shape(n, c, seed):
    import torch.nn.functional as TF

    z = tensor_from(seed, (n, c)) * 5
    target = torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(seed))
    # The loss is log-sum-exp(z) minus the target's logit: when the target wins by far it
    # is a tiny difference of two numbers of the logits' size (up to ~15), so both ours and
    # torch's are exact only to ~1e-15 absolute, not relative to the loss (seen: 2.9e-7
    # with a difference of 6e-16); so is the gradient, softmax - one-hot, whose target
    # entry is 1 - p. Hence an absolute floor of 1e-13 on the output and the gradient.
    check(lambda t: S.functional.cross_entropy(t, target), lambda t: TF.cross_entropy(t, target), z, atol=1e-13)
