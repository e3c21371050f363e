"""Tensor basics, internals, and linear regression (EE-559 1.4-1.6, practical 1).

What the lab shows, in the order of practical 1 and lecture 1.4:

1. *Multiple views of a storage*: the 13 x 13 patterned matrix of practical 1 built with
   views only (``narrow`` then ``fill_`` in place), checked against the expected pattern,
   and checked to share one storage with the tensor it was carved from (lecture 1.6).
2. *Eigendecomposition*: for a random Gaussian M, the eigenvalues of M^-1 diag(1..n) M are
   exactly 1..n (a change of basis does not change the spectrum).
3. *Flops per second*: the time of an N x N matrix product (N = 5000 in the practical,
   used at ``--full``; smaller at other sizes so a laptop stays responsive).
4. *Playing with strides*: ``mul_row`` with Python loops against its vectorised version
   (broadcasting), equal results, and the speed-up.
5. *Linear regression* (lecture 1.4): least squares with ``torch.linalg.lstsq`` on
   synthetic data recovers the known coefficients.

Check (``check``): the pattern has no wrong coefficient and a ``narrow`` view of it shares its
storage; the eigenvalues equal 1..n to 1e-4; the fast ``mul_row`` equals the slow one and is
more than 10 times faster; least squares recovers the known coefficients to 1e-4.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, Verdict, lab, verdict


@dataclass
class Config:
    eig_size: int = 20  # n of the n x n Gaussian matrix M (practical 1's 20)
    matmul_size: int = 2000  # n of the timed n x n matrix product (practical 1's 5,000 with
    # --full; smaller otherwise, so that a laptop stays responsive)
    mul_row_rows: int = 1000  # rows of the matrix mul_row is timed on (practical 1's 1,000)
    mul_row_cols: int = 400  # its columns (practical 1's 400)
    regression_samples: int = 10_000  # points of the synthetic least-squares problem (chosen here)
    regression_noise: float = 1e-3  # std of the additive Gaussian noise on y (chosen here)
    TINY = {"matmul_size": 500, "mul_row_rows": 100, "mul_row_cols": 40}
    FULL = {"matmul_size": 5000}

    def __post_init__(self):
        for name in ("eig_size", "matmul_size", "mul_row_rows", "mul_row_cols"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.regression_samples < 2:
            raise UsageError(
                f"--regression_samples must be at least 2 (points, for a line), got {self.regression_samples}"
            )
        if self.regression_noise < 0:
            raise UsageError(f"--regression_noise must be >= 0, got {self.regression_noise}")


# -- 1. views of one storage -------------------------------------------------


def pattern_with_views() -> torch.Tensor:
    """The 13 x 13 float32 matrix of practical 1, written with ``narrow`` views and ``fill_`` only.

    1s everywhere, 2s on rows and columns 1, 6 and 11, and four 2 x 2 blocks of 3s at rows
    and columns 3-4 and 8-9. ``narrow(dim, start, length)`` returns a view: filling it
    writes into ``m`` itself.
    """
    m = torch.full((13, 13), 1.0)
    ### BEGIN SOLUTION
    for k in (1, 6, 11):  # the rows and columns of 2s
        m.narrow(0, k, 1).fill_(2.0)
        m.narrow(1, k, 1).fill_(2.0)
    for i in (3, 8):  # the four 2 x 2 blocks of 3s
        for j in (3, 8):
            m.narrow(0, i, 2).narrow(1, j, 2).fill_(3.0)
    ### END SOLUTION
    return m


def expected_pattern() -> torch.Tensor:
    """The same matrix from its rule, element by element, as an independent reference."""

    def value(i: int, j: int) -> float:
        if i % 5 == 1 or j % 5 == 1:
            return 2.0
        if i % 5 in (3, 4) and j % 5 in (3, 4):
            return 3.0
        return 1.0

    return torch.tensor([[value(i, j) for j in range(13)] for i in range(13)])


def shares_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


# -- 2. eigendecomposition ---------------------------------------------------


def similar_matrix_eigenvalues(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Eigenvalues of M^-1 diag(1..n) M for a Gaussian n x n M (float64, drawn with
    ``generator``): a tensor of n real parts, sorted increasingly."""
    m = torch.randn(n, n, generator=generator, dtype=torch.float64)
    ### BEGIN SOLUTION
    d = torch.diag(torch.arange(1, n + 1, dtype=torch.float64))
    ev = torch.linalg.eigvals(torch.linalg.inv(m) @ d @ m)
    return ev.real.sort().values
    ### END SOLUTION


# -- 3. flops ----------------------------------------------------------------


def matmul_flops(n: int, generator: torch.Generator | None = None, repeats: int = 2) -> tuple[float, float]:
    """(seconds, floating-point products per second) of an n x n float32 matrix product.

    An n x n product does n^3 multiplications (and as many additions); the practical counts
    the products. The best of ``repeats`` timings is kept: the first call may warm up.
    """
    a = torch.randn(n, n, generator=generator)
    b = torch.randn(n, n, generator=generator)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return best, n**3 / best


# -- 4. strides: a Python loop against broadcasting ---------------------------


def mul_row(m: torch.Tensor) -> torch.Tensor:
    """Row i multiplied by i + 1, with Python loops over every coefficient (the slow way)."""
    out = torch.empty(m.size())
    for i in range(m.size(0)):
        for j in range(m.size(1)):
            out[i, j] = m[i, j] * (i + 1)
    return out


def mul_row_fast(m: torch.Tensor) -> torch.Tensor:
    """The same with no loop, same shape and dtype as m: a column of row factors 1..R,
    broadcast along the rows."""
    ### BEGIN SOLUTION
    factors = torch.arange(1, m.size(0) + 1, dtype=m.dtype).view(-1, 1)
    return m * factors
    ### END SOLUTION


# -- 5. linear regression ----------------------------------------------------


def least_squares(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The (a, b) minimising sum_n (a . x_n + b - y_n)^2, for x of shape N x D and y of
    shape N: a tensor of D + 1 coefficients, a's then b.

    The design matrix gets a column of ones so that the bias is one more coefficient,
    as in the lecture (which used the then ``torch.gels``; today ``torch.linalg.lstsq``).
    """
    ### BEGIN SOLUTION
    design = torch.cat([x, torch.ones(x.size(0), 1, dtype=x.dtype)], 1)
    return torch.linalg.lstsq(design, y.view(-1, 1)).solution.view(-1)
    ### END SOLUTION


def synthetic_regression(
    n: int, noise: float, generator: torch.Generator, coefficients: tuple[float, ...] = (2.5, -1.0)
):
    """y = a x + b + noise on x uniform in [0, 10]; returns x (N x 1), y (N), true (a, b)."""
    true = torch.tensor(coefficients, dtype=torch.float64)
    x = torch.rand(n, 1, generator=generator, dtype=torch.float64) * 10
    y = x[:, 0] * true[0] + true[1] + noise * torch.randn(n, generator=generator, dtype=torch.float64)
    return x, y, true


# -- figures -------------------------------------------------------------------


def _figure(pattern, eigenvalues, x, y, coef, true):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    ax = axes[0]
    ax.imshow(pattern.numpy(), cmap="viridis")
    for i in range(13):
        for j in range(13):
            v = int(pattern[i, j])  # dark text on the light (yellow) 3s, light on the others
            ax.text(j, i, v, ha="center", va="center", fontsize=7, color="k" if v == 3 else "w")
    ax.set_title("13 x 13 pattern from narrow().fill_()")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("column (the number: the coefficient)")
    ax.set_ylabel("row")
    ax = axes[1]
    n = len(eigenvalues)
    ax.plot(range(1, n + 1), range(1, n + 1), "k--", lw=1, label="1..n")
    ax.plot(range(1, n + 1), eigenvalues.numpy(), "o", ms=4, label="eig(M^-1 D M)")
    ax.set_xlabel("index")
    ax.set_ylabel("eigenvalue")
    ax.set_title("a change of basis keeps the spectrum")
    ax.legend()
    ax = axes[2]
    k = min(len(x), 500)
    residuals = y[:k] - (coef[0] * x[:k, 0] + coef[1])
    ax.scatter(x[:k, 0].numpy(), residuals.numpy(), s=4)
    ax.axhline(0, color="r", lw=1)
    ax.set_title(
        f"least squares: a={coef[0]:.5f}, b={coef[1]:.5f}\n(true {true[0]:g}, {true[1]:g}); residuals y - (a x + b)",
        fontsize=10,
    )
    ax.set_xlabel("x")
    ax.set_ylabel("residual")
    fig.suptitle("practical 1 and lecture 1.4: views, eigenvalues, least squares")
    fig.tight_layout()
    return fig


def _speed_figure(flops, slow_s, fast_s, n):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    axes[0].bar(["mul_row (loops)", "mul_row_fast"], [slow_s, fast_s], color=["tab:red", "tab:green"])
    axes[0].set_yscale("log")
    axes[0].set_ylabel("seconds (log)")
    axes[0].set_title(f"speed-up x{slow_s / fast_s:,.0f}")
    axes[1].bar([f"{n} x {n} matmul"], [flops / 1e9])
    axes[1].set_ylabel("billions of products / s")
    axes[1].set_title("float32 matrix product")
    fig.suptitle("practical 1: speed on this machine")
    fig.tight_layout()
    return fig


@lab(
    "tensors",
    source="EE-559 1.4-1.6, practical 1",
    summary="tensor views and strides, eigenvalues, flops, loops vs vectorised, least squares",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    gen = torch.Generator().manual_seed(max(ctx.seed, 0))

    # 1. the pattern, from views of one storage
    pattern = pattern_with_views()
    pattern_errors = int((pattern != expected_pattern()).sum())
    view = pattern.narrow(0, 3, 2).narrow(1, 8, 2)
    view_shares = shares_storage(view, pattern)
    ctx.print(
        f"pattern: {pattern_errors} wrong coefficients; a narrow() view shares the "
        f"storage: {view_shares} (stride {view.stride()}, offset {view.storage_offset()})"
    )

    # 2. eigenvalues of a similar matrix
    eig = similar_matrix_eigenvalues(cfg.eig_size, gen)
    eig_error = float((eig - torch.arange(1, cfg.eig_size + 1, dtype=torch.float64)).abs().max())
    ctx.print(f"eigenvalues of M^-1 diag(1..{cfg.eig_size}) M: max |error| {eig_error:.2e}")

    # 3. flops of a matrix product
    seconds, flops = matmul_flops(cfg.matmul_size, gen)
    ctx.print(f"{cfg.matmul_size} x {cfg.matmul_size} product: {seconds:.3f} s, {flops / 1e9:.2f} billion products/s")

    # 4. mul_row: loops vs broadcasting, timed side by side on the same matrix
    m = torch.randn(cfg.mul_row_rows, cfg.mul_row_cols, generator=gen)
    ctx.print(f"mul_row: Python loops over {m.numel():,} coefficients (seconds) ...")
    t0 = time.perf_counter()
    slow = mul_row(m)
    slow_s = time.perf_counter() - t0
    fast_s = float("inf")
    for _ in range(5):  # best of a few: a single fast call is too short to time reliably
        t0 = time.perf_counter()
        fast = mul_row_fast(m)
        fast_s = min(fast_s, time.perf_counter() - t0)
    fast_s = max(fast_s, 1e-9)
    mul_row_equal = bool(torch.equal(slow, fast))
    speedup = slow_s / fast_s
    ctx.print(
        f"mul_row {slow_s:.3f} s, mul_row_fast {fast_s * 1e6:.1f} us: speed-up x{speedup:,.0f}, equal: {mul_row_equal}"
    )

    # 5. least squares on synthetic data with known coefficients
    x, y, true = synthetic_regression(cfg.regression_samples, cfg.regression_noise, gen)
    coef = least_squares(x, y)
    coef_error = float((coef - true).abs().max())
    ctx.print(
        f"least squares: a={coef[0]:.6f} b={coef[1]:.6f} (true {true[0]:g}, {true[1]:g}), max |error| {coef_error:.2e}"
    )

    metrics = {
        "pattern_errors": pattern_errors,
        "view_shares_storage": view_shares,
        "eig_max_error": eig_error,
        "matmul_seconds": seconds,
        "matmul_products_per_s": flops,
        "mul_row_slow_s": slow_s,
        "mul_row_fast_s": fast_s,
        "mul_row_speedup": speedup,
        "mul_row_equal": mul_row_equal,
        "regression_max_error": coef_error,
        "regression_coefficients": coef.tolist(),
        "regression_true": true.tolist(),
    }
    ctx.log(**{k: v for k, v in metrics.items() if not isinstance(v, list)})
    ctx.save_figure(_figure(pattern, eig, x, y, coef, true), "tensors")
    ctx.save_figure(_speed_figure(flops, slow_s, fast_s, cfg.matmul_size), "speed")

    ok = pattern_errors == 0 and eig_error < 1e-4 and mul_row_equal and coef_error < 1e-4
    line = (
        f"{'all checks pass' if ok else 'A CHECK FAILED'}: pattern exact, eigenvalues to "
        f"{eig_error:.0e}, {flops / 1e9:.1f} G products/s, mul_row speed-up x{speedup:,.0f}, "
        f"least squares to {coef_error:.0e}"
    )
    return Result(line, metrics=metrics)


def check(result: Result) -> list[Verdict]:
    """Practical 1's points, as measured: views write into one storage, a change of basis keeps
    the spectrum, broadcasting equals the loops and is far faster, least squares is exact."""
    m = result.metrics
    return [
        verdict("wrong coefficients in the pattern built from views", m["pattern_errors"], "==", 0),
        verdict("a narrow() view shares the pattern's storage (1 = yes)", m["view_shares_storage"], "==", 1),
        verdict("max |eigenvalue - k| of M^-1 diag(1..n) M", m["eig_max_error"], "<", 1e-4),
        verdict("mul_row_fast equals mul_row (1 = yes)", m["mul_row_equal"], "==", 1),
        verdict("speed-up of mul_row_fast over the Python loops", m["mul_row_speedup"], ">", 10),
        verdict("max |error| of the least-squares coefficients", m["regression_max_error"], "<", 1e-4),
    ]


# -- exercises (`dlc exercise tensors`, then `dlc check tensors`) ------------------------


def _regression_cases(g: torch.Generator) -> list[tuple]:
    x, y, _ = synthetic_regression(50, 0.1, g)
    x3 = torch.randn(30, 3, generator=g, dtype=torch.float64)
    y3 = (
        x3 @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 3 + torch.randn(30, generator=g, dtype=torch.float64)
    )
    return [(x, y), (x3, y3)]


TASKS = [
    Task(
        "pattern_with_views",
        hint="fill rows and columns 1, 6, 11 with 2 and the four 2 x 2 blocks at 3 and 8 with 3, "
        "each through m.narrow(...).fill_(...)",
        cases=lambda g: [()],
    ),
    Task(
        "similar_matrix_eigenvalues",
        hint="D = diag(1..n); the eigenvalues (torch.linalg.eigvals) of inv(M) @ D @ M, real parts, sorted",
        cases=lambda g: [(n, int(torch.randint(1000, (1,), generator=g))) for n in (1, 4, 9)],
        call=lambda f, n, seed: f(n, torch.Generator().manual_seed(seed)),
        rtol=1e-6,
        atol=1e-8,
    ),
    Task(
        "mul_row_fast",
        hint="multiply m by a column (R x 1) of factors 1..R in m's dtype: broadcasting repeats it along each row",
        cases=lambda g: [
            (torch.randn(4, 3, generator=g, dtype=torch.float64),),
            (torch.randn(1, 5, generator=g, dtype=torch.float64),),
            (torch.randn(7, 1, generator=g),),
        ],
    ),
    Task(
        "least_squares",
        hint="append a column of ones to x (the bias), then torch.linalg.lstsq(design, y as a column), flattened",
        cases=_regression_cases,
        rtol=1e-6,
        atol=1e-9,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
