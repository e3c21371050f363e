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
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0).to(grad_output.dtype)


class MyTanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)  # the derivative is a function of the output
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y * y)


class MyLinear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.t() + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = grad_output @ weight
        if ctx.needs_input_grad[1]:
            dw = grad_output.t() @ x
        if ctx.needs_input_grad[2]:
            db = grad_output.sum(0)
        return dx, dw, db


class FunctionLinear(nn.Linear):
    """nn.Linear's parameters and initialisation, our function for the computation."""

    def forward(self, x):
        return MyLinear.apply(x, self.weight, self.bias)


class FunctionActivation(nn.Module):
    def __init__(self, name: str):
        super().__init__()
        if name not in ACTIVATIONS:
            raise DlcError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
        self.fn = ACTIVATIONS[name][0]

    def forward(self, x):
        return self.fn.apply(x)


ACTIVATIONS = {"relu": (MyReLU, nn.ReLU), "tanh": (MyTanh, nn.Tanh)}


def mlp(hidden: int, activation: str, ours: bool) -> nn.Module:
    """2 -> hidden -> hidden -> 2, from our functions (``ours``) or from torch's modules."""
    if activation not in ACTIVATIONS:
        raise DlcError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    lin = FunctionLinear if ours else nn.Linear
    act = (lambda: FunctionActivation(activation)) if ours else ACTIVATIONS[activation][1]
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
