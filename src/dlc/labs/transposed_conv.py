"""Transposed convolution (EE-559 9.1): the adjoint of a convolution, and how it upsamples.

A convolution is linear in its input, so it is a matrix C applied to the flattened
signal. The transposed convolution applies C^T: it maps the convolution's output space
back to its input space, which is why it is the layer of choice to *increase* the
resolution in a decoder, and also why autograd uses it as the convolution's backward.
The lab shows it three ways:

- the matrix: C built column by column (the convolution of each basis signal), and
  ``conv_transpose1d`` equal to C^T applied to a vector (figure ``matrix``);
- the adjoint identity <conv(x), y> = <x, conv_transpose(y)>, checked in float64 for
  random shapes, strides, paddings and dilations (with the ``output_padding`` that
  makes the transposed output exactly the input's size), and conv_transpose equal to
  autograd's vector-Jacobian product of the convolution;
- output-size arithmetic: (n - 1) s - 2 p + d (k - 1) + output_padding + 1, the
  inverse of the convolution's floor((n + 2 p - d (k - 1) - 1) / s) + 1, against torch
  on a grid of settings;
- checkerboard artefacts (Odena et al., 2016): with stride 2 a kernel of size 3 covers
  the output unevenly (1, 2, 1, 2, ... contributions), a kernel of size 4 evenly;
  nearest-neighbour upsampling followed by a convolution never does. Shown on a
  constant input with constant weights, where any pattern is an artefact (figure
  ``checkerboard``), and measured as the interior's relative spread.

Check: largest relative adjoint error < 1e-10 and autograd's VJP equal to
conv_transpose to 1e-12; the size formula agrees with torch in every setting; the
kernel-3 stride-2 output has a spread > 0.2 while kernel 4 and upsample + convolution
have none (< 1e-9).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict


@dataclass
class Config:
    trials: int = 40  # random (shape, stride, padding, dilation) settings for the adjoint check (at least 1)
    max_stride: int = 3  # strides 1 .. max_stride are tried (at least 1)
    THREADS = 1  # signals of a few hundred values: one thread is fastest

    def __post_init__(self):
        if self.trials < 1:
            raise UsageError(f"--trials must be at least 1, got {self.trials}")
        if not 1 <= self.max_stride <= 6:
            raise UsageError(f"--max_stride must be between 1 and 6, got {self.max_stride}")


def conv_out(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Length of a convolution's output along one axis (an int), for an input of length n,
    kernel size k, stride s, padding p (on each side) and dilation d."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1  # SOLUTION


def transposed_out(n: int, k: int, s: int = 1, p: int = 0, d: int = 1, output_padding: int = 0) -> int:
    """Length of a transposed convolution's output along one axis (an int), for an input of
    length n: the shortest input length whose convolution (same k, s, p, d) has n outputs,
    plus ``output_padding`` (0 .. s - 1: it picks among the s input lengths that all give n
    outputs)."""
    return (n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1  # SOLUTION


def conv_matrix(w: torch.Tensor, n: int, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """The matrix C of ``conv1d(., w)`` on signals of length n (one channel in and out, the
    1-D kernel ``w`` of length k): ``C @ x`` equals the convolution of x, so C has shape
    ``conv_out(n, k, stride, padding) x n`` and w's dtype. Column j is the convolution of
    the j-th basis signal (1 at index j, 0 elsewhere)."""
    ### BEGIN SOLUTION
    basis = torch.eye(n, dtype=w.dtype).unsqueeze(1)  # n signals of 1 channel
    return F.conv1d(basis, w.view(1, 1, -1), stride=stride, padding=padding).squeeze(1).T
    ### END SOLUTION


def adjoint_error(g: torch.Generator, max_stride: int) -> dict:
    """<conv(x), y> against <x, conv_transpose(y)> for one random 2-D setting (float64)."""

    def pick(hi: int) -> int:
        return int(torch.randint(1, hi + 1, (), generator=g))

    k, s, d = pick(4), pick(max_stride), pick(2)
    p = int(torch.randint(0, k, (), generator=g))  # padding below the kernel size
    c_in, c_out = pick(3), pick(3)
    n = d * (k - 1) + 1 + pick(8)  # large enough for at least one output
    x = torch.randn(2, c_in, n, n, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(c_out, c_in, k, k, generator=g, dtype=torch.float64)
    out = F.conv2d(x, w, stride=s, padding=p, dilation=d)
    y = torch.randn(out.shape, generator=g, dtype=torch.float64)
    # the transposed output is one of s sizes; output_padding picks the input's
    op = n - transposed_out(out.shape[2], k, s, p, d)
    back = F.conv_transpose2d(y, w, stride=s, padding=p, dilation=d, output_padding=op)
    lhs, rhs = (out * y).sum(), (x * back).sum()
    (vjp,) = torch.autograd.grad(out, x, y)
    return {
        "setting": dict(kernel=k, stride=s, padding=p, dilation=d, n=n, output_padding=op),
        "adjoint_rel": float(((lhs - rhs).abs() / (lhs.abs() + rhs.abs())).detach()),
        "vjp_max": float((vjp - back).abs().max()),
    }


def size_mismatches(max_stride: int) -> tuple[int, int]:
    """(mismatches, settings): the size formulas against torch's convolution and transposed
    convolution outputs."""
    wrong = total = 0
    for n, k, s, p, d in itertools.product(range(1, 7), range(1, 5), range(1, max_stride + 1), range(3), (1, 2)):
        if conv_out(n, k, s, p, d) >= 1:  # torch refuses a kernel wider than the padded input
            got = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d)
            total += 1
            wrong += got.shape[2] != conv_out(n, k, s, p, d)
        for op in range(max(s, d)):
            if op >= s and op >= d or transposed_out(n, k, s, p, d, op) < 1:
                continue  # torch refuses output_padding >= both stride and dilation
            y = torch.zeros(1, 1, n)
            got = F.conv_transpose1d(y, torch.zeros(1, 1, k), stride=s, padding=p, dilation=d, output_padding=op)
            total += 1
            wrong += got.shape[2] != transposed_out(n, k, s, p, d, op)
    return wrong, total


def interior_spread(z: torch.Tensor, margin: int = 4) -> float:
    """Relative spread (max - min) / mean of an image away from its borders."""
    inner = z[..., margin:-margin, margin:-margin]
    return float((inner.max() - inner.min()) / inner.mean())


def checkerboards(n: int = 8) -> dict[str, torch.Tensor]:
    """Upsampling a constant n x n image by 2, three ways, with constant weights."""
    x = torch.ones(1, 1, n, n, dtype=torch.float64)
    ones = lambda k: torch.ones(1, 1, k, k, dtype=torch.float64)
    return {
        "transposed conv, kernel 3, stride 2": F.conv_transpose2d(x, ones(3), stride=2, padding=1, output_padding=1),
        "transposed conv, kernel 4, stride 2": F.conv_transpose2d(x, ones(4), stride=2, padding=1),
        "nearest upsampling + conv 3x3": F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), ones(3), padding=1),
    }


@lab(
    "transposed-conv",
    source="EE-559 9.1",
    summary="transposed convolution as the adjoint of convolution; output sizes; checkerboard artefacts",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(ctx.seed)
    trials = [adjoint_error(g, cfg.max_stride) for _ in range(cfg.trials)]
    worst = max(trials, key=lambda t: t["adjoint_rel"])
    vjp = max(t["vjp_max"] for t in trials)
    wrong, settings = size_mismatches(cfg.max_stride)
    boards = checkerboards()
    spread = {name: interior_spread(z) for name, z in boards.items()}

    # The matrix view, on a 1-D signal of length 8, kernel 3, stride 2, padding 1.
    w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    c = conv_matrix(w, 8, stride=2, padding=1)
    y = torch.randn(c.shape[0], generator=g, dtype=torch.float64)
    by_torch = F.conv_transpose1d(y.view(1, 1, -1), w.view(1, 1, -1), stride=2, padding=1, output_padding=1).view(-1)
    matrix_err = float((c.T @ y - by_torch).abs().max())

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), gridspec_kw={"width_ratios": [8, 4]})
    for ax, m, title, (xl, yl) in (
        (
            axes[0],
            c,
            f"convolution C ({c.shape[0]} x {c.shape[1]})\nkernel (1, 2, 3), stride 2, padding 1",
            ("input index", "output index"),
        ),
        (
            axes[1],
            c.T,
            f"transposed convolution C$^T$ ({c.shape[1]} x {c.shape[0]})",
            ("its input (= conv output) index", "its output (= conv input) index"),
        ),
    ):
        im = ax.imshow(m, cmap="Blues", vmin=0, vmax=3)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xl, fontsize=9)
        ax.set_ylabel(yl, fontsize=9)
        ax.set_xticks(range(m.shape[1]))
        ax.set_yticks(range(m.shape[0]))
        for (i, j), v in _enumerate(m):
            if v:
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
    fig.suptitle("A convolution is a matrix; its transposed convolution is that matrix transposed")
    fig.subplots_adjust(top=0.82, wspace=0.35)
    ctx.save_figure(fig, "matrix")

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    for ax, (name, z) in zip(axes, boards.items()):
        im = ax.imshow(z[0, 0], cmap="viridis")
        ax.set_title(f"{name}\ninterior spread {spread[name]:.0%}", fontsize=9)
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
        fig.colorbar(im, ax=ax, shrink=0.75, label="output value")
    fig.suptitle("Upsampling a constant 8 x 8 image by 2 with constant weights: any pattern is an artefact")
    fig.tight_layout()
    ctx.save_figure(fig, "checkerboard")

    k3 = spread["transposed conv, kernel 3, stride 2"]
    even = max(spread["transposed conv, kernel 4, stride 2"], spread["nearest upsampling + conv 3x3"])
    line = (
        f"<conv(x), y> = <x, conv_transpose(y)> to {worst['adjoint_rel']:.1e} over {len(trials)} settings; "
        f"sizes {settings - wrong}/{settings} as the formula; checkerboard spread {k3:.0%} (kernel 3) vs "
        f"{even:.0%} (kernel 4, upsample + conv)"
    )
    return Result(
        line,
        metrics={
            "trials": len(trials),
            "adjoint_max_rel_error": worst["adjoint_rel"],
            "worst_setting": worst["setting"],
            "vjp_max_abs_error": vjp,
            "matrix_max_abs_error": matrix_err,
            "size_settings": settings,
            "size_mismatches": wrong,
            "spread": spread,
        },
    )


def _enumerate(m: torch.Tensor):
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            yield (i, j), float(m[i, j])


def check(result: Result) -> list:
    m = result.metrics
    s = m["spread"]
    return [
        verdict(
            "largest relative error of <conv(x), y> - <x, conv_transpose(y)>", m["adjoint_max_rel_error"], "<", 1e-10
        ),
        verdict(
            "autograd's vector-Jacobian product minus conv_transpose (max abs)", m["vjp_max_abs_error"], "<", 1e-12
        ),
        verdict("conv_transpose1d minus C^T y (max abs)", m["matrix_max_abs_error"], "<", 1e-12),
        verdict("output sizes that differ from the formula", m["size_mismatches"], "==", 0),
        verdict(
            "interior spread, kernel 3 stride 2 (uneven overlap)", s["transposed conv, kernel 3, stride 2"], ">", 0.2
        ),
        verdict(
            "interior spread, kernel 4 stride 2 (even overlap)", s["transposed conv, kernel 4, stride 2"], "<", 1e-9
        ),
        verdict("interior spread, nearest upsampling + conv", s["nearest upsampling + conv 3x3"], "<", 1e-9),
    ]


# -- exercises (`dlc exercise transposed-conv`, then `dlc check transposed-conv`) ------------


def _size_cases(g: torch.Generator) -> list[tuple]:
    """(n, k, s, p, d) settings drawn at random, each with at least one output."""
    cases = []
    while len(cases) < 3:
        ranges = ((1, 12), (1, 6), (1, 4), (0, 3), (1, 3))
        n, k, s, p, d = (int(torch.randint(lo, hi, (), generator=g)) for lo, hi in ranges)
        if conv_out(n, k, s, p, d) >= 1:
            cases.append((n, k, s, p, d))
    return cases + [(5, 3, 1, 1, 1), (11, 3, 2, 1, 2), (9, 2, 3, 0, 2)]  # dilated ones, to be sure


TASKS = [
    Task(
        "conv_out",
        hint="the dilated kernel spans d (k - 1) + 1 samples: count the positions, s samples apart, where it "
        "fits inside the n + 2 p samples of the padded input",
        cases=_size_cases,
    ),
    Task(
        "transposed_out",
        hint="invert conv_out: the shortest input whose convolution (same k, s, p, d) has n outputs (n - 1 "
        "strides, then the dilated kernel's span, less the padding), plus output_padding",
        cases=lambda g: [(*c, 0) for c in _size_cases(g)] + [(4, 3, 2, 1, 1, 1), (3, 4, 3, 0, 2, 2)],
    ),
    Task(
        "conv_matrix",
        hint="convolve each basis signal (the rows of torch.eye(n), as n one-channel signals) with w; "
        "the outputs are the columns of C",
        cases=lambda g: [
            (torch.randn(3, generator=g, dtype=torch.float64), 8, 2, 1),
            (torch.randn(2, generator=g, dtype=torch.float64), 7, 1, 0),
            (torch.randn(4, generator=g, dtype=torch.float64), 10, 3, 2),
        ],
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
