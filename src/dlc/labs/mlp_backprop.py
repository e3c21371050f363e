"""Backpropagation by hand (EE-559 3.4-3.6, practical 3): an MLP without autograd.

The practical's network: MNIST through the prologue (normalised, one-hot targets of
-1 / +1 scaled by 0.9 to stay inside tanh's range), 784 -> 50 -> 10 with tanh on both
layers, the summed squared error, weights drawn from N(0, 1e-6), and full-batch gradient
descent with eta = 0.1 / number of training samples for 1,000 steps. Forward and backward
passes are written out: ``forward_pass`` keeps every intermediate value, and
``backward_pass`` applies the chain rule to them layer by layer.

Check: the hand-written gradients equal torch.autograd's to 1e-10 in float64, and the
test error falls far below chance (under half of 90%) and below half the error of the
same network before its first step.

The practical loops over samples one by one (``mv``); here each row of ``x`` is a sample
and the same formulas run on the whole batch at once, the sum over samples done by the
matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlc import viz
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict


@dataclass
class Config:
    hidden: int = 50  # units of the hidden tanh layer (the practical's 50)
    steps: int = 1000  # full-batch gradient steps (the practical's 1,000)
    lr: float = 0.1  # eta = lr / number of training samples (the loss is a sum; the practical's 0.1)
    zeta: float = 0.9  # targets scaled by zeta into tanh's range (the practical's 0.9)
    init_std: float = 1e-6  # std of the initial weights and biases (the practical's epsilon)
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    TINY = {"steps": 150}

    def __post_init__(self):
        for name in ("hidden", "steps"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0 or not self.init_std > 0:
            raise UsageError(f"--lr and --init_std must be positive, got {self.lr} and {self.init_std}")


# -- the practical's functions -----------------------------------------------------------
def sigma(x: torch.Tensor) -> torch.Tensor:
    return x.tanh()


def dsigma(x: torch.Tensor) -> torch.Tensor:
    return 1 - x.tanh().pow(2)


def loss(v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return (v - t).pow(2).sum()


def dloss(v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return 2 * (v - t)


def forward_pass(w1, b1, w2, b2, x):
    """The two layers, s = x W^T + b then x = sigma(s), on a batch x (N x D), one sample per row.

    w1: H x D, b1: H, w2: C x H, b2: C. Returns (x0, s1, x1, s2, x2): the input (x0 = x, N x D),
    then each layer's pre-activation s and output x (N x H, then N x C): what the backward needs.
    """
    ### BEGIN SOLUTION
    x0 = x
    s1 = x0 @ w1.t() + b1
    x1 = sigma(s1)
    s2 = x1 @ w2.t() + b2
    x2 = sigma(s2)
    return x0, s1, x1, s2, x2
    ### END SOLUTION


def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):
    """Add dl/dparameter, summed over the batch, to the four gradient tensors (in place).

    l = loss(x2, t) (t: N x C); x, s1, x1, s2, x2 are ``forward_pass``'s values. Go backwards
    with the chain rule: dl/dx2 (``dloss``), through sigma to dl/ds2 (``dsigma``), through the
    linear layer to dl/dx1 and to dl/dw2, dl/db2; then the same for the first layer. The
    sums over the samples come from the matrix products. Returns None.
    """
    ### BEGIN SOLUTION
    x0 = x
    dl_dx2 = dloss(x2, t)
    dl_ds2 = dsigma(s2) * dl_dx2  # through tanh: elementwise
    dl_dx1 = dl_ds2 @ w2  # through the linear layer: the transposed weights
    dl_ds1 = dsigma(s1) * dl_dx1
    dl_dw2.add_(dl_ds2.t() @ x1)  # outer products, summed over the samples
    dl_db2.add_(dl_ds2.sum(0))
    dl_dw1.add_(dl_ds1.t() @ x0)
    dl_db1.add_(dl_ds1.sum(0))
    ### END SOLUTION


def init_params(n_in: int, hidden: int, n_out: int, std: float, device=None, dtype=None):
    def normal(*shape):
        return torch.empty(*shape, device=device, dtype=dtype).normal_(0, std)

    return normal(hidden, n_in), normal(hidden), normal(n_out, hidden), normal(n_out)


def nb_errors(w1, b1, w2, b2, x, target) -> int:
    """Samples whose largest output is not at the +1 of their one-hot target."""
    x2 = forward_pass(w1, b1, w2, b2, x)[-1]
    return int((x2.argmax(1) != target.argmax(1)).sum())


def gradient_check(n: int = 20, n_in: int = 30, hidden: int = 7, n_out: int = 5, seed: int = 0, backward=None) -> float:
    """Largest relative error between ``backward`` (this lab's ``backward_pass`` by default)
    and torch.autograd, in float64.

    Weights of std 0.5 (not 1e-6) so that tanh is exercised away from its linear part.
    """
    backward = backward or backward_pass
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_in, dtype=torch.float64, generator=g)
    t = torch.randn(n, n_out, dtype=torch.float64, generator=g)
    params = [
        torch.randn(*s, dtype=torch.float64, generator=g) * 0.5
        for s in ((hidden, n_in), (hidden,), (n_out, hidden), (n_out,))
    ]
    grads = [torch.zeros_like(p) for p in params]
    x0, s1, x1, s2, x2 = forward_pass(*params, x)
    backward(*params, t, x0, s1, x1, s2, x2, *grads)

    leaves = [p.clone().requires_grad_() for p in params]
    loss(forward_pass(*leaves, x)[-1], t).backward()
    return max(float((ours - p.grad).abs().max() / p.grad.abs().max()) for ours, p in zip(grads, leaves))


@lab(
    "mlp-backprop",
    source="EE-559 3.4-3.6, practical 3",
    summary="MLP with hand-written forward/backward passes (tanh, MSE, targets x0.9) on MNIST",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc import prologue

    train_input, train_target, test_input, test_target = prologue.load(
        train_size=cfg.train_size,
        test_size=cfg.test_size,
        one_hot_labels=True,
        one_hot_style="minus_one",  # the practical's -1/+1 targets, scaled by zeta below
        normalize=True,
        data_dir=ctx.data_dir,
        device=ctx.device,
    )
    train_target = train_target * cfg.zeta
    test_target = test_target * cfg.zeta
    n_train, n_test = train_input.size(0), test_input.size(0)

    grad_err = gradient_check(seed=ctx.seed if ctx.seed >= 0 else 0)
    ctx.print(f"gradient check against autograd (float64): max relative error {grad_err:.1e}")

    w1, b1, w2, b2 = init_params(train_input.size(1), cfg.hidden, train_target.size(1), cfg.init_std, device=ctx.device)
    grads = [torch.zeros_like(p) for p in (w1, b1, w2, b2)]
    eta = cfg.lr / n_train
    untrained_err = nb_errors(w1, b1, w2, b2, test_input, test_target)

    history = {"loss": [], "train error": [], "test error": []}
    for step in range(1, cfg.steps + 1):
        for g in grads:
            g.zero_()
        x0, s1, x1, s2, x2 = forward_pass(w1, b1, w2, b2, train_input)
        acc_loss = loss(x2, train_target).item()
        train_err = int((x2.argmax(1) != train_target.argmax(1)).sum())
        backward_pass(w1, b1, w2, b2, train_target, x0, s1, x1, s2, x2, *grads)
        for p, g in zip((w1, b1, w2, b2), grads):
            p.sub_(eta * g)
        test_err = nb_errors(w1, b1, w2, b2, test_input, test_target)
        history["loss"].append(acc_loss)
        history["train error"].append(train_err / n_train)
        history["test error"].append(test_err / n_test)
        ctx.log(step=step, loss=acc_loss, train_error=train_err / n_train, test_error=test_err / n_test)
        if step == 1 or step % 100 == 0:
            ctx.print(
                f"{step} acc_loss {acc_loss:.02f} "
                f"train_error {100 * train_err / n_train:.02f}% "
                f"test_error {100 * test_err / n_test:.02f}%"
            )

    train_err = nb_errors(w1, b1, w2, b2, train_input, train_target)
    test_err = nb_errors(w1, b1, w2, b2, test_input, test_target)
    ctx.save_figure(
        viz.curves(
            {"train error": history["train error"], "test error": history["test error"]},
            xlabel="step",
            ylabel="error rate",
            title="full-batch gradient descent, backprop by hand",
        ),
        "errors",
    )
    ctx.save_figure(
        viz.curves(
            {"summed MSE": history["loss"]},
            xlabel="step",
            ylabel="training loss",
            logy=True,
            title=f"summed squared error on the {n_train:,} training images",
        ),
        "loss",
    )
    return Result(
        f"test error {test_err / n_test:.2%} ({test_err} / {n_test}), train error "
        f"{train_err / n_train:.2%} after {cfg.steps} steps; gradients equal autograd's to "
        f"{grad_err:.0e}",
        metrics={
            "train_error": train_err / n_train,
            "test_error": test_err / n_test,
            "first_loss": history["loss"][0],
            "final_loss": history["loss"][-1],
            "first_test_error": history["test error"][0],
            "untrained_test_error": untrained_err / n_test,
            "gradient_check_rel_error": grad_err,
            "steps": cfg.steps,
            "n_train": n_train,
            "n_test": n_test,
        },
    )


def check(result: Result) -> list:
    """The practical's points: backprop by hand is autograd's, and the network learns."""
    m = result.metrics
    return [
        verdict(
            "hand-written gradients equal autograd's (max relative error, float64)",
            m["gradient_check_rel_error"],
            "<=",
            1e-10,
        ),
        verdict("test error below chance (90%)", m["test_error"], "<", 0.9 * 0.5),
        verdict("test error below half the untrained network's", m["test_error"], "<", 0.5 * m["untrained_test_error"]),
    ]


# -- exercises (`dlc exercise mlp-backprop`, then `dlc check mlp-backprop`) --------------


def _network_cases(g: torch.Generator) -> list[tuple]:
    """(w1, b1, w2, b2, x, t) in float64, weights of std 0.5 so that tanh bends."""
    out = []
    for n, d, h, c in ((6, 8, 5, 3), (1, 4, 3, 2), (12, 10, 7, 10)):
        params = [0.5 * torch.randn(*s, generator=g, dtype=torch.float64) for s in ((h, d), (h,), (c, h), (c,))]
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
        t = 0.9 * torch.where(torch.rand(n, c, generator=g) < 0.5, 1.0, -1.0).double()
        out.append((*params, x, t))
    return out


def _backward_gradients(fn, w1, b1, w2, b2, x, t) -> list:
    """The four gradients ``fn`` (a backward_pass) adds to zero tensors, from dlc's forward pass."""
    grads = [torch.zeros_like(p) for p in (w1, b1, w2, b2)]
    x0, s1, x1, s2, x2 = forward_pass(w1, b1, w2, b2, x)
    fn(w1, b1, w2, b2, t, x0, s1, x1, s2, x2, *grads)
    return grads


def _autograd_gradients(w1, b1, w2, b2, x, t) -> tuple:
    leaves = [p.detach().clone().requires_grad_(True) for p in (w1, b1, w2, b2)]
    return torch.autograd.grad(loss(forward_pass(*leaves, x)[-1], t), leaves)


TASKS = [
    Task(
        "forward_pass",
        hint="s1 = x @ w1.t() + b1, x1 = sigma(s1), s2 = x1 @ w2.t() + b2, x2 = sigma(s2); return x, s1, x1, s2, x2",
        cases=lambda g: [c[:5] for c in _network_cases(g)],
        grad=True,
    ),
    Task(
        "backward_pass",
        hint="dl/ds2 = dsigma(s2) * dloss(x2, t); dl/dx1 = dl/ds2 @ w2; dl/ds1 = dsigma(s1) * dl/dx1; "
        "add dl/ds2^T @ x1 and dl/ds2 summed over the samples to dl_dw2 and dl_db2, the same with x for layer 1",
        cases=_network_cases,
        call=_backward_gradients,
        grad=_backward_gradients,
        autograd=_autograd_gradients,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
