"""L2 and L1 penalties (EE-559 5.4): weight decay shrinks weights, L1 zeroes them.

A linear classifier on the prologue's MNIST (784 -> 10, cross-entropy, mini-batch SGD)
trained four ways:

- no penalty;
- L2, loss + lambda |w|^2: its gradient adds 2 lambda w, i.e. every step multiplies w by
  (1 - 2 lr lambda) -- "weight decay" (``torch.optim.SGD(weight_decay=2 lambda)`` is the same
  thing, checked step by step below). It shrinks every weight, none to exactly zero;
- L1 by its subgradient, loss + lambda |w|_1, gradient lambda sign(w): a weight near zero
  is pushed across it and back at every step, so it hovers at +-lr lambda, never at 0;
- L1 by its proximal step (soft-thresholding): after the data step, move each weight
  lr lambda towards zero but stop at zero instead of crossing it:
  w <- sign(w) max(|w| - lr lambda, 0). This is the subgradient step clipped at zero, and
  it leaves a weight whose data gradient is weaker than lambda at exactly 0.

Check: the proximal L1 run has many weights exactly zero (over 15%; about a third at the
default size), L2 and the unpenalised run none, the plain subgradient almost none (under
1%); L2's weights are smaller on average than the unpenalised ones; the proximal L1 test
error stays within 10 points of the unpenalised one; the explicit L2 penalty and
``SGD(weight_decay=2 lambda)`` take the same steps (to 1e-12).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlc import viz
from dlc.errors import DlcError, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.options import parse_list


@dataclass
class Config:
    l1: float = 5e-3  # lambda of the L1 penalty lambda |w|_1 (chosen here)
    l2: float = 1e-2  # lambda of the L2 penalty lambda |w|^2 (chosen here)
    lr: float = 0.1  # SGD step size (the course's 0.1)
    batch_size: int = 100  # images per SGD step (the course's 100)
    epochs: int = 20  # passes over the training set, for each method and swept lambda (chosen here)
    sweep: str = "1e-4,3e-4,1e-3,3e-3,1e-2,3e-2"  # lambdas of the sparsity-vs-lambda figure,
    # comma-separated
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    TINY = {"epochs": 10, "sweep": "1e-3,1e-2"}
    THREADS = 1  # a linear model on small batches: one thread is as fast, and does not
    # collapse beside other programs (benchmarks/bench_busy_machine.py: 27 s instead of 6)

    def __post_init__(self):
        parse_sweep(self.sweep)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.l1 < 0 or self.l2 < 0:
            raise UsageError(f"--l1 and --l2 must be >= 0 (0: no penalty), got {self.l1} and {self.l2}")


METHODS = ("none", "L2", "L1 subgradient", "L1 proximal")


def penalty(w: torch.Tensor, kind: str, lam: float) -> torch.Tensor:
    """The penalty added to the loss: lambda |w|^2 = lambda sum_ij w_ij^2 for ``kind`` "L2",
    lambda |w|_1 = lambda sum_ij |w_ij| for "L1". Returns a 0-d tensor, through which autograd
    gives the penalty's (sub)gradient: 2 lambda w, or lambda sign(w)."""
    if kind not in ("L1", "L2"):
        raise DlcError(f"the penalty is 'L1' or 'L2', got {kind!r}")
    ### BEGIN SOLUTION
    if kind == "L2":
        return lam * w.pow(2).sum()
    return lam * w.abs().sum()  # autograd's d|w|/dw is sign(w)
    ### END SOLUTION


def soft_threshold(w: torch.Tensor, t: float) -> torch.Tensor:
    """The proximal step of t |w|_1: shrink towards zero by t, stopping at zero.

    Returns a tensor shaped like ``w``: sign(w) max(|w| - t, 0), entry by entry (entries
    within t of zero become exactly 0).
    """
    return w.sign() * (w.abs() - t).clamp(min=0)  # SOLUTION


def train_linear(
    x,
    y,
    method: str,
    lam: float,
    lr: float,
    epochs: int,
    batch_size: int,
    init: tuple[torch.Tensor, torch.Tensor],
    seed: int = 0,
):
    """Mini-batch SGD on cross-entropy (+ the method's penalty); returns (w, b)."""
    if method not in METHODS:
        raise DlcError(f"method must be one of {METHODS}, got {method!r}")
    w, b = (t.detach().clone().requires_grad_(True) for t in init)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(x[idx] @ w.t() + b, y[idx])
            if method == "L2":
                loss = loss + penalty(w, "L2", lam)
            elif method == "L1 subgradient":
                loss = loss + penalty(w, "L1", lam)  # its gradient: lambda sign(w)
            w.grad = b.grad = None
            loss.backward()
            with torch.no_grad():
                w -= lr * w.grad
                b -= lr * b.grad
                if method == "L1 proximal":
                    w.copy_(soft_threshold(w, lr * lam))
    return w.detach(), b.detach()


def weight_decay_difference(lam: float = 0.05, lr: float = 0.1, steps: int = 20) -> float:
    """Largest parameter difference between an explicit L2 penalty lambda |w|^2 and
    ``torch.optim.SGD(weight_decay=2 lambda)``, step by step, in float64."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 4, generator=g, dtype=torch.float64)
    y = torch.randn(50, 1, generator=g, dtype=torch.float64)
    w0 = torch.randn(1, 4, generator=g, dtype=torch.float64)
    a, b = w0.clone().requires_grad_(True), w0.clone().requires_grad_(True)
    opt_a = torch.optim.SGD([a], lr=lr)
    opt_b = torch.optim.SGD([b], lr=lr, weight_decay=2 * lam)
    worst = 0.0
    for _ in range(steps):
        opt_a.zero_grad()
        opt_b.zero_grad()
        (F.mse_loss(x @ a.t(), y) + lam * a.pow(2).sum()).backward()
        F.mse_loss(x @ b.t(), y).backward()
        opt_a.step()
        opt_b.step()
        worst = max(worst, (a - b).abs().max().item())
    return worst


def parse_sweep(text: str) -> list[float]:
    """The --sweep lambdas: positive numbers, comma-separated."""
    return parse_list("sweep", text, float, check=lambda v: v > 0, example="1e-3,1e-2")


def weights_figure(weights: dict):
    """Each method's 10 weight images; exact zeros in black, the colour scale is shared."""
    import matplotlib.pyplot as plt
    import numpy as np

    cmap = plt.get_cmap("coolwarm").with_extremes(bad="black")

    vmax = max(w.abs().max().item() for w in weights.values())
    fig, axes = plt.subplots(len(weights), 10, figsize=(12.5, 1.35 * len(weights) + 0.4))
    for r, (name, w) in enumerate(weights.items()):
        zeros = (w == 0).float().mean().item()
        for c in range(10):
            ax = axes[r, c]
            img = w[c].view(28, 28).numpy()
            shown = ax.imshow(np.ma.masked_equal(img, 0.0), cmap=cmap, vmin=-vmax, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"digit {c}", fontsize=8)
        axes[r, 0].set_ylabel(f"{name}\n{zeros:.0%} zero", fontsize=7)
    fig.colorbar(shown, ax=axes, shrink=0.8, label="weight (black: exactly 0)")
    fig.suptitle("weights of the linear classifier, one 28 x 28 image per digit (black = exactly 0)")
    return fig


def histogram_figure(weights: dict):
    """Distribution of |w| on a log scale, with the exact zeros counted apart."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.logspace(-8, 0, 50)
    for name, w in weights.items():
        a = w.abs().flatten().numpy()
        ax.hist(a[a > 0], bins=bins, histtype="step", linewidth=1.5, label=f"{name}: {(a == 0).sum()} exactly 0")
    ax.set_xscale("log")
    ax.set_xlabel("|w| (non-zero weights)")
    ax.set_ylabel("count")
    ax.set_title("weight magnitudes per method; exact zeros counted in the legend")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


@lab(
    "penalties",
    source="EE-559 5.4",
    summary="L2 (weight decay) shrinks weights, L1 with a proximal step sets them exactly to zero",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc import prologue

    sweep = parse_sweep(cfg.sweep)
    x, y, xt, yt = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, normalize=True, data_dir=ctx.data_dir
    )
    layer = torch.nn.Linear(x.shape[1], 10)  # the usual random start, the same for every method
    init = (layer.weight.detach(), layer.bias.detach())
    lam = {"none": 0.0, "L2": cfg.l2, "L1 subgradient": cfg.l1, "L1 proximal": cfg.l1}

    weights, stats = {}, {}
    for m in METHODS:
        w, b = train_linear(x, y, m, lam[m], cfg.lr, cfg.epochs, cfg.batch_size, init, ctx.seed)
        err = ((xt @ w.t() + b).argmax(1) != yt).float().mean().item()
        weights[m] = w
        stats[m] = {
            "zeros": int((w == 0).sum()),
            "zero_fraction": (w == 0).float().mean().item(),
            "mean_abs": w.abs().mean().item(),
            "test_error": err,
        }
        ctx.log(method=m, lam=lam[m], **stats[m])
        ctx.print(
            f"{m:15s} lambda {lam[m]:g}: {stats[m]['zeros']:5d} / {w.numel()} weights exactly 0, "
            f"mean |w| {stats[m]['mean_abs']:.4f}, test error {err:.1%}"
        )
    ctx.save_figure(weights_figure(weights), "weights")
    ctx.save_figure(histogram_figure(weights), "histogram")

    # Sparsity against lambda: L1 (proximal) thins the model out, L2 never does.
    frac = {"L1 proximal": [], "L2": []}
    for v in sweep:
        for m in frac:
            w, _ = train_linear(x, y, m, v, cfg.lr, cfg.epochs, cfg.batch_size, init, ctx.seed)
            frac[m].append((w == 0).float().mean().item())
            ctx.log(sweep_method=m, lam=v, zero_fraction=frac[m][-1])
        ctx.print(f"sweep lambda {v:g}: exactly 0: L1 proximal {frac['L1 proximal'][-1]:.1%}, L2 {frac['L2'][-1]:.1%}")
    fig = viz.curves(
        frac,
        x=sweep,
        xlabel="lambda",
        ylabel="fraction of weights exactly 0",
        title="sparsity against the penalty's weight",
    )
    fig.axes[0].set_xscale("log")
    ctx.save_figure(fig, "sparsity")

    wd = weight_decay_difference()
    ctx.print(f"explicit L2 penalty vs SGD(weight_decay=2 lambda): max difference {wd:.1e}")
    metrics = {
        "weight_decay_max_difference": wd,
        "n_weights": weights["none"].numel(),
        "sweep": sweep,
        "sweep_L2_max_zero_fraction": max(frac["L2"]),
        "sweep_L1_zero_fraction_gain": frac["L1 proximal"][sweep.index(max(sweep))]
        - frac["L1 proximal"][sweep.index(min(sweep))],
        **{f"{m}_{k}": v for m, s in stats.items() for k, v in s.items()},
        **{f"sweep_{m}_{v:g}_zero_fraction": f for m, fs in frac.items() for v, f in zip(sweep, fs)},
    }
    s = stats
    line = (
        f"exact zeros: L1 proximal {s['L1 proximal']['zero_fraction']:.0%}, L1 subgradient "
        f"{s['L1 subgradient']['zero_fraction']:.0%}, L2 {s['L2']['zero_fraction']:.0%}, none "
        f"{s['none']['zero_fraction']:.0%}; mean |w| none {s['none']['mean_abs']:.4f} -> "
        f"L2 {s['L2']['mean_abs']:.4f}; test error none {s['none']['test_error']:.1%}, "
        f"L1 {s['L1 proximal']['test_error']:.1%}, L2 {s['L2']['test_error']:.1%}"
    )
    return Result(line, metrics=metrics)


def check(result: Result) -> list:
    """The lecture's point: L1 (proximal) zeroes weights, L2 only shrinks them, and neither
    costs much accuracy; weight decay is the L2 penalty."""
    m = result.metrics
    n = m["n_weights"]
    out = [
        verdict("fraction of weights exactly 0 with L1 (proximal)", m["L1 proximal_zero_fraction"], ">", 0.15),
        verdict("weights exactly 0 with L2", m["L2_zeros"], "==", 0),
        verdict("weights exactly 0 without a penalty", m["none_zeros"], "==", 0),
        verdict("fraction of weights exactly 0 with the L1 subgradient", m["L1 subgradient_zeros"] / n, "<", 0.01),
        verdict("mean |w| with L2, relative to no penalty", m["L2_mean_abs"] / m["none_mean_abs"], "<", 1),
        verdict(
            "L1 (proximal) test error minus the unpenalised one",
            m["L1 proximal_test_error"] - m["none_test_error"],
            "<",
            0.1,
        ),
        verdict(
            "max difference, explicit L2 penalty vs SGD weight_decay", m["weight_decay_max_difference"], "<", 1e-12
        ),
        verdict(
            "largest fraction of exact zeros with L2 over the lambda sweep", m["sweep_L2_max_zero_fraction"], "==", 0
        ),
    ]
    if len(m["sweep"]) > 1:
        out.append(
            verdict(
                "L1 (proximal) exact zeros, largest swept lambda minus smallest",
                m["sweep_L1_zero_fraction_gain"],
                ">",
                0,
            )
        )
    return out


# -- exercises (`dlc exercise penalties`, then `dlc check penalties`) ------------------------


def _weights(g: torch.Generator) -> torch.Tensor:
    w = torch.randn(3, 5, generator=g, dtype=torch.float64)
    w[0, 0] = w[2, 3] = 0.0  # |w| has no derivative at 0: autograd's abs gives 0 there
    w[1, 1], w[1, 2] = 0.5, -0.5  # exactly at the threshold of the cases below
    return w


TASKS = [
    Task(
        "penalty",
        hint="lambda times the sum of the squared weights (L2), or of their absolute values (L1), as a tensor "
        "that autograd can differentiate",
        cases=lambda g: (
            [(w, kind, lam) for w in (_weights(g),) for kind, lam in (("L2", 0.1), ("L1", 0.05))]
            + [(torch.randn(10, generator=g, dtype=torch.float64), "L1", 2.0)]
        ),
        grad=True,
    ),
    Task(
        "soft_threshold",
        hint="move every entry t towards zero, and stop at zero instead of crossing it: sign(w) max(|w| - t, 0)",
        cases=lambda g: [(w, t) for w in (_weights(g),) for t in (0.5, 0.0, 3.0)],
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
