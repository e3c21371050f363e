"""Layer 1 (the mini-project's modules, explicit backward) against torch.autograd, float64."""

import pytest
import torch
import torch.nn.functional as TF

from dlc.scratch import ShapeError
from dlc.scratch import modules as M
from tests.scratch.compare import assert_close, randn


def check_module(module, ref_fn, x, ref_params=()):
    """forward/backward of ``module`` vs ``ref_fn(x, *ref_params)`` under autograd.

    ``ref_params`` are the module's own parameters, cloned for torch.
    """
    params = [p.clone().requires_grad_() for p in ref_params]
    xr = x.clone().requires_grad_()
    ref = ref_fn(xr, *params)
    with torch.no_grad():  # as the mini-project: autograd off
        out = module.forward(x.clone())
        assert_close(out, ref.detach(), "output")
        seed = torch.randn(ref.shape, dtype=torch.float64)
        grad_in = module.backward(seed)
    ref.backward(seed)
    assert_close(grad_in, xr.grad, "input gradient")
    for (p, g), r in zip(module.param(), params):
        assert_close(g, r.grad, "parameter gradient")
    return module


def f64(module):
    return module.to(dtype=torch.float64)


def test_linear():
    lin = f64(M.Linear(5, 3))
    check_module(lin, TF.linear, randn(7, 5), [lin.weight, lin.bias])
    nobias = f64(M.Linear(5, 3, bias=False))
    check_module(nobias, TF.linear, randn(7, 5), [nobias.weight])


@pytest.mark.parametrize("name", ["ReLU", "Tanh", "Sigmoid"])
def test_activations(name):
    check_module(getattr(M, name)(), getattr(torch, name.lower()), randn(6, 4))


def test_sequential_mlp_of_the_mini_project():
    layers = [M.Linear(2, 25), M.ReLU(), M.Linear(25, 25), M.Tanh(), M.Linear(25, 2), M.Sigmoid()]
    model = f64(M.Sequential(*layers))

    def ref(x, w1, b1, w2, b2, w3, b3):
        return torch.sigmoid(TF.linear(torch.tanh(TF.linear(torch.relu(TF.linear(x, w1, b1)), w2, b2)), w3, b3))

    check_module(model, ref, randn(10, 2), [p for p, _ in model.param()])


def test_losses():
    pred, target = randn(6, 3), randn(6, 3)
    mse = M.LossMSE()
    pr = pred.clone().requires_grad_()
    loss_ref = TF.mse_loss(pr, target)
    assert_close(mse.forward(pred, target), loss_ref.detach())
    loss_ref.backward()
    assert_close(mse.backward(), pr.grad)

    labels = torch.tensor([0, 2, 1, 1, 0, 2])
    ce = M.LossCrossEntropy()
    pr = pred.clone().requires_grad_()
    loss_ref = TF.cross_entropy(pr, labels)
    assert_close(ce.forward(pred, labels), loss_ref.detach())
    loss_ref.backward()
    assert_close(ce.backward(), pr.grad)


def test_gradients_accumulate_until_zero_grad():
    lin = f64(M.Linear(3, 2))
    x, g = randn(4, 3), randn(4, 2)
    lin.forward(x)
    lin.backward(g)
    once = lin.grad_weight.clone()
    lin.forward(x)
    lin.backward(g)
    assert_close(lin.grad_weight, 2 * once)
    lin.zero_grad()
    assert torch.count_nonzero(lin.grad_weight) == 0


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding=(1, 2), dilation=2)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(kw, bias):
    conv = f64(M.Conv2d(3, 4, (3, 2), bias=bias, **kw))
    params = [conv.weight] + ([conv.bias] if bias else [])

    def ref(x, w, b=None):
        return TF.conv2d(x, w, b, **kw)

    check_module(conv, ref, randn(2, 3, 9, 8), params)


def test_nearest_upsampling_and_upsampling_layer():
    check_module(M.NearestUpsampling(2), lambda x: TF.interpolate(x, scale_factor=2, mode="nearest"), randn(2, 3, 4, 5))
    up = f64(M.Upsampling(3, 2, 3, scale_factor=2, padding=1))

    def ref(x, w, b):
        return TF.conv2d(TF.interpolate(x, scale_factor=2, mode="nearest"), w, b, padding=1)

    out = check_module(up, ref, randn(2, 3, 4, 4), [p for p, _ in up.param()])
    assert out.modules[1].weight.shape == (2, 3, 3, 3)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_torch(momentum):
    lin = f64(M.Linear(4, 3))
    params = [p.clone().requires_grad_() for p, _ in lin.param()]
    ours, ref = M.SGD(lin.param(), lr=0.1, momentum=momentum), torch.optim.SGD(params, lr=0.1, momentum=momentum)
    for _ in range(5):
        for (p, g), r in zip(lin.param(), params):
            new = torch.randn(p.shape, dtype=torch.float64)
            g.copy_(new)
            r.grad = new.clone()
        ours.step()
        ref.step()
    for (p, _), r in zip(lin.param(), params):
        assert_close(p, r.detach(), "parameter")


def test_bad_shapes_are_named():
    with pytest.raises(ShapeError, match=r"Linear.forward: input of shape \(4, 3\).*\(2, 5\)"):
        M.Linear(5, 2).forward(torch.zeros(4, 3))
    with pytest.raises(ShapeError, match=r"LossMSE.*\(4, 2\).*\(4,\)"):
        M.LossMSE().forward(torch.zeros(4, 2), torch.zeros(4))
    with pytest.raises(ShapeError, match=r"Conv2d.forward.*\(1, 2, 5, 5\)"):
        M.Conv2d(3, 1, 3).forward(torch.zeros(1, 2, 5, 5))
    with pytest.raises(ValueError, match="param"):
        M.SGD([], lr=0.1)
