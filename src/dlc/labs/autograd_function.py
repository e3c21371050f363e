"""Writing an autograd function (EE-559 5.7): a forward, its backward, and gradcheck.

A ``torch.autograd.Function`` is an operation whose backward pass we write ourselves:
``forward(ctx, inputs...)`` computes the output and saves what the backward will need
(``ctx.save_for_backward``); ``backward(ctx, grad_output)`` receives dLoss/d(output) and
returns dLoss/d(input) for every input (None where no gradient is needed). Autograd then
chains it with every other operation. Three of them here:

- ``MyReLU``:    y = max(x, 0);          dx = dy * [x > 0]
- ``MyTanh``:    y = tanh(x);            dx = dy * (1 - y^2)   (reuses the saved output)
- ``MyLinear``:  y = x W^T + b;          dx = dy W, dW = dy^T x, db = sum_n dy

``torch.autograd.gradcheck`` compares each backward with finite differences of the
forward, in float64 (in float32 the differences are too coarse to check anything).

Check: all three pass gradcheck; an MLP built only from them, on the disc set of
practical 5, takes the same steps as the one built from ``nn.Linear`` / ``nn.ReLU`` from
the same start (parameters equal to 1e-4), and learns (final training loss below half of
the first epoch's, test error under 15% where chance is 50%).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.autograd import Function

from dlc import viz
from dlc.errors import DlcError, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict


@dataclass
class Config:
    hidden: int = 64  # units of each of the MLP's two hidden layers (chosen here; at least 1)
    activation: str = "relu"  # relu or tanh: which of our functions is the nonlinearity
    lr: float = 0.1  # SGD step (practical 5's)
    batch_size: int = 100  # mini-batch size (practical 5's)
    epochs: int = 50  # passes over the training set, for each of the two MLPs (at least 1)
    n: int = 1000  # disc-set points for training, and as many for testing (at least 2)
    TINY = {"epochs": 20, "n": 500}
    THREADS = 1  # a 2-64-64-2 MLP: a second thread only adds synchronisation

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise UsageError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r} (e.g. --activation tanh)"
            )
        for name, least in (("hidden", 1), ("epochs", 1), ("batch_size", 1), ("n", 2)):
            if getattr(self, name) < least:
                raise UsageError(f"--{name} must be at least {least}, got {getattr(self, name)}")


class MyReLU(Function):
    """y = max(x, 0), elementwise; dLoss/dx = dLoss/dy * [x > 0] (0 at x = 0, as torch's)."""

    @staticmethod
    def forward(ctx, x):
        """Save what the backward needs (``ctx.save_for_backward``), return y (x's shape)."""
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        return x.clamp(min=0)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        """dLoss/dy (``grad_output``) -> dLoss/dx, from ``ctx.saved_tensors``."""
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0).to(grad_output.dtype)
        ### END SOLUTION


class MyTanh(Function):
    """y = tanh(x), elementwise; dLoss/dx = dLoss/dy * (1 - y^2): save the output, not x."""

    @staticmethod
    def forward(ctx, x):
        """Save what the backward needs, return y (x's shape)."""
        ### BEGIN SOLUTION
        y = torch.tanh(x)
        ctx.save_for_backward(y)  # the derivative is a function of the output
        return y
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        """dLoss/dy -> dLoss/dx."""
        ### BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y * y)
        ### END SOLUTION


class MyLinear(Function):
    """y = x W^T + b for x (N x D), W (M x D), b (M): y is N x M.

    Backward: dx = dy W (N x D), dW = dy^T x (M x D), db = sum over the samples of dy (M).
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        """Save what the backward needs, return y."""
        ### BEGIN SOLUTION
        ctx.save_for_backward(x, weight)
        return x @ weight.t() + bias
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        """dLoss/dy -> (dLoss/dx, dLoss/dW, dLoss/db); None for an input whose
        ``ctx.needs_input_grad[i]`` is False (no one needs it: skip the work)."""
        ### BEGIN SOLUTION
        x, weight = ctx.saved_tensors
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = grad_output @ weight
        if ctx.needs_input_grad[1]:
            dw = grad_output.t() @ x
        if ctx.needs_input_grad[2]:
            db = grad_output.sum(0)
        return dx, dw, db
        ### END SOLUTION


class FunctionLinear(nn.Linear):
    """nn.Linear's parameters and initialisation, our function for the computation."""

    def forward(self, x):
        return MyLinear.apply(x, self.weight, self.bias)


class FunctionActivation(nn.Module):
    def __init__(self, name: str):
        super().__init__()
        self.fn = our_activation(name)

    def forward(self, x):
        return self.fn.apply(x)


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}  # torch's module for each of our activations


def our_activation(name: str) -> type[Function]:
    """Our Function for an activation name (looked up at each call: a new MyReLU is used)."""
    if name not in ACTIVATIONS:
        raise DlcError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return {"relu": MyReLU, "tanh": MyTanh}[name]


def mlp(hidden: int, activation: str, ours: bool) -> nn.Module:
    """2 -> hidden -> hidden -> 2, from our functions (``ours``) or from torch's modules."""
    if activation not in ACTIVATIONS:
        raise DlcError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    lin = FunctionLinear if ours else nn.Linear
    act = (lambda: FunctionActivation(activation)) if ours else ACTIVATIONS[activation]
    return nn.Sequential(lin(2, hidden), act(), lin(hidden, hidden), act(), lin(hidden, 2))


def gradchecks(seed: int = 0) -> dict[str, bool]:
    """gradcheck (finite differences vs our backward) for each function, in float64."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)

    x = rnd(6, 5)
    with torch.no_grad():  # keep ReLU's inputs away from its kink, where no derivative exists
        x.add_(x.sign() * 0.1)
    check = dict(eps=1e-6, atol=1e-6, raise_exception=False)
    return {
        "MyReLU": torch.autograd.gradcheck(MyReLU.apply, (x,), **check),
        "MyTanh": torch.autograd.gradcheck(MyTanh.apply, (rnd(6, 5),), **check),
        "MyLinear": torch.autograd.gradcheck(MyLinear.apply, (rnd(6, 5), rnd(3, 5), rnd(3)), **check),
    }


@lab(
    "autograd-function",
    source="EE-559 5.7",
    summary=(
        "ReLU, tanh and linear as torch.autograd.Functions with hand-written backward; gradcheck; an MLP of them trains"
    ),
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc.data.toy import disc_outside
    from dlc.engine import MetricsLogger, Supervised, evaluate, fit
    from dlc.engine.callbacks import ProgressBar
    from dlc.stats import standardize

    checks = gradchecks(ctx.seed)
    for name, ok in checks.items():
        ctx.print(f"gradcheck {name}: {'passed' if ok else 'FAILED'}")
        ctx.log(gradcheck=name, passed=ok)

    # Practical 5's disc set, normalised with the training statistics.
    x, y = disc_outside(cfg.n, seed=ctx.seed)
    xt, yt = disc_outside(cfg.n, seed=ctx.seed + 1)
    x, xt = standardize(x, xt, per_feature=True)

    ours, theirs = mlp(cfg.hidden, cfg.activation, True), mlp(cfg.hidden, cfg.activation, False)
    theirs.load_state_dict(ours.state_dict())  # same start
    histories, tests = {}, {}
    for name, model in (("autograd.Function", ours), ("nn modules", theirs)):
        step = Supervised(model, torch.optim.SGD(model.parameters(), lr=cfg.lr), loss="cross_entropy")
        torch.manual_seed(ctx.seed)  # same mini-batch order for both
        # two small fits compared in one figure: their epoch records only
        histories[name] = fit(
            step,
            (x, y),
            ctx,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            callbacks=[MetricsLogger(every=0)] + ([] if ctx.quiet else [ProgressBar(epoch_lines=False)]),
            name=name.replace(" ", "-").replace(".", "-"),
        )
        tests[name] = evaluate(step, (xt, yt), ctx)
    diff = max((p - q).abs().max().item() for p, q in zip(ours.parameters(), theirs.parameters()))

    curves = {k: [r["train_loss"] for r in h] for k, h in histories.items()}
    fig = viz.curves(
        curves,
        ylabel="training loss (cross-entropy)",
        logy=True,
        title=f"MLP 2-{cfg.hidden}-{cfg.hidden}-2 ({cfg.activation}): our functions vs torch's modules",
    )
    ax = fig.axes[0]
    ax.lines[0].set(linewidth=6, alpha=0.4)  # the two curves coincide: the wide one shows under the thin one
    ax.legend(title="same start, same batches", fontsize=9)
    ctx.save_figure(fig, "loss")
    with torch.no_grad():
        fig = viz.decision_regions(
            lambda p: ours(p).argmax(1), xt, yt, title="the autograd.Function MLP on the test set"
        )
    viz.label_regions(fig, ("inside the disc (0)", "outside (1)"), "x1 (standardised)", "x2 (standardised)")
    ctx.save_figure(fig, "decision_regions")

    mine = tests["autograd.Function"]
    first, last = curves["autograd.Function"][0], curves["autograd.Function"][-1]
    metrics = {
        **{f"gradcheck_{k}": v for k, v in checks.items()},
        "max_param_difference_vs_nn": diff,
        "first_train_loss": first,
        "last_train_loss": last,
        "test_error": mine["error"],
        "nn_test_error": tests["nn modules"]["error"],
    }
    line = (
        f"gradcheck passed for {', '.join(k for k, v in checks.items() if v) or 'none'}; "
        f"an MLP of them: loss {first:.3f} -> {last:.3f}, test error {mine['error']:.1%} "
        f"(torch's modules from the same start: {tests['nn modules']['error']:.1%}, "
        f"max parameter difference {diff:.1e})"
    )
    return Result(line, metrics=metrics)


def check(result: Result) -> list:
    """Each hand-written backward is right, and an MLP of them trains like torch's own."""
    m = result.metrics
    out = [
        verdict(f"gradcheck {name} passed (1 = yes)", m[f"gradcheck_{name}"], "==", 1)
        for name in ("MyReLU", "MyTanh", "MyLinear")
    ]
    out += [
        verdict("largest parameter difference from torch's modules", m["max_param_difference_vs_nn"], "<", 1e-4),
        verdict("final training loss / first epoch's", m["last_train_loss"] / m["first_train_loss"], "<", 0.5),
        verdict("test error (chance 50%)", m["test_error"], "<", 0.15),
    ]
    return out


# -- exercises (`dlc exercise autograd-function`, then `dlc check autograd-function`) -----


def _gradients(apply, *inputs) -> tuple:
    """d(sum(u * y))/d(input) for y = apply(*inputs) and a seeded random u, by autograd in
    float64 (through our backward when ``apply`` is one of our Functions)."""
    leaves = [t.detach().double().requires_grad_(True) for t in inputs]
    y = apply(*leaves)
    u = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
    return torch.autograd.grad((y * u).sum(), leaves)


def _elementwise_cases(g: torch.Generator) -> list[tuple]:
    with_zeros = torch.randn(4, 5, generator=g, dtype=torch.float64)
    with_zeros[0, :2] = 0.0  # ReLU's kink: torch's derivative there is 0
    return [
        (torch.randn(6, 3, generator=g, dtype=torch.float64),),
        (with_zeros,),
        (3 * torch.randn(7, generator=g, dtype=torch.float64),),
    ]


def _linear_cases(g: torch.Generator) -> list[tuple]:
    shapes = [(6, 5, 3), (1, 4, 2), (10, 3, 7)]  # N, D, M
    return [
        (
            torch.randn(n, d, generator=g, dtype=torch.float64),
            torch.randn(m, d, generator=g, dtype=torch.float64),
            torch.randn(m, generator=g, dtype=torch.float64),
        )
        for n, d, m in shapes
    ]


def _apply(cls, *inputs):
    return cls.apply(*inputs)


def _ours(cls, *inputs) -> tuple:
    return _gradients(cls.apply, *inputs)


TASKS = [
    Task(
        "MyReLU",
        hint="forward: save x, return x.clamp(min=0); backward: grad_output times the mask x > 0 (as a float)",
        cases=_elementwise_cases,
        call=_apply,
        grad=_ours,
        autograd=lambda x: _gradients(torch.relu, x),
    ),
    Task(
        "MyTanh",
        hint="forward: y = tanh(x), save y; backward: grad_output * (1 - y^2)",
        cases=_elementwise_cases,
        call=_apply,
        grad=_ours,
        autograd=lambda x: _gradients(torch.tanh, x),
    ),
    Task(
        "MyLinear",
        hint="forward: save x and weight, return x @ weight.t() + bias; backward: dx = dy @ W, dW = dy^T @ x, "
        "db = dy summed over the samples (dim 0)",
        cases=_linear_cases,
        call=_apply,
        grad=_ours,
        autograd=lambda x, w, b: _gradients(torch.nn.functional.linear, x, w, b),
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
