"""Over- and under-fitting, and the bias-variance dilemma (EE-559 2.2-2.3).

Polynomial regression of increasing degree D on a few noisy samples of a smooth function,
fitted by least squares as in the lecture's ``fit_polynomial(D, x, y)`` (in the library:
:func:`dlc.stats.fit_polynomial`, with :func:`dlc.stats.polynomial` to evaluate). Low degrees
cannot follow the function (under-fitting, high bias); high degrees follow the noise of
the particular training set (over-fitting, high variance).

Many training sets are drawn from the same distribution (lecture 2.3) so the expected
test error can be split into noise + bias^2 + variance, measured against the known
function on a grid.

The lecture gives no numbers for this experiment: the function, 20 points, noise 0.2 and
degrees 0..10 are chosen here so that both effects show in a second.

Check (``check``): the training error (averaged over the training sets) never rises with
the degree, and the test error is U-shaped: its minimum is at an intermediate degree, at
least 1.5 times below both the lowest and the highest degree's. The decomposition adds up:
up to the best degree, noise^2 + bias^2 + variance (measured on the grid) is within 25% of
the test MSE (measured on test points); over seeds 0-19 the largest gap was 15% at
``--tiny`` and 9% at the default size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, Verdict, lab, verdict
from dlc.stats import fit_polynomial, polynomial

U_MARGIN = 1.5  # a U: both ends at least this many times the minimum test error
MAX_GAP = 0.25  # the check: noise^2 + bias^2 + variance within this (relative) of the test MSE


@dataclass
class Config:
    n_train: int = 20  # points per training set (at least max_degree + 2)
    noise: float = 0.2  # std of the Gaussian noise added to f(x) (at least 0)
    max_degree: int = 10  # polynomial degrees fitted: 0..max_degree (at least 2)
    repeats: int = 200  # independent training sets, averaged for bias and variance (at least 2)
    n_test: int = 1000  # test points, drawn like the training points (at least 1)
    TINY = {"repeats": 50}
    FULL = {"repeats": 1000, "n_test": 10_000}

    def __post_init__(self):
        if self.max_degree < 2:
            raise UsageError(f"--max_degree must be at least 2 (a U needs three degrees), got {self.max_degree}")
        if self.n_train < self.max_degree + 2:
            raise UsageError(
                f"--n_train must be at least {self.max_degree + 2} (max_degree + 2), got {self.n_train}: "
                f"with fewer points the polynomial interpolates the training set and least squares "
                f"is under-determined"
            )
        for name, least in (("repeats", 2), ("n_test", 1)):
            if getattr(self, name) < least:
                raise UsageError(f"--{name} must be at least {least}, got {getattr(self, name)}")
        if self.noise < 0:
            raise UsageError(f"--noise must be at least 0, got {self.noise}")


def target_function(x: torch.Tensor) -> torch.Tensor:
    """The unknown f* the samples come from: smooth, but not a low-degree polynomial."""
    return torch.sin(3 * x + 0.5)


def sample(n: int, noise: float, generator: torch.Generator, batch: tuple[int, ...] = ()):
    """x uniform in [-1, 1] and y = f*(x) + N(0, noise^2), in float64; shapes batch + (n,)."""
    x = torch.rand(*batch, n, generator=generator, dtype=torch.float64) * 2 - 1
    y = target_function(x) + noise * torch.randn(*batch, n, generator=generator, dtype=torch.float64)
    return x, y


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) ** 2).mean(-1)


def degree_sweep(cfg: Config, generator: torch.Generator) -> dict:
    """Fit every degree on ``repeats`` training sets; errors and bias-variance per degree."""
    x, y = sample(cfg.n_train, cfg.noise, generator, (cfg.repeats,))
    x_test, y_test = sample(cfg.n_test, cfg.noise, generator)
    grid = torch.linspace(-1, 1, 201, dtype=torch.float64)
    f_grid = target_function(grid)
    out = {k: [] for k in ("train", "test", "bias2", "variance")}
    out["fits"] = {}
    for degree in range(cfg.max_degree + 1):
        alpha = fit_polynomial(degree, x, y)  # repeats x (D + 1)
        out["train"].append(float(mse(polynomial(alpha, x), y).mean()))
        out["test"].append(float(mse(polynomial(alpha, x_test), y_test).mean()))
        on_grid = polynomial(alpha, grid)  # repeats x grid
        bias2, variance = bias_variance(on_grid, f_grid)
        out["bias2"].append(float(bias2))
        out["variance"].append(float(variance))
        out["fits"][degree] = on_grid
    out["grid"], out["f_grid"], out["x"], out["y"] = grid, f_grid, x, y
    return out


def bias_variance(fits: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lecture 2.3's decomposition of the fits of many training sets, on a grid of x.

    ``fits`` is R x G: row r is the model fitted on training set r, evaluated at the G grid
    points; ``truth`` holds f*(x) at those points (G). Returns (bias^2, variance), two 0-d
    tensors, each averaged over the grid: bias^2 = mean_x (mean_r fits[r, x] - f*(x))^2, and
    variance = mean_x mean_r (fits[r, x] - mean_r fits[r, x])^2 (dividing by R, not R - 1).
    """
    ### BEGIN SOLUTION
    mean_fit = fits.mean(0)
    bias2 = ((mean_fit - truth) ** 2).mean()
    variance = ((fits - mean_fit) ** 2).mean(0).mean()
    ### END SOLUTION
    return bias2, variance


def decomposition_gap(noise: float, bias2: list[float], variance: list[float], test: list[float]) -> float:
    """The largest relative gap between noise^2 + bias^2 + variance and the measured test
    MSE, over the degrees up to the best one (beyond it the variance is dominated by a few
    wild fits at the ends of the interval, and the two estimates scatter)."""
    best = min(range(len(test)), key=test.__getitem__)
    return max(abs(noise**2 + b + v - t) / t for b, v, t in list(zip(bias2, variance, test))[: best + 1])


def is_u_shaped(errors: list[float], margin: float = U_MARGIN) -> bool:
    """Minimum strictly inside, and both ends at least ``margin`` times the minimum."""
    best = min(range(len(errors)), key=errors.__getitem__)
    return 0 < best < len(errors) - 1 and errors[0] >= margin * errors[best] and errors[-1] >= margin * errors[best]


# -- figures -------------------------------------------------------------------


def _fits_figure(sweep, degrees):
    """One training set and its fits, then the spread of the fits over all training sets."""
    import matplotlib.pyplot as plt

    grid, f = sweep["grid"].numpy(), sweep["f_grid"].numpy()
    fig, axes = plt.subplots(2, len(degrees), figsize=(3.3 * len(degrees), 6.4), sharex=True, sharey=True)
    for col, d in enumerate(degrees):
        fits = sweep["fits"][d]
        ax = axes[0, col]
        ax.plot(grid, f, "k--", lw=1, label="f*(x) = sin(3x + 0.5)")
        ax.scatter(sweep["x"][0].numpy(), sweep["y"][0].numpy(), s=12, c="tab:blue", label="training points")
        ax.plot(grid, fits[0].numpy(), "r", label="the fitted polynomial")
        ax.set_title(f"degree {d}: one training set", fontsize=10)
        ax.set_ylim(-2.2, 2.2)
        ax = axes[1, col]
        for k in range(min(30, fits.shape[0])):
            ax.plot(
                grid,
                fits[k].numpy(),
                color="tab:red",
                alpha=0.15,
                lw=0.8,
                label=f"fits of {min(30, fits.shape[0])} training sets" if k == 0 else None,
            )
        ax.plot(grid, fits.mean(0).numpy(), "b", lw=2, label=f"mean fit over {fits.shape[0]}")
        ax.plot(grid, f, "k--", lw=1, label="f*(x)")
        ax.set_title(f"degree {d}: {fits.shape[0]} training sets", fontsize=10)
        ax.set_xlabel("x")
    axes[0, 0].set_ylabel("y")
    axes[1, 0].set_ylabel("y")
    axes[0, 0].legend(fontsize=7, loc="lower right")
    axes[1, 0].legend(fontsize=7, loc="lower right")
    fig.suptitle("polynomial fits of increasing degree: under-fitting (high bias) to over-fitting (high variance)")
    fig.tight_layout()
    return fig


def _errors_figure(sweep, noise):
    import matplotlib.pyplot as plt

    degrees = list(range(len(sweep["train"])))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    ax.plot(degrees, sweep["train"], "o-", label="train (mean over the training sets)")
    ax.plot(degrees, sweep["test"], "o-", label="test")
    best = min(degrees, key=sweep["test"].__getitem__)
    ax.axvline(best, color="k", ls=":", lw=1, label=f"best test degree ({best})")
    ax.set_yscale("log")
    ax.set_xlabel("degree")
    ax.set_ylabel("mean squared error (log)")
    ax.set_title("train error falls, test error is U-shaped")
    ax.legend()
    ax = axes[1]
    ax.plot(degrees, sweep["bias2"], "o-", label="bias^2")
    ax.plot(degrees, sweep["variance"], "o-", label="variance")
    total = [noise**2 + b + v for b, v in zip(sweep["bias2"], sweep["variance"])]
    ax.plot(degrees, total, "k-", label="noise^2 + bias^2 + variance")
    ax.axhline(noise**2, color="gray", ls="--", lw=1, label="noise^2")
    ax.set_yscale("log")
    ax.set_xlabel("degree")
    ax.set_ylabel("error on the grid, over the training sets (log)")
    ax.set_title("bias-variance decomposition")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@lab(
    "capacity",
    source="EE-559 2.2-2.3",
    summary="polynomial regression: under/over-fitting and the bias-variance decomposition",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    gen = torch.Generator().manual_seed(max(ctx.seed, 0))
    sweep = degree_sweep(cfg, gen)
    for d in range(cfg.max_degree + 1):
        ctx.log(
            degree=d,
            train_mse=sweep["train"][d],
            test_mse=sweep["test"][d],
            bias2=sweep["bias2"][d],
            variance=sweep["variance"][d],
        )
        ctx.print(
            f"degree {d:2d}  train {sweep['train'][d]:.4f}  test {sweep['test'][d]:.4f}  "
            f"bias^2 {sweep['bias2'][d]:.4f}  variance {sweep['variance'][d]:.4f}"
        )

    train, test = sweep["train"], sweep["test"]
    best = min(range(len(test)), key=test.__getitem__)
    train_falls = all(b <= a * (1 + 1e-9) for a, b in zip(train, train[1:]))
    u_shaped = is_u_shaped(test)
    gap = decomposition_gap(cfg.noise, sweep["bias2"], sweep["variance"], test)
    shown = sorted({1, best, cfg.max_degree})
    ctx.save_figure(_errors_figure(sweep, cfg.noise), "errors")
    ctx.save_figure(_fits_figure(sweep, shown), "fits")
    line = (
        f"best degree {best}: test MSE {test[best]:.3f} vs {test[0]:.3f} at degree 0 and "
        f"{test[-1]:.3g} at degree {cfg.max_degree} (noise^2 {cfg.noise**2:.3f}); train MSE "
        f"{'falls' if train_falls else 'DOES NOT FALL'} with degree, test MSE "
        f"{'is' if u_shaped else 'is NOT'} U-shaped; noise^2 + bias^2 + variance within {gap:.1%} of the "
        f"test MSE up to the best degree"
    )
    return Result(
        line,
        metrics={
            "train_mse": train,
            "test_mse": test,
            "bias2": sweep["bias2"],
            "variance": sweep["variance"],
            "best_degree": best,
            "train_falls": train_falls,
            "test_u_shaped": u_shaped,
            "noise": cfg.noise,
            "decomposition_gap": gap,
        },
    )


def check(result: Result) -> list[Verdict]:
    """The lecture's two curves: training error falls with capacity, test error is a U."""
    m = result.metrics
    train, test, best = m["train_mse"], m["test_mse"], m["best_degree"]
    return [
        verdict(
            "largest ratio of train MSE to the previous degree's (never rises)",
            max(b / a for a, b in zip(train, train[1:])),
            "<=",
            1 + 1e-9,
        ),
        verdict("best test degree is above the lowest", best, ">", 0),
        verdict("best test degree is below the highest", best, "<", len(test) - 1),
        verdict("test MSE at degree 0 / at the best degree", test[0] / test[best], ">=", U_MARGIN),
        verdict("test MSE at the highest degree / at the best degree", test[-1] / test[best], ">=", U_MARGIN),
        verdict(
            "largest relative gap, noise^2 + bias^2 + variance vs test MSE (degrees up to the best)",
            m["decomposition_gap"],
            "<",
            MAX_GAP,
        ),
    ]


# -- exercises (`dlc exercise capacity`, then `dlc check capacity`) --------------------------


def _fits_cases(g: torch.Generator) -> list[tuple]:
    out = []
    for r, n in ((20, 31), (3, 5), (1, 4)):  # one training set: no variance
        truth = torch.randn(n, generator=g, dtype=torch.float64)
        out.append((truth + 0.3 + 0.5 * torch.randn(r, n, generator=g, dtype=torch.float64), truth))
    return out


TASKS = [
    Task(
        "bias_variance",
        hint="average the R fits at each x; bias^2 is the grid mean of (that average - f*)^2, variance the grid "
        "mean of the fits' mean squared deviation from that average",
        cases=_fits_cases,
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
