"""The perceptron (EE-559 3.1): Rosenblatt's learning rule, its convergence, and XOR.

The perceptron predicts sign(w.x + b). Rosenblatt's rule visits the samples in turn and,
on each mistake (y_n (w.x_n + b) <= 0 with y_n in {-1, +1}), adds y_n x_n to w and y_n to b.
It stops after an epoch without a mistake.

If the data are linearly separable with margin gamma and radius R (here in the space of
(x, 1), which carries the bias), the rule makes at most (R / gamma)^2 updates (Novikoff):
on separable data it converges. On XOR no line separates the classes: any line leaves at
least one of the four clusters on the wrong side, so the rule never stops and its error
stays at 25% or more.

The data sets and their sizes are chosen here (the lecture gives none); the rule, its
zero initialisation and its stopping criterion are the lecture's.

Check (``check``): on separable data the perceptron reaches zero training errors and stops
(an epoch without a mistake) within ``max_epochs``, after no more updates than the
(R / gamma)^2 bound; on XOR its error stays >= 25% in every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlc import viz
from dlc.data import toy
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, Verdict, lab, verdict


@dataclass
class Config:
    n: int = 1000  # points per data set, separable and XOR (chosen here)
    margin: float = 0.02  # half-width of the empty band around the separable set's line, in (0, 0.5)
    max_epochs: int = 100  # passes over the data at most; the rule stops after an epoch without
    # a mistake (on separable data), never on XOR
    xor_std: float = 0.25  # std of the four XOR clusters around (+-1, +-1)
    TINY = {"n": 200, "max_epochs": 50}

    def __post_init__(self):
        if self.n < 4:
            raise UsageError(f"--n must be at least 4 (one point per XOR cluster), got {self.n}")
        if self.max_epochs < 1:
            raise UsageError(f"--max_epochs must be at least 1, got {self.max_epochs}")
        if not 0 < self.margin < 0.5 or not self.xor_std > 0:
            raise UsageError(f"need 0 < --margin < 0.5 and --xor_std > 0, got {self.margin} and {self.xor_std}")


# -- the learning rule ---------------------------------------------------------


def train_perceptron(x: torch.Tensor, y: torch.Tensor, max_epochs: int):
    """Rosenblatt's rule on x (N x D) and y in {-1, +1}; returns w, b and the history.

    The history holds, per epoch, the number of updates and the training error after the
    epoch. The loop over samples is the algorithm itself: each update changes the
    prediction for the next sample, so it cannot be batched.
    """
    w = torch.zeros(x.size(1), dtype=x.dtype)
    b = torch.zeros((), dtype=x.dtype)
    history = []
    for epoch in range(max_epochs):
        updates = 0
        for n in range(x.size(0)):
            ### BEGIN SOLUTION
            if y[n] * (x[n] @ w + b) <= 0:
                w = w + y[n] * x[n]
                b = b + y[n]
                updates += 1
            ### END SOLUTION
        history.append({"epoch": epoch + 1, "updates": updates, "error": error_rate(w, b, x, y)})
        if updates == 0:
            break
    return w, b, history


def predict(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """+1 or -1 (a point on the line counts as -1, as a mistake in the rule)."""
    return torch.where(x @ w + b > 0, 1.0, -1.0).to(x.dtype)  # SOLUTION


def error_rate(w, b, x, y) -> float:
    return float((predict(w, b, x) != y).to(torch.float64).mean())


# -- data ------------------------------------------------------------------------


def separable_set(n: int, margin: float, generator: torch.Generator, w_star=(1.0, -0.6), b_star=0.2):
    """Points uniform in [-1, 1]^2 labelled by sign(w*.x + b*), none closer than ``margin``
    to that line: linearly separable by construction. Returns x, y, w*, b*."""
    w_star = torch.tensor(w_star, dtype=torch.float64)
    w_star = w_star / w_star.norm()
    kept = []
    while sum(len(k) for k in kept) < n:
        x = torch.rand(2 * n, 2, generator=generator, dtype=torch.float64) * 2 - 1
        kept.append(x[(x @ w_star + b_star).abs() >= margin])
    x = torch.cat(kept)[:n]
    y = torch.where(x @ w_star + b_star > 0, 1.0, -1.0).to(torch.float64)
    return x, y, w_star, torch.tensor(b_star, dtype=torch.float64)


def xor_set(n: int, std: float, seed: int):
    """Four Gaussian clusters at (+-1, +-1); the class is +1 where x1 x2 > 0 at the centre."""
    centres = [[1.0, 1.0], [-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0]]
    x, cluster = toy.blobs(n, centers=centres, std=std, seed=seed)
    y = torch.where(cluster < 2, 1.0, -1.0)
    return x.double(), y.double()


def novikoff_bound(x, y, w_star, b_star) -> tuple[float, float, float]:
    """(R, gamma, (R / gamma)^2) in the augmented space (x, 1) for the separator (w*, b*)."""
    xa = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    u = torch.cat([w_star, b_star.view(1)])
    u = u / u.norm()
    radius = float(xa.norm(dim=1).max())
    gamma = float((y * (xa @ u)).min())
    return radius, gamma, (radius / gamma) ** 2


# -- figures -----------------------------------------------------------------------


def _boundaries_figure(panels):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    cmap = "coolwarm_r"  # y = -1 red, y = +1 blue, in the points and the regions alike
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 5.4))
    for ax, (title, x, y, w, b) in zip(axes, panels):
        viz.decision_regions(lambda p, w=w, b=b: predict(w, b, p.double()), x, y, classes=(-1, 1), cmap=cmap, ax=ax)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    colour = plt.get_cmap(cmap)
    handles = [
        Line2D([], [], ls="", marker="o", color=colour(0.0), label="y = -1"),
        Line2D([], [], ls="", marker="o", color=colour(1.0), label="y = +1"),
    ]
    fig.suptitle("the perceptron's final line: training points by class, shading = sign(w.x + b)")
    fig.legend(handles=handles, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 0.95))
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def _history_figure(sep_hist, xor_hist):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, label in ((axes[0], "error", "training error"), (axes[1], "updates", "updates per epoch")):
        ax.plot([h["epoch"] for h in sep_hist], [h[key] for h in sep_hist], "o-", ms=3, label="separable")
        ax.plot([h["epoch"] for h in xor_hist], [h[key] for h in xor_hist], "-", label="XOR")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
    axes[0].axhline(0.25, color="k", ls=":", lw=1, label="25%: the least any line can get wrong on XOR")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle("Rosenblatt's rule, epoch by epoch")
    fig.tight_layout()
    return fig


@lab(
    "perceptron",
    source="EE-559 3.1",
    summary="Rosenblatt's perceptron: converges on separable data, cannot fit XOR",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    seed = max(ctx.seed, 0)
    gen = torch.Generator().manual_seed(seed)

    x, y, w_star, b_star = separable_set(cfg.n, cfg.margin, gen)
    w, b, sep_hist = train_perceptron(x, y, cfg.max_epochs)
    radius, gamma, bound = novikoff_bound(x, y, w_star, b_star)
    total_updates = sum(h["updates"] for h in sep_hist)
    sep_error = error_rate(w, b, x, y)
    converged = sep_hist[-1]["updates"] == 0
    for h in sep_hist:
        ctx.log(set="separable", **h)
    ctx.print(
        f"separable: {len(sep_hist)} epochs, {total_updates} updates (bound (R/gamma)^2 = "
        f"({radius:.2f}/{gamma:.3f})^2 = {bound:.0f}), training error {sep_error:.2%}"
    )

    # XOR never converges: all max_epochs passes, sample by sample (seconds at the default size)
    ctx.print(f"XOR: {cfg.max_epochs} epochs of the rule over {cfg.n} points ...")
    xx, xy = xor_set(cfg.n, cfg.xor_std, seed)
    wx, bx, xor_hist = train_perceptron(xx, xy, cfg.max_epochs)
    xor_min = min(h["error"] for h in xor_hist)
    xor_final = xor_hist[-1]["error"]
    for h in xor_hist:
        ctx.log(set="xor", **h)
    ctx.print(f"XOR: after {len(xor_hist)} epochs error {xor_final:.2%}, best epoch {xor_min:.2%}")

    ctx.save_figure(
        _boundaries_figure(
            [
                (
                    f"separable: 0 mistakes after {len(sep_hist)} epochs"
                    if converged
                    else f"separable: NOT converged in {cfg.max_epochs} epochs",
                    x,
                    y,
                    w,
                    b,
                ),
                (f"XOR: {xor_final:.1%} error after {len(xor_hist)} epochs", xx, xy, wx, bx),
            ]
        ),
        "boundaries",
    )
    ctx.save_figure(_history_figure(sep_hist, xor_hist), "history")

    line = (
        f"separable set: {sep_error:.1%} training error after {len(sep_hist)} epochs "
        f"({total_updates} updates <= bound {bound:.0f}); XOR: error never below "
        f"{xor_min:.1%} in {len(xor_hist)} epochs"
    )
    return Result(
        line,
        metrics={
            "separable_error": sep_error,
            "separable_epochs": len(sep_hist),
            "separable_converged": converged,
            "separable_updates": total_updates,
            "novikoff_bound": bound,
            "radius": radius,
            "gamma": gamma,
            "xor_final_error": xor_final,
            "xor_min_error": xor_min,
            "xor_epochs": len(xor_hist),
        },
    )


def check(result: Result) -> list[Verdict]:
    """Novikoff's theorem on separable data, and XOR's impossibility, as measured."""
    m = result.metrics
    return [
        verdict("training error on the separable set", m["separable_error"], "==", 0),
        verdict("the rule stopped (a last epoch without a mistake; 1 = yes)", m["separable_converged"], "==", 1),
        verdict(
            "updates on the separable set, vs the (R / gamma)^2 bound",
            m["separable_updates"],
            "<=",
            m["novikoff_bound"],
        ),
        verdict("lowest XOR training error over the epochs", m["xor_min_error"], ">=", 0.25),
    ]


# -- exercises (`dlc exercise perceptron`, then `dlc check perceptron`) ------------


def _points(g: torch.Generator) -> list[tuple]:
    x = torch.randn(40, 2, generator=g, dtype=torch.float64)
    y = torch.where(x[:, 0] - 0.5 * x[:, 1] > 0.1, 1.0, -1.0).to(torch.float64)
    return [(x, y), (x[:7] * 3, -y[:7])]


def _outcome(w, b, history) -> tuple:
    return w, b, len(history), sum(h["updates"] for h in history)


TASKS = [
    Task(
        "predict",
        hint="the sign of w.x + b for each row of x, as +1.0 / -1.0 in x's dtype (0 counts as -1)",
        cases=lambda g: [
            (torch.randn(2, generator=g, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64), x)
            for x, _ in _points(g)
        ],
    ),
    Task(
        "train_perceptron",
        hint="visit the samples in order; on a mistake (y_n (w.x_n + b) <= 0) add y_n x_n to w and y_n to b, count it",
        cases=lambda g: [(x, y, 5) for x, y in _points(g)],
        # compared: the final line, the number of epochs and of updates (not the history's layout)
        call=lambda f, x, y, epochs: _outcome(*f(x, y, epochs)),
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
