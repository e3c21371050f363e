"""Convolutions and pooling (EE-559 4.4-4.5): by hand, then as unfold + matrix product.

A 2-D convolution slides a D x C x kh x kw kernel over a C x H x W signal and takes a
dot product at every position. Written as that definition it is a loop over output
positions; ``unfold`` gathers every patch into a column first, so the whole layer
becomes one matrix product (what fast implementations do). Max pooling is the same
patch gathering followed by a max instead of a dot product; average pooling is a
convolution of each channel with a uniform kernel.

The figure shows hand-designed filters (edges, blur) and what they and max pooling do to
MNIST digits.

Check: the loop and unfold versions give the outputs and gradients (w.r.t. the input,
the kernel and the bias) of ``F.conv2d`` and ``F.max_pool2d`` / ``F.avg_pool2d`` to
1e-10 in float64, for strides, paddings and dilations. (The timings are reported, not
checked: on a busy machine they vary too much to assert.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlc.errors import DlcError, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict


@dataclass
class Config:
    batch: int = 100  # images in the timed mini-batch (28 x 28, as MNIST's; at least 1)
    filters: int = 32  # output channels of the timed layer (the lecture convnet's first: 32)
    kernel: int = 5  # kernel size of the timed layer, kernel x kernel (the lecture convnet's: 5; 1 to 28)
    digits: int = 4  # MNIST test digits shown in the filters figure (at least 1)
    TINY = {"batch": 10}

    def __post_init__(self):
        for name in ("batch", "filters", "kernel", "digits"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.kernel > 28:
            raise UsageError(f"--kernel must fit in a 28 x 28 image (at most 28), got {self.kernel}")


class ShapeError(DlcError, ValueError):
    """Arguments of the wrong shape for a convolution (also a ValueError, as torch's are)."""


def out_size(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length (an int) along one axis of length n, for a kernel of size ``kernel``.

    The padded length is n + 2p; a kernel dilated by d spans d (k - 1) + 1 samples; it fits
    at every s-th position: floor((n + 2p - d (k - 1) - 1) / s) + 1.
    """
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1  # SOLUTION


def _check(x: torch.Tensor, w: torch.Tensor) -> None:
    if x.dim() != 4 or w.dim() != 4 or x.shape[1] != w.shape[1]:
        raise ShapeError(
            f"expected input N x C x H x W and kernel D x C x kh x kw with the same C, "
            f"got {tuple(x.shape)} and {tuple(w.shape)}"
        )


# --- convolution -----------------------------------------------------------------------
def conv2d_loops(x, w, b=None, stride=1, padding=0):
    """The definition: at each output position, the dot product of the kernel with a patch.

    x: N x C x H x W, w: D x C x kh x kw, b: D or None; zero padding on every side. Returns
    N x D x Ho x Wo (``out_size``): y[n, d, i, j] = b[d] + sum over c, u, v of
    w[d, c, u, v] x[n, c, i s + u, j s + v] in the padded x. Loop over the output
    positions (i, j); a matrix product handles the samples and the filters at once.
    """
    _check(x, w)
    d, _, kh, kw = w.shape
    ### BEGIN SOLUTION
    x = F.pad(x, (padding,) * 4)
    ho, wo = out_size(x.shape[2], kh, stride), out_size(x.shape[3], kw, stride)
    wf = w.reshape(d, -1)
    rows = []
    for i in range(ho):
        row = []
        for j in range(wo):
            patch = x[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            row.append(patch.reshape(x.shape[0], -1) @ wf.t())  # N x D
        rows.append(torch.stack(row, dim=-1))  # N x D x wo
    y = torch.stack(rows, dim=-2)  # N x D x ho x wo
    return y if b is None else y + b.view(1, -1, 1, 1)
    ### END SOLUTION


def conv2d_unfold(x, w, b=None, stride=1, padding=0, dilation=1):
    """All patches as columns (N x C*kh*kw x L), then one matrix product with the kernel.

    Same arguments and result as ``conv2d_loops`` (N x D x Ho x Wo), plus a dilation.
    ``F.unfold(x, (kh, kw), dilation=..., padding=..., stride=...)`` gathers the patches;
    the kernel flattened to D x C*kh*kw multiplies them all; the L = Ho Wo columns are
    then the output positions, row by row.
    """
    _check(x, w)
    n, _, h, wd = x.shape
    d, _, kh, kw = w.shape
    ### BEGIN SOLUTION
    cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)
    y = w.reshape(d, -1) @ cols  # N x D x L
    if b is not None:
        y = y + b.view(1, -1, 1)
    return y.view(n, d, out_size(h, kh, stride, padding, dilation), out_size(wd, kw, stride, padding, dilation))
    ### END SOLUTION


# --- pooling -----------------------------------------------------------------------------
def _patches(x, kernel, stride):
    """Each channel's k x k patches: N x C x k*k x L, plus the output height and width."""
    n, c, h, w = x.shape
    cols = F.unfold(x.reshape(n * c, 1, h, w), kernel, stride=stride)
    return cols.view(n, c, kernel * kernel, -1), out_size(h, kernel, stride), out_size(w, kernel, stride)


def max_pool2d_unfold(x, kernel, stride=None):
    """Max pooling of x (N x C x H x W) over kernel x kernel patches, every ``stride``
    (default: the kernel, patches side by side): N x C x Ho x Wo.

    ``_patches`` gathers each channel's patches (N x C x kernel^2 x L) with unfold; the
    max over each patch is the output, and autograd sends the gradient to the arg-max
    only, as torch's max pooling does.
    """
    ### BEGIN SOLUTION
    p, ho, wo = _patches(x, kernel, stride or kernel)
    return p.max(dim=2).values.view(x.shape[0], x.shape[1], ho, wo)
    ### END SOLUTION


def avg_pool2d_unfold(x, kernel, stride=None):
    """Average pooling is a convolution: each channel alone, with a uniform kernel 1 / kernel^2."""
    n, c, h, w = x.shape
    uniform = torch.full((1, 1, kernel, kernel), 1 / kernel**2, dtype=x.dtype, device=x.device)
    y = conv2d_unfold(x.reshape(n * c, 1, h, w), uniform, stride=stride or kernel)
    return y.view(n, c, y.shape[2], y.shape[3])


# --- comparison with torch ------------------------------------------------------------
CONV_CASES = [  # (N, C, H, W, D, kh, kw, stride, padding, dilation)
    (2, 1, 12, 12, 3, 5, 5, 1, 0, 1),
    (2, 3, 11, 9, 4, 3, 3, 2, 1, 1),
    (1, 2, 10, 10, 2, 3, 2, 1, 2, 1),
    (2, 2, 13, 13, 3, 3, 3, 1, 1, 2),
]
POOL_CASES = [(2, 3, 12, 12, 2, None), (2, 2, 13, 11, 3, None), (1, 2, 10, 10, 3, 2)]


def conv_max_error(case, impl) -> float:
    """Largest difference with F.conv2d over output and the three gradients (float64)."""
    n, c, h, w_, d, kh, kw, s, p, dil = case
    x = torch.randn(n, c, h, w_, dtype=torch.float64, requires_grad=True)
    w = torch.randn(d, c, kh, kw, dtype=torch.float64, requires_grad=True)
    b = torch.randn(d, dtype=torch.float64, requires_grad=True)
    ref = F.conv2d(x, w, b, stride=s, padding=p, dilation=dil)
    if dil == 1:
        mine = impl(x, w, b, stride=s, padding=p)
    elif impl is conv2d_unfold:
        mine = impl(x, w, b, stride=s, padding=p, dilation=dil)
    else:
        raise ShapeError(f"{impl.__name__} has no dilation; compare it on cases with dilation 1")
    u = torch.randn_like(ref)  # a random upstream gradient
    g_ref = torch.autograd.grad((ref * u).sum(), (x, w, b))
    g_mine = torch.autograd.grad((mine * u).sum(), (x, w, b))
    return max([(mine - ref).abs().max().item()] + [(a - r).abs().max().item() for a, r in zip(g_mine, g_ref)])


def pool_max_error(case, impl, ref_fn) -> float:
    n, c, h, w, k, s = case
    x = torch.randn(n, c, h, w, dtype=torch.float64, requires_grad=True)
    ref, mine = ref_fn(x, k, s), impl(x, k, s)
    u = torch.randn_like(ref)
    (g_ref,) = torch.autograd.grad((ref * u).sum(), x)
    (g_mine,) = torch.autograd.grad((mine * u).sum(), x)
    return max((mine - ref).abs().max().item(), (g_mine - g_ref).abs().max().item())


def _timeit(fn, repeat=5) -> float:
    """Best of ``repeat`` runs: the least disturbed by whatever else the machine is doing."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


# Hand-designed 3 x 3 filters: what a first convolutional layer tends to learn.
FILTERS = {
    "vertical edge": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "horizontal edge": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "diagonal edge": [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "blur": [[1, 2, 1], [2, 4, 2], [1, 2, 1]],
}


def filters_figure(images: torch.Tensor):
    """Row 0: the filters, with their weights; then per digit: input, each filter's map,
    and that map after ReLU and 2x2 max pooling."""
    import matplotlib.pyplot as plt

    w = torch.tensor(list(FILTERS.values()), dtype=torch.float32).unsqueeze(1)
    w[-1] /= w[-1].sum()
    maps = conv2d_unfold(images, w, padding=1)
    pooled = max_pool2d_unfold(maps.relu(), 2).numpy()
    images, maps, w = images.numpy(), maps.numpy(), w.numpy()
    raw = list(FILTERS.values())
    names = list(FILTERS)
    cols = 1 + 2 * len(names)
    rows = 1 + images.shape[0]
    fig, axes = plt.subplots(rows, cols, figsize=(1.25 * cols, 1.3 * rows + 0.8))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
    for k, name in enumerate(names):
        # each kernel on its own symmetric scale (white = 0), its weights written in
        ax = axes[0, 1 + 2 * k]
        m = abs(w[k, 0]).max()
        ax.imshow(w[k, 0], cmap="RdBu_r", vmin=-m, vmax=m)
        for i in range(3):
            for j in range(3):
                dark = abs(w[k, 0, i, j]) > 0.6 * m
                ax.text(j, i, f"{raw[k][i][j]:g}", ha="center", va="center", fontsize=7, color="w" if dark else "k")
        ax.set_title(name + (" (/16)" if name == "blur" else ""), fontsize=7)
        axes[0, 2 + 2 * k].text(
            0.5,
            0.5,
            "ReLU, then\n2x2 max-pool\n(below)",
            ha="center",
            va="center",
            fontsize=6,
            transform=axes[0, 2 + 2 * k].transAxes,
        )
    axes[0, 0].text(0.5, 0.5, "kernels\n(3 x 3)", ha="center", va="center", fontsize=7, transform=axes[0, 0].transAxes)
    axes[1, 0].set_title("input", fontsize=7)
    for r in range(images.shape[0]):
        axes[r + 1, 0].imshow(images[r, 0], cmap="gray")
        for k in range(len(names)):
            m = max(abs(maps[r, k]).max(), 1e-12)
            axes[r + 1, 1 + 2 * k].imshow(maps[r, k], cmap="RdBu_r", vmin=-m, vmax=m)
            axes[r + 1, 2 + 2 * k].imshow(pooled[r, k], cmap="gray", vmin=0)
    fig.suptitle(
        "hand-made 3x3 filters applied with conv2d_unfold (28x28 -> 28x28 -> 14x14)\n"
        "kernels and feature maps: red positive, blue negative, white 0; pooled maps: black 0, white largest",
        fontsize=9,
    )
    return fig


@lab(
    "convolutions",
    source="EE-559 4.4-4.5",
    summary="convolution and pooling written as loops and as unfold + matmul; equal to torch's outputs and gradients",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc.data import load

    # 1. Exactness: every implementation against torch, outputs and gradients, float64.
    errors = {
        "conv2d_loops": max(conv_max_error(c, conv2d_loops) for c in CONV_CASES if c[-1] == 1),
        "conv2d_unfold": max(conv_max_error(c, conv2d_unfold) for c in CONV_CASES),
    }
    errors["max_pool2d_unfold"] = max(pool_max_error(c, max_pool2d_unfold, F.max_pool2d) for c in POOL_CASES)
    errors["avg_pool2d_unfold"] = max(pool_max_error(c, avg_pool2d_unfold, F.avg_pool2d) for c in POOL_CASES)
    for name, e in errors.items():
        ctx.print(f"{name:20s} max |difference with torch| (outputs and gradients, float64): {e:.1e}")
        ctx.log(check=name, max_error=e)

    # 2. Speed: the lecture convnet's first layer on a mini-batch, three ways.
    x = torch.randn(cfg.batch, 1, 28, 28)
    w = torch.randn(cfg.filters, 1, cfg.kernel, cfg.kernel)
    b = torch.randn(cfg.filters)
    times = {
        "loops": _timeit(lambda: conv2d_loops(x, w, b), repeat=2),
        "unfold": _timeit(lambda: conv2d_unfold(x, w, b)),
        "torch": _timeit(lambda: F.conv2d(x, w, b)),
    }
    ctx.log(**{f"time_{k}_s": v for k, v in times.items()})
    ctx.print(
        f"forward time, batch {cfg.batch} x 1 x 28 x 28, {cfg.filters} filters {cfg.kernel}x{cfg.kernel}: "
        + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in times.items())
    )

    # 3. What filters do to images.
    images, _ = load("mnist", train=False, data_dir=ctx.data_dir)
    digits = images[: cfg.digits].float().div(255).unsqueeze(1)
    ctx.save_figure(filters_figure(digits), "filters")

    worst = max(errors.values())
    metrics = {
        **{f"{k}_max_error": v for k, v in errors.items()},
        **{f"time_{k}_ms": v * 1e3 for k, v in times.items()},
        "unfold_speedup": times["loops"] / times["unfold"],
        "torch_speedup": times["unfold"] / times["torch"],
        "max_error": worst,
    }
    line = (
        f"loops, unfold and pooling equal torch's outputs and gradients (max error {worst:.1e}, float64); "
        f"unfold is {times['loops'] / times['unfold']:.0f}x faster than loops, "
        f"torch {times['unfold'] / times['torch']:.1f}x faster than unfold"
    )
    return Result(line, metrics=metrics)


def check(result: Result) -> list:
    """The lecture's point: the loop, unfold + matmul and torch compute the same function,
    and the same gradients."""
    m = result.metrics
    return [
        verdict(
            f"{name}: max |difference with torch| (outputs and gradients, float64)", m[f"{name}_max_error"], "<", 1e-10
        )
        for name in ("conv2d_loops", "conv2d_unfold", "max_pool2d_unfold", "avg_pool2d_unfold")
    ]


# -- exercises (`dlc exercise convolutions`, then `dlc check convolutions`) --------------


def _conv_cases(g: torch.Generator, dilation: bool) -> list[tuple]:
    """Small CONV_CASES: (x, w, b, stride, padding[, dilation]) in float64."""
    out = []
    for n, c, h, w_, d, kh, kw, s, p, dil in CONV_CASES:
        if dil != 1 and not dilation:
            continue
        x = torch.randn(n, c, h, w_, generator=g, dtype=torch.float64)
        w = torch.randn(d, c, kh, kw, generator=g, dtype=torch.float64)
        b = torch.randn(d, generator=g, dtype=torch.float64)
        out.append((x, w, b, s, p, dil) if dilation else (x, w, b, s, p))
    x = torch.randn(1, 2, 6, 7, generator=g, dtype=torch.float64)  # no bias
    out.append((x, torch.randn(3, 2, 2, 3, generator=g, dtype=torch.float64), None, 1, 0) + ((1,) if dilation else ()))
    return out


TASKS = [
    Task(
        "out_size",
        hint="floor((n + 2 padding - dilation (kernel - 1) - 1) / stride) + 1, with integer division //",
        cases=lambda g: [(28, 5), (11, 3, 2, 1), (10, 3, 1, 2), (13, 3, 1, 1, 2), (12, 2, 2), (7, 7)],
    ),
    Task(
        "conv2d_loops",
        hint="pad x, then for each output position (i, j): the patch x[:, :, i s : i s + kh, j s : j s + kw] "
        "flattened to N x C*kh*kw, times the flattened kernel transposed; stack into N x D x Ho x Wo, add b",
        cases=lambda g: _conv_cases(g, dilation=False),
        grad=True,
    ),
    Task(
        "conv2d_unfold",
        hint="cols = F.unfold(x, (kh, kw), dilation, padding, stride); w.reshape(D, -1) @ cols gives N x D x L; "
        "add b as D x 1, then view as N x D x Ho x Wo (out_size)",
        cases=lambda g: _conv_cases(g, dilation=True),
        grad=True,
    ),
    Task(
        "max_pool2d_unfold",
        hint="p, ho, wo = _patches(x, kernel, stride or kernel); the max over dim 2 (.values), viewed as "
        "N x C x ho x wo",
        cases=lambda g: [
            (torch.randn(n, c, h, w, generator=g, dtype=torch.float64), k, s) for n, c, h, w, k, s in POOL_CASES
        ],
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
