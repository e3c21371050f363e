"""Cross-entropy loss (EE-559 5.1): softmax, log-softmax, cross-entropy, numerical stability.

A classifier outputs logits f(x) in R^C; the softmax turns them into probabilities
and the cross-entropy is the mean of -log p(y | x). Written as the formula says,
``exp(f) / sum(exp(f))`` overflows as soon as a logit exceeds ~88 (float32) or ~709
(float64): exp gives inf, and inf / inf is nan. Subtracting the largest logit first
(the log-sum-exp trick) changes nothing mathematically and everything numerically.

Check: the lecture's two-sample example gives its printed 2.5141; for logits of size
+-1e4 the naive cross-entropy is not finite, the log-sum-exp one is, and it equals
``torch.nn.functional.cross_entropy`` (relative error under 1e-6), and so do its
gradients, which are (softmax - one-hot) / N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlc import viz
from dlc.errors import DlcError, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict


@dataclass
class Config:
    logit_scale: float = 1e4  # largest |logit| of the stability check (the lecture's 1e4; positive)
    classes: int = 10  # C, the number of classes of the random logits (at least 1)
    batch: int = 1000  # N, samples (rows of logits) in the random checks (at least 1)
    dtype: str = "float32"  # float32 (what networks use) or float64 (overflows later, at ~709)
    TINY = {"batch": 100}

    def __post_init__(self):
        _dtype(self.dtype)
        for name in ("classes", "batch"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not self.logit_scale > 0:
            raise UsageError(f"--logit_scale must be positive (e.g. 1e4), got {self.logit_scale}")


class ShapeError(DlcError, ValueError):
    """Logits and targets of shapes that do not go together (also a ValueError, as torch's are)."""


# --- the formulas, naive ------------------------------------------------------------
def naive_softmax(f: torch.Tensor) -> torch.Tensor:
    e = f.exp()
    return e / e.sum(dim=1, keepdim=True)


def naive_cross_entropy(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -naive_softmax(f).gather(1, y.view(-1, 1)).log().mean()


# --- the same, with the log-sum-exp trick --------------------------------------------
def logsumexp(f: torch.Tensor) -> torch.Tensor:
    """log sum_k exp(f_k) per row of f (N x C), returned as a tensor of shape N.

    The largest logit m of each row is taken out first, log sum exp(f) = m + log sum exp(f - m),
    so that exp never sees a positive number and cannot overflow.
    """
    ### BEGIN SOLUTION
    m = f.max(dim=1, keepdim=True).values
    return (m + (f - m).exp().sum(dim=1, keepdim=True).log()).squeeze(1)
    ### END SOLUTION


def log_softmax(f: torch.Tensor) -> torch.Tensor:
    """log softmax(f) per row: f_k - log sum_j exp(f_j), N x C."""
    return f - logsumexp(f).unsqueeze(1)


def softmax(f: torch.Tensor) -> torch.Tensor:
    return log_softmax(f).exp()


def cross_entropy(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -log softmax(f)_y (logits f: N x C, classes y: N): a 0-d tensor.

    That is the negative log-likelihood of the log-softmax (``log_softmax``, this lab's stable one).
    """
    if f.dim() != 2 or y.shape != f.shape[:1]:
        raise ShapeError(f"cross_entropy expects logits N x C and targets N, got {tuple(f.shape)} and {tuple(y.shape)}")
    return -log_softmax(f).gather(1, y.view(-1, 1)).mean()  # SOLUTION


def cross_entropy_grad(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d loss / d f of the mean cross-entropy, N x C like f: (softmax(f) - one_hot(y)) / N,
    the gradient the lecture derives (written without autograd)."""
    return (softmax(f) - F.one_hot(y, f.shape[1]).to(f.dtype)) / f.shape[0]  # SOLUTION


def _dtype(name: str) -> torch.dtype:
    if name not in ("float32", "float64"):
        raise UsageError(f"--dtype must be 'float32' or 'float64', got {name!r}")
    return getattr(torch, name)


@lab(
    "cross-entropy",
    source="EE-559 5.1",
    summary="softmax, log-softmax and cross-entropy by hand; the log-sum-exp trick keeps logits of +-1e4 finite",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    dtype = _dtype(cfg.dtype)

    # The lecture's example: two samples, three classes.
    f = torch.tensor([[-1.0, -3.0, 4.0], [-3.0, 3.0, -1.0]], dtype=dtype)
    y = torch.tensor([0, 1])
    lecture_loss = cross_entropy(f, y).item()
    ctx.print(f"lecture example: cross_entropy = {lecture_loss:.4f} (torch: {F.cross_entropy(f, y).item():.4f})")

    # Ordinary logits: naive, stable and torch agree.
    f = torch.randn(cfg.batch, cfg.classes, dtype=dtype)
    y = torch.randint(cfg.classes, (cfg.batch,))
    small_naive_err = (naive_cross_entropy(f, y) - F.cross_entropy(f, y)).abs().item()

    # Huge logits: only the log-sum-exp version survives.
    big = cfg.logit_scale * (2 * torch.rand(cfg.batch, cfg.classes, dtype=dtype) - 1)
    big.requires_grad_(True)
    naive = naive_cross_entropy(big.detach(), y)
    mine = cross_entropy(big, y)
    ref = F.cross_entropy(big, y)
    (g_ref,) = torch.autograd.grad(ref, big)
    big_err = (mine - ref).abs().item() / max(1.0, ref.abs().item())
    grad_err = (cross_entropy_grad(big.detach(), y) - g_ref).abs().max().item()
    ctx.print(
        f"logits +-{cfg.logit_scale:g}: naive {naive.item()}, log-sum-exp {mine.item():.6g}, torch {ref.item():.6g}"
    )

    # Where does the naive formula break? Scale a fixed set of logits up and watch.
    scales = torch.logspace(0, math.log10(max(cfg.logit_scale, 10.0)), 60).tolist()
    g = torch.randn(cfg.batch, cfg.classes, dtype=dtype)
    g = g / g.abs().max()
    naive_curve, stable_curve = [], []
    for s in scales:
        n_ = naive_cross_entropy(s * g, y).item()
        s_ = cross_entropy(s * g, y).item()
        naive_curve.append(n_ if math.isfinite(n_) else float("nan"))
        stable_curve.append(s_)
        ctx.log(scale=s, naive=n_, stable=s_)
    finite = [s for s, v in zip(scales, naive_curve) if math.isfinite(v)]
    breaks_at = max(finite) if len(finite) < len(scales) else float("inf")

    fig = viz.curves(
        {"naive exp / sum exp": naive_curve, "log-sum-exp": stable_curve},
        x=scales,
        xlabel="largest |logit|",
        ylabel="cross-entropy",
        title=f"cross-entropy of scaled logits ({cfg.dtype}); naive is nan/inf past ~{breaks_at:.0f}",
        logy=True,
        marks={"naive breaks": breaks_at} if math.isfinite(breaks_at) else None,
    )
    ax = fig.axes[0]
    ax.set_xscale("log")
    ax.lines[0].set(linewidth=6, alpha=0.4)  # the naive curve lies under the stable one until it breaks
    for note in ax.texts:  # the mark's label: low, right of its line, clear of the title and the curves
        note.xy = note.xyann = (breaks_at * 1.15, 0.05)
        note.set_fontsize(9)
    ax.legend()
    ctx.save_figure(fig, "stability")

    metrics = {
        "lecture_example_loss": lecture_loss,
        "small_logits_naive_error": small_naive_err,
        "naive_finite_at_scale": math.isfinite(naive.item()),
        "stable_finite_at_scale": math.isfinite(mine.item()),
        "stable_vs_torch_rel_error": big_err,
        "grad_vs_torch_max_error": grad_err,
        "naive_breaks_above": breaks_at,
    }
    line = (
        f"logits +-{cfg.logit_scale:g} ({cfg.dtype}): naive CE = {naive.item()}, log-sum-exp CE = "
        f"{mine.item():.6g} = torch's (rel. error {big_err:.1e}); naive breaks above |f| ~ {breaks_at:.0f}"
    )
    return Result(line, metrics=metrics)


LECTURE_LOSS = 2.5141  # what torch prints for the lecture's example


def check(result: Result) -> list:
    """The lecture's point: the formula as written overflows, the log-sum-exp trick gives
    torch's loss and gradient."""
    m = result.metrics
    return [
        verdict("the lecture's example: |loss - 2.5141|", abs(m["lecture_example_loss"] - LECTURE_LOSS), "<", 1e-4),
        verdict("naive exp / sum exp CE finite at the large logits", float(m["naive_finite_at_scale"]), "==", 0),
        verdict("log-sum-exp CE finite at the large logits", float(m["stable_finite_at_scale"]), "==", 1),
        verdict("log-sum-exp CE vs torch's, relative error", m["stable_vs_torch_rel_error"], "<", 1e-6),
        verdict("(softmax - one-hot) / N vs torch's gradient, max error", m["grad_vs_torch_max_error"], "<", 1e-6),
    ]


# -- exercises (`dlc exercise cross-entropy`, then `dlc check cross-entropy`) ------------


def _logits(g: torch.Generator) -> list[torch.Tensor]:
    """Ordinary logits, logits of +-1e4 (where exp overflows even in float64), one class."""
    return [
        torch.randn(6, 4, generator=g, dtype=torch.float64),
        1e4 * (2 * torch.rand(5, 3, generator=g, dtype=torch.float64) - 1),
        torch.randn(3, 1, generator=g, dtype=torch.float64),
    ]


def _labelled(g: torch.Generator) -> list[tuple]:
    return [(f, torch.randint(f.shape[1], (f.shape[0],), generator=g)) for f in _logits(g)]


def _autograd_ce(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    f = f.detach().double().requires_grad_(True)
    return torch.autograd.grad(F.cross_entropy(f, y), f)[0]


TASKS = [
    Task(
        "logsumexp",
        hint="take out each row's largest logit m: m + log(sum(exp(f - m))), one value per row",
        cases=lambda g: [(f,) for f in _logits(g)],
        grad=True,
    ),
    Task(
        "cross_entropy",
        hint="pick each sample's log_softmax(f) at its class y (gather), negate, and average over the batch",
        cases=_labelled,
        grad=True,
    ),
    Task(
        "cross_entropy_grad",
        hint="the gradient of the mean cross-entropy is (softmax(f) - one_hot(y)) / N",
        cases=_labelled,
        grad=lambda fn, f, y: fn(f, y),
        autograd=_autograd_ce,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
