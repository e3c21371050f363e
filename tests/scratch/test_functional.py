"""Layers, losses, convolution and pooling against torch.nn.functional in float64."""

import pytest
import torch
import torch.nn.functional as TF

import dlc.scratch as S
from dlc.scratch import functional as F
from tests.scratch.compare import assert_close, check, randn


@pytest.mark.parametrize("xshape", [(5, 3), (2, 5, 3), (3,)], ids=str)
def test_linear(xshape):
    check(F.linear, TF.linear, randn(*xshape), randn(4, 3), randn(4))
    check(lambda x, w: F.linear(x, w), lambda x, w: TF.linear(x, w), randn(*xshape), randn(4, 3))


def test_linear_with_a_constant_input():
    check(F.linear, TF.linear, randn(5, 3), randn(4, 3), randn(4), needs_grad=[False, True, True])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_log_softmax_and_softmax(dim):
    x = randn(4, 6) * 3
    check(lambda t: F.log_softmax(t, dim), lambda t: TF.log_softmax(t, dim), x)
    check(lambda t: F.softmax(t, dim), lambda t: TF.softmax(t, dim), x)
    check(lambda t: t.log_softmax(dim), lambda t: t.log_softmax(dim), x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction):
    target = torch.randint(0, 6, (5,))
    check(
        lambda z: F.cross_entropy(z, target, reduction),
        lambda z: TF.cross_entropy(z, target, reduction=reduction),
        randn(5, 6),
    )


def test_cross_entropy_is_stable_for_huge_logits():
    z = randn(4, 3) * 1e4
    target = torch.tensor([0, 1, 2, 0])
    out = check(lambda t: F.cross_entropy(t, target), lambda t: TF.cross_entropy(t, target), z)
    assert torch.isfinite(out.data)


def test_cross_entropy_equals_its_composition():
    z, target = randn(5, 4), torch.tensor([3, 0, 1, 1, 2])
    fused = F.cross_entropy(S.Tensor(z), target)
    composed = -F.log_softmax(S.Tensor(z), 1)[torch.arange(5), target].mean()
    assert_close(fused, composed.data)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_loss(reduction):
    check(
        lambda a, b: F.mse_loss(a, b, reduction),
        lambda a, b: TF.mse_loss(a, b, reduction=reduction),
        randn(4, 3),
        randn(4, 3),
    )


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=3),
        dict(kernel_size=(2, 3), stride=2, padding=1),
        dict(kernel_size=3, dilation=2, padding=2),
    ],
    ids=str,
)
def test_unfold(kw):
    check(lambda x: F.unfold(x, **kw), lambda x: TF.unfold(x, **kw), randn(2, 3, 7, 6))


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(stride=2),
        dict(padding=1),
        dict(stride=(2, 1), padding=(1, 2)),
        dict(dilation=2, padding=1),
    ],
    ids=str,
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(kw, bias):
    x, w, b = randn(2, 3, 8, 7), randn(4, 3, 3, 2), randn(4)
    if bias:
        check(lambda *t: F.conv2d(*t, **kw), lambda *t: TF.conv2d(*t, **kw), x, w, b)
    else:
        check(lambda *t: F.conv2d(*t, **kw), lambda *t: TF.conv2d(*t, **kw), x, w)


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2),
        dict(kernel_size=3, stride=1, padding=1),
        dict(kernel_size=(2, 3), stride=(2, 1)),
    ],
    ids=str,
)
def test_max_pool2d(kw):
    check(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), randn(2, 3, 7, 8))


def test_max_pool2d_of_negative_values_with_padding():
    x = -randn(1, 2, 5, 5, positive=True)  # zero padding would win here; -inf must not
    check(lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: TF.max_pool2d(t, 3, 2, 1), x)


def test_dropout_masks_scales_and_differentiates_through_the_mask():
    x = S.Tensor(randn(200, 50, positive=True), requires_grad=True)
    y = F.dropout(x, p=0.3, training=True)
    kept = y.data != 0
    assert 0.6 < kept.double().mean().item() < 0.8  # about 1 - p of the elements survive
    assert torch.allclose(y.data[kept], x.data[kept] / 0.7, rtol=1e-12, atol=0)
    y.sum().backward()
    assert torch.equal(x.grad, kept.double() / 0.7)
    assert F.dropout(x, 0.3, training=False) is x
    assert torch.equal(F.dropout(x, 1.0).data, torch.zeros_like(x.data))
    with pytest.raises(ValueError, match="p must be in"):
        F.dropout(x, 1.5)
