"""Every optimiser, step by step, against torch.optim on the same parameters and gradients."""

import itertools

import pytest
import torch

import dlc.scratch as S
from dlc.scratch import optim
from tests.scratch.compare import assert_close

STEPS = 6


def run_both(ours_cls, torch_cls, **options):
    """Apply the same sequence of random gradients to twin parameters; compare each step."""
    gen = torch.Generator().manual_seed(1)
    shapes = [(4, 3), (3,), (2, 2, 2)]
    start = [torch.randn(s, dtype=torch.float64, generator=gen) for s in shapes]
    ours = [S.Tensor(x.clone(), requires_grad=True) for x in start]
    ref = [x.clone().requires_grad_() for x in start]
    opt_ours, opt_ref = ours_cls(ours, **options), torch_cls(ref, **options)
    for step in range(STEPS):
        for o, r in zip(ours, ref):
            g = torch.randn(r.shape, dtype=torch.float64, generator=gen)
            o.grad, r.grad = g.clone(), g.clone()
        opt_ours.step()
        opt_ref.step()
        for i, (o, r) in enumerate(zip(ours, ref)):
            assert_close(o.data, r.detach(), f"parameter {i} after step {step + 1}")
    assert not torch.equal(ours[0].data, start[0])  # the steps did move the parameters


SGD_OPTIONS = [
    dict(lr=0.1, momentum=m, dampening=d, weight_decay=wd, nesterov=n)
    for m, d, wd, n in itertools.product([0.0, 0.9], [0.0, 0.3], [0.0, 0.01], [False, True])
    if not (n and (m == 0 or d != 0))
]


@pytest.mark.parametrize("options", SGD_OPTIONS, ids=str)
def test_sgd(options):
    run_both(optim.SGD, torch.optim.SGD, **options)


@pytest.mark.parametrize(
    "options",
    [
        dict(lr=0.01),
        dict(lr=0.05, alpha=0.9, eps=1e-6),
        dict(lr=0.01, weight_decay=0.1),
        dict(lr=0.01, momentum=0.8),
        dict(lr=0.01, centered=True),
        dict(lr=0.02, alpha=0.95, weight_decay=0.05, momentum=0.5, centered=True),
    ],
    ids=str,
)
def test_rmsprop(options):
    run_both(optim.RMSprop, torch.optim.RMSprop, **options)


@pytest.mark.parametrize(
    "options",
    [
        dict(lr=1e-3),
        dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6),
        dict(lr=0.01, weight_decay=0.1),
        dict(lr=0.01, amsgrad=True),
        dict(lr=0.02, betas=(0.5, 0.99), weight_decay=0.05, amsgrad=True),
    ],
    ids=str,
)
def test_adam(options):
    run_both(optim.Adam, torch.optim.Adam, **options)


@pytest.mark.parametrize("options", [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1, amsgrad=True)], ids=str)
def test_adamw(options):
    run_both(optim.AdamW, torch.optim.AdamW, **options)


def test_parameters_without_gradient_are_skipped_and_zero_grad_clears():
    p = S.Tensor(torch.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    assert torch.equal(p.data, torch.ones(2))
    p.grad = torch.ones(2)
    opt.step()
    opt.zero_grad()
    assert p.grad is None and torch.allclose(p.data, torch.full((2,), 0.9))


def test_optimisers_do_not_modify_the_gradients():
    p = S.Tensor(torch.ones(3, dtype=torch.float64), requires_grad=True)
    for opt in [
        optim.SGD([p], 0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
        optim.RMSprop([p], weight_decay=0.1, centered=True, momentum=0.5),
        optim.Adam([p], weight_decay=0.1, amsgrad=True),
        optim.AdamW([p]),
    ]:
        g = torch.full((3,), 0.5, dtype=torch.float64)
        p.grad = g
        opt.step()
        opt.step()
        assert torch.equal(g, torch.full((3,), 0.5, dtype=torch.float64))


def test_bad_arguments():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="requires a gradient"):
        optim.SGD([S.Tensor(torch.ones(1))], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([S.Tensor(torch.ones(1), requires_grad=True)], lr=0.1, nesterov=True)


def test_training_a_model_equals_torch_step_by_step():
    import torch.nn as tnn

    from dlc.scratch import nn

    ours = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    ref = tnn.Sequential(tnn.Linear(3, 5), tnn.Tanh(), tnn.Linear(5, 2)).double()
    ours.load_state_dict(ref.state_dict())
    x, y = torch.randn(20, 3, dtype=torch.float64), torch.randint(0, 2, (20,))
    o_opt = optim.Adam(ours.parameters(), lr=0.05)
    r_opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    for _ in range(10):
        o_opt.zero_grad()
        S.functional.cross_entropy(ours(S.Tensor(x)), y).backward()
        o_opt.step()
        r_opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(x), y).backward()
        r_opt.step()
    for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
        assert_close(p.data, q.detach(), name)
