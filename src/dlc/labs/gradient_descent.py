"""Gradient descent (EE-559 3.5, with 5.2's mini-batches; EDHEC's three algorithms).

A linear model y = W x + b fitted to the prologue's MNIST with one-hot (+-1) targets
and the mean squared error. The loss is quadratic in (W, b), so the lecture's analysis
is exact: its Hessian is 2 X'X / n, whose largest eigenvalue L sets the critical step
2 / L. Below it gradient descent converges; above it the error along the steepest
direction is multiplied by |1 - lr L| > 1 at every step and the loss explodes.

The loop is written out (gradient by hand, as in chapter 3, before autograd):
- batch gradient descent: one step per epoch, on the gradient of the whole training set;
- mini-batch SGD: one step per mini-batch of 100 samples, drawn without replacement;
- stochastic gradient descent: one step per sample.
Then batch gradient descent with a step too small, good, and too large.

Every variant's training loss is recorded after each update block (metrics and figure).

Check: with the best step below the critical one (0.5 x 2/L by default) batch gradient
descent brings the loss below a quarter of its start; with the largest step above it
(1.5 x 2/L) the loss explodes (more than 100 times its start, or overflows); and per
epoch, one-sample SGD ends lower than batch gradient descent at the same learning rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dlc import viz
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.options import parse_list


@dataclass
class Config:
    epochs: int = 20  # passes over the training set, for every variant and every step size (at least 1)
    lr: float = 5e-4  # learning rate shared by the three variants; per-sample SGD is stable below ~1/|x|^2
    batch_size: int = 100  # samples per step of the mini-batch variant (at least 1)
    lr_factors: str = "0.01,0.5,1.5"  # batch GD steps, as multiples of the critical step 2 / L
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    TINY = {"epochs": 10}

    def __post_init__(self):
        _parse_factors(self.lr_factors)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise UsageError(f"--lr must be positive, got {self.lr}")


class Linear:
    """y = x W' + b (W: C x D, b: C), with its mean-squared-error loss and gradient written out."""

    def __init__(self, d_in: int, d_out: int):
        self.w = torch.zeros(d_out, d_in)
        self.b = torch.zeros(d_out)

    def loss(self, x, t) -> float:
        return (x @ self.w.t() + self.b - t).pow(2).sum(1).mean().item()

    def gradient(self, x, t):
        """(d/dW, d/db) of ``loss``, mean_i |W x_i + b - t_i|^2 over the N rows of x (N x D)
        and t (N x C): a C x D and a C tensor, by hand (no autograd)."""
        ### BEGIN SOLUTION
        r = 2 * (x @ self.w.t() + self.b - t) / len(x)  # N x C
        return r.t() @ x, r.sum(0)
        ### END SOLUTION

    def step(self, x, t, lr: float) -> None:
        """One gradient step on (x, t) with step size lr: W and b move against their gradient."""
        ### BEGIN SOLUTION
        gw, gb = self.gradient(x, t)
        self.w -= lr * gw
        self.b -= lr * gb
        ### END SOLUTION


def critical_lr(x: torch.Tensor) -> tuple[float, float]:
    """(L, 2 / L), two floats: L is the largest eigenvalue of the loss's Hessian, 2 X'X / n,
    where X is x (n x D) with a column of ones appended (for b); compute in float64."""
    ### BEGIN SOLUTION
    xb = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1).double()
    top = torch.linalg.eigvalsh(xb.t() @ xb / len(x))[-1].item()
    return 2 * top, 1 / top
    ### END SOLUTION


def minibatches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """One epoch's steps: a list of index tensors that cover 0..n-1 once each, ``batch_size``
    at a time (the last one may be smaller).

    With batch_size >= n (batch gradient descent) there is one batch, 0..n-1 in order, and
    nothing is drawn; otherwise the order is a fresh permutation,
    ``torch.randperm(n, generator=gen)``, cut into consecutive pieces.
    """
    ### BEGIN SOLUTION
    order = torch.randperm(n, generator=gen) if batch_size < n else torch.arange(n)
    return list(order.split(batch_size))
    ### END SOLUTION


def descend(x, t, lr: float, batch_size: int, epochs: int, gen: torch.Generator, records: int = 10):
    """Gradient steps on batches of ``batch_size`` (len(x) = batch GD, 1 = SGD).

    Returns (updates, losses, model): the full training loss at ``records`` points per epoch
    (or after every update if there are fewer), starting with the loss before any step; it
    stops early if the loss overflows.
    """
    n = len(x)
    model = Linear(x.shape[1], t.shape[1])
    steps_per_epoch = math.ceil(n / batch_size)
    every = max(1, steps_per_epoch // records)
    updates, losses = [0], [model.loss(x, t)]
    k = 0
    for _ in range(epochs):
        batches = minibatches(n, batch_size, gen)
        for j, idx in enumerate(batches):
            model.step(x[idx], t[idx], lr)
            k += 1
            if k % every == 0 or j == len(batches) - 1:
                loss = model.loss(x, t)
                updates.append(k)
                losses.append(loss)
                if not math.isfinite(loss):
                    return updates, losses, model
    return updates, losses, model


def _parse_factors(text: str) -> list[float]:
    """The positive multiples of 2 / L of --lr_factors."""
    return parse_list("lr_factors", text, float, check=lambda v: v > 0, example="0.01,0.5,1.5")


def variants_figure(runs: dict, steps_per_epoch: dict):
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for name, (updates, losses) in runs.items():
        style = dict(marker="o", markersize=3) if steps_per_epoch[name] == 1 else {}
        a.plot([u / steps_per_epoch[name] for u in updates], losses, label=name, **style)
        b.plot([max(u, 0.5) for u in updates], losses, label=name, **style)  # update 0 drawn at 0.5
    a.set_xlabel("epoch (passes over the data)")
    b.set_xlabel("number of updates")
    b.set_xscale("log")
    for ax in (a, b):
        ax.set_yscale("log")
        ax.set_ylabel("training loss (MSE)")
        ax.grid(alpha=0.3)
        ax.legend()
    a.set_title("per epoch, SGD makes the most progress")
    b.set_title("per update, the full gradient is the best step")
    fig.tight_layout()
    return fig


@lab(
    "gradient-descent",
    source="EE-559 3.5",
    summary="batch GD vs mini-batch vs per-sample SGD; steps too small, good, too large (diverges)",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc import prologue

    factors = _parse_factors(cfg.lr_factors)
    x, t, xt, yt = prologue.load(
        train_size=cfg.train_size,
        test_size=cfg.test_size,
        normalize=True,
        one_hot_labels=True,
        one_hot_style="minus_one",  # the +-1 targets this lab's losses are measured on
        data_dir=ctx.data_dir,
    )
    n = len(x)
    L, lr_max = critical_lr(x)
    ctx.print(f"{n} samples; largest curvature L = {L:.1f}, so gradient descent needs lr < 2/L = {lr_max:.2e}")
    gen = torch.Generator().manual_seed(ctx.seed)

    # 1. Three ways to cut the data into steps, same learning rate, same number of epochs.
    sizes = {"batch GD": n, f"mini-batch ({cfg.batch_size})": cfg.batch_size, "SGD (1 sample)": 1}
    runs, finals, errors = {}, {}, {}
    for name, bs in sizes.items():
        updates, losses, model = descend(x, t, cfg.lr, bs, cfg.epochs, gen)
        runs[name] = (updates, losses)
        finals[name] = losses[-1]
        pred = (xt @ model.w.t() + model.b).argmax(1)
        errors[name] = (pred != yt.argmax(1)).float().mean().item()
        for u, l in zip(updates, losses):
            ctx.log(variant=name, update=u, epoch=u / math.ceil(n / bs), loss=l)
        ctx.print(
            f"{name:18s} lr {cfg.lr:g}: loss {losses[0]:.3f} -> {losses[-1]:.3f} after "
            f"{updates[-1]} updates, test error {errors[name]:.1%}"
        )
    ctx.save_figure(variants_figure(runs, {k: math.ceil(n / v) for k, v in sizes.items()}), "variants")

    # 2. Batch gradient descent with steps around the critical one.
    sweep = {}
    for f in factors:
        lr = f * lr_max
        updates, losses, _ = descend(x, t, lr, n, cfg.epochs, gen)
        name = f"lr = {f:g} x 2/L = {lr:.1e}"
        sweep[f] = losses
        for u, l in zip(updates, losses):
            ctx.log(sweep_factor=f, lr=lr, update=u, loss=l)
        ctx.print(f"batch GD, {name}: loss {losses[0]:.3f} -> {losses[-1]:.4g}")
    shown = {f"lr = {f:g} x 2/L": [v if math.isfinite(v) else float("nan") for v in ls] for f, ls in sweep.items()}
    ctx.save_figure(
        viz.curves(
            shown,
            x=list(range(cfg.epochs + 1)),
            xlabel="update (= epoch)",
            ylabel="training loss",
            logy=True,
            title=f"batch gradient descent: too small, good, too large (L = {L:.0f})",
        ),
        "learning_rates",
    )

    ratio = {f: (ls[-1] / ls[0] if math.isfinite(ls[-1]) else float("inf")) for f, ls in sweep.items()}
    metrics = {
        "L": L,
        "critical_lr": lr_max,
        "lr": cfg.lr,
        "lr_factors": factors,
        **{f"{k}_final_loss": v for k, v in finals.items()},
        **{f"{k}_first_loss": runs[k][1][0] for k in runs},
        **{f"{k}_test_error": v for k, v in errors.items()},
        **{f"{k}_points": len(runs[k][1]) for k in runs},
        **{f"sweep_{f:g}_loss_ratio": r for f, r in ratio.items()},
    }
    fmt = ", ".join(f"{f:g}x: {'diverged' if not math.isfinite(r) or r > 1 else f'x{r:.2g}'}" for f, r in ratio.items())
    line = (
        f"after {cfg.epochs} epochs at lr {cfg.lr:g}, training loss: "
        + ", ".join(f"{k} {v:.3f}" for k, v in finals.items())
        + f"; batch GD at lr multiples of 2/L = {lr_max:.1e}: {fmt}"
    )
    return Result(line, metrics=metrics)


def check(result: Result) -> list:
    """The lecture's points: a step below 2/L converges, one above it diverges; per epoch,
    more (noisier) updates make more progress than one full-gradient step."""
    m = result.metrics
    factors = m["lr_factors"]
    below = [f for f in factors if f < 1]
    above = [f for f in factors if f > 1]
    out = []
    if below:
        best = min(m[f"sweep_{f:g}_loss_ratio"] for f in below)
        out.append(verdict("batch GD below 2/L: the best step's final / first training loss", best, "<", 0.25))
    if above:
        out.append(
            verdict(
                f"batch GD at {max(above):g} x 2/L: final / first training loss (diverges)",
                m[f"sweep_{max(above):g}_loss_ratio"],
                ">",
                100,
            )
        )
    out.append(
        verdict(
            "per epoch, SGD's final training loss below batch GD's",
            m["SGD (1 sample)_final_loss"],
            "<",
            m["batch GD_final_loss"],
        )
    )
    return out


# -- exercises (`dlc exercise gradient-descent`, then `dlc check gradient-descent`) -------


def _linear_cases(g: torch.Generator) -> list[tuple]:
    """(w, b, x, t, lr) in float64."""
    out = []
    for n, d, c in ((20, 6, 3), (1, 4, 2), (50, 3, 10)):
        w = torch.randn(c, d, generator=g, dtype=torch.float64)
        b = torch.randn(c, generator=g, dtype=torch.float64)
        out.append(
            (
                w,
                b,
                torch.randn(n, d, generator=g, dtype=torch.float64),
                torch.randn(n, c, generator=g, dtype=torch.float64),
                0.05,
            )
        )
    return out


def _model(cls, w, b):
    model = cls(w.shape[1], w.shape[0])
    model.w, model.b = w.clone(), b.clone()
    return model


def _gradient_then_step(cls, w, b, x, t, lr) -> tuple:
    """The gradient at (w, b), then W and b after one step."""
    model = _model(cls, w, b)
    gw, gb = model.gradient(x, t)
    model.step(x, t, lr)
    return gw, gb, model.w, model.b


def _autograd_linear(w, b, x, t, lr) -> tuple:
    w, b = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
    return torch.autograd.grad((x @ w.t() + b - t).pow(2).sum(1).mean(), (w, b))


TASKS = [
    Task(
        "Linear",
        hint="gradient: with r = 2 (x W^T + b - t) / N, dW = r^T x and db = r summed over the samples; "
        "step: subtract lr times each gradient from w and b",
        cases=_linear_cases,
        call=_gradient_then_step,
        grad=lambda cls, w, b, x, t, lr: _model(cls, w, b).gradient(x, t),
        autograd=_autograd_linear,
    ),
    Task(
        "minibatches",
        hint="order = torch.randperm(n, generator=gen) if batch_size < n, else torch.arange(n); "
        "then consecutive pieces of batch_size (order.split)",
        cases=lambda g: [(10, 3), (10, 10), (7, 1), (5, 100), (12, 4)],
        call=lambda f, n, batch_size: f(n, batch_size, torch.Generator().manual_seed(n)),
    ),
    Task(
        "critical_lr",
        hint="append a column of ones to x, take the largest eigenvalue of X^T X / n (torch.linalg.eigvalsh, "
        "the last one): L is twice it, and return (L, 2 / L)",
        cases=lambda g: [
            (torch.randn(20, 3, generator=g, dtype=torch.float64),),
            (3 * torch.randn(50, 5, generator=g, dtype=torch.float64) + 1,),
            (torch.randn(4, 8, generator=g),),
        ],
        rtol=1e-6,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
