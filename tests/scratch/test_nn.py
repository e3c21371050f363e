"""Scratch modules against torch.nn with the same weights, in float64."""

import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import dlc.scratch as S
from dlc.scratch import nn
from tests.scratch.compare import assert_close, randn


def twins(ours: nn.Module, ref: tnn.Module):
    ref = ref.double()
    ours.double().load_state_dict(ref.state_dict())
    return ours, ref


def compare_models(ours, ref, x, loss_ours, loss_ref):
    xo = S.Tensor(x.clone(), requires_grad=True)
    xr = x.clone().requires_grad_()
    lo, lr = loss_ours(ours(xo)), loss_ref(ref(xr))
    assert_close(lo, lr.detach(), "loss")
    lo.backward()
    lr.backward()
    assert_close(xo.grad, xr.grad, "input gradient")
    theirs = dict(ref.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(theirs)
    for name, p in ours.named_parameters():
        assert_close(p.grad, theirs[name].grad, f"gradient of {name}")


def test_mlp_matches_torch():
    ours, ref = twins(
        nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3), nn.Sigmoid()),
        tnn.Sequential(tnn.Linear(6, 8), tnn.ReLU(), tnn.Linear(8, 8), tnn.Tanh(), tnn.Linear(8, 3), tnn.Sigmoid()),
    )
    target = randn(10, 3)
    compare_models(ours, ref, randn(10, 6), lambda y: nn.MSELoss()(y, target), lambda y: tnn.MSELoss()(y, target))


def test_convnet_matches_torch():
    ours, ref = twins(
        nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 5, (3, 2), stride=(1, 2)),
            nn.Tanh(),
            nn.Flatten(),
            nn.Linear(5 * 2 * 2, 3),
            nn.LogSoftmax(1),
        ),
        tnn.Sequential(
            tnn.Conv2d(2, 4, 3, padding=1),
            tnn.ReLU(),
            tnn.MaxPool2d(2),
            tnn.Conv2d(4, 5, (3, 2), stride=(1, 2)),
            tnn.Tanh(),
            tnn.Flatten(),
            tnn.Linear(5 * 2 * 2, 3),
            tnn.LogSoftmax(1),
        ),
    )
    target = torch.tensor([0, 2, 1, 1])
    compare_models(
        ours,
        ref,
        randn(4, 2, 8, 8),
        lambda y: (y[torch.arange(4), target]).mean(),
        lambda y: (y[torch.arange(4), target]).mean(),
    )


def test_cross_entropy_loss_module():
    ours, ref = twins(nn.Linear(5, 4), tnn.Linear(5, 4))
    target = torch.tensor([0, 3, 2])
    compare_models(
        ours, ref, randn(3, 5), lambda y: nn.CrossEntropyLoss()(y, target), lambda y: TF.cross_entropy(y, target)
    )


def test_default_initialisation_has_torch_bounds():
    lin, conv = nn.Linear(100, 50), nn.Conv2d(3, 8, 5)
    assert lin.weight.data.abs().max() <= 0.1 and lin.weight.data.abs().max() > 0.09
    assert conv.weight.data.abs().max() <= 1 / (75**0.5)
    assert lin.weight.requires_grad and lin.weight.is_leaf


def test_parameters_registration_and_state_dict_names():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False))
    assert list(model.state_dict()) == list(
        tnn.Sequential(tnn.Linear(2, 3), tnn.ReLU(), tnn.Linear(3, 1, bias=False)).state_dict()
    )
    assert len(list(model.parameters())) == 3
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, shared)
    assert len(list(twice.parameters())) == 2  # a shared parameter counts once
    assert "Linear(in_features=2, out_features=3)" in repr(model)


def test_train_and_eval_modes_reach_every_submodule():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x = S.Tensor(torch.ones(50, 4))
    model.eval()
    assert not model[1].training
    assert torch.equal(model(x).data, model(x).data)  # eval is deterministic
    model.train()
    assert model[1].training
    assert not torch.equal(model(x).data, model(x).data)


def test_zero_grad_and_to():
    model = nn.Linear(3, 2)
    model(S.Tensor(torch.randn(4, 3))).sum().backward()
    assert model.weight.grad is not None
    model.zero_grad()
    assert model.weight.grad is None
    model.to(torch.float64)
    assert model.weight.dtype == torch.float64


def test_module_without_super_init_says_so():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(torch.ones(1))

    with pytest.raises(AttributeError, match=r"must call super\(\)\.__init__\(\)"):
        Broken()


def test_load_state_dict_checks_names_and_shapes():
    model = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="missing"):
        model.load_state_dict({"weight": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match="shape"):
        model.load_state_dict({"weight": torch.zeros(3, 2), "bias": torch.zeros(2)})
