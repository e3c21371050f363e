"""Non-volume-preserving flows (RealNVP, EE-559 9.4): densities you can both evaluate and sample.

A flow ``f`` maps data ``x`` to ``z = f(x)`` with a standard normal density; the change of
variables gives ``log p(x) = log N(f(x)) + log |det J_f(x)|``, and trains ``f`` by maximum
likelihood. Affine coupling layers (:class:`AffineCoupling`, here; their ``s, t`` networks
and masks from :mod:`dlc.models.flows`) make both terms cheap: half the coordinates pass
unchanged and scale and shift the other half, so the Jacobian is triangular and its
log-determinant is a sum of the scales; the inverse is as cheap, so sampling is ``f^-1(z)``.

Part 1, 2-D: flows of 8 couplings (MLPs with two hidden layers) fitted to two moons and
to a checkerboard density generated here. Part 2, MNIST: dequantised pixels (``(p + u) /
256``, u uniform), the logit transform of RealNVP, a fixed per-pixel standardisation
(the mean and standard deviation of the training logits: on its own, the independent
per-pixel Gaussian baseline), then coupling layers with checkerboard and half-image masks
whose ``s, t`` are small convnets, as in RealNVP (weights shared over positions: an MLP on
the flattened image, tried first, overfits a thousand images, its test bits/dim rising
while the training ones fall). Its test log-likelihood is reported in bits per
dimension of the discrete pixels (the transforms' Jacobians included).

Check, measured in the same run: the flow's log-determinant equals that of the full
Jacobian autograd builds (``slogdet``, float64) to 1e-6, for a 2-D flow and for the MNIST
flow's own layers on a 10 x 10 window (same weights; 100 dimensions, a few test images);
``x -> z -> x`` returns ``x`` to 1e-5 (float32, the trained models; on MNIST ``x`` is the
dequantised image in (0, 1), through the logit transform and back); on each 2-D set the
trained flow's test log-likelihood is above the same flow's untrained and above a Gaussian
fitted to the training points; on MNIST the trained flow's bits/dim are below its untrained
value and below the per-pixel Gaussian's (the coupling layers model how pixels depend on
each other).
With ``--epochs 0`` / ``--mnist_epochs 0`` nothing is trained and the check states what an
untrained flow shows: a worse 2-D density than the fitted Gaussian; the exactness checks
hold either way.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from dlc import prologue
from dlc.data import toy
from dlc.engine import Step, evaluate, fit
from dlc.engine.callbacks import standard_callbacks
from dlc.errors import InvalidArgument, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models import flows
from dlc.models.flows import ElementwiseAffine, Flow, brute_force_logdet

LOGDET_TOL = 1e-6  # the check: autograd's log|det J| and the flow's agree to this (float64)
INVERSE_TOL = 1e-5  # the check: x -> z -> x to this (float32)
WINDOW = (9, 19)  # rows and columns of the MNIST flow's window for the brute-force Jacobian (100 dims)


@dataclass
class Config:
    points: int = 2000  # training points of each 2-D set (and as many test points)
    layers: int = 8  # coupling layers of the 2-D flows (masks alternate x1 / x2)
    hidden: int = 64  # hidden units of the s, t MLPs of the 2-D flows
    epochs: int = 30  # epochs of each 2-D flow; 0: untrained flows are evaluated
    batch_size: int = 200  # points per Adam step (2-D)
    lr: float = 5e-3  # Adam's learning rate (2-D)
    mnist_layers: int = 6  # coupling layers of the MNIST flow (checkerboard, complement,
    # top half, bottom half, ...)
    mnist_hidden: int = 16  # channels of the s, t convnets of the MNIST flow
    mnist_epochs: int = 3  # epochs of the MNIST flow; 0: the untrained flow is evaluated
    mnist_batch_size: int = 100  # images per Adam step (MNIST)
    mnist_lr: float = 3e-3  # Adam's learning rate (MNIST)
    alpha: float = 0.05  # logit transform: logit(alpha + (1 - 2 alpha) x), as RealNVP
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    TINY = {"points": 1000, "epochs": 10, "layers": 6, "mnist_epochs": 2}
    FULL = {"points": 10000, "epochs": 100, "mnist_epochs": 10, "mnist_layers": 8, "mnist_hidden": 32}
    THREADS = 1

    def __post_init__(self):
        for name in ("points", "layers", "hidden", "mnist_layers", "mnist_hidden", "batch_size", "mnist_batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.points < 10:
            raise UsageError(f"--points must be at least 10 (a Gaussian is fitted to them), got {self.points}")
        for name in ("lr", "mnist_lr"):
            if not getattr(self, name) > 0:
                raise UsageError(f"--{name} must be positive, got {getattr(self, name)}")
        if not 0 < self.alpha < 0.5:
            raise UsageError(f"--alpha must be in (0, 0.5), got {self.alpha}")
        if self.train_size is not None and self.train_size < 2:
            raise UsageError(f"--train_size must be at least 2 (a per-pixel variance is fitted), got {self.train_size}")


# -- data -----------------------------------------------------------------------------------


def checkerboard(n: int, seed: int = 0) -> torch.Tensor:
    """Uniform on the 8 dark squares of a 4 x 4 checkerboard on [-2, 2]^2 (``n x 2``)."""
    g = torch.Generator().manual_seed(seed)
    x1 = torch.rand(n, generator=g) * 4 - 2
    # x2's unit row: one of the two rows whose square at x1's column is dark
    row = torch.randint(0, 2, (n,), generator=g) * 2 + (torch.floor(x1).long() % 2)
    x2 = torch.rand(n, generator=g) + row.float() - 2
    return torch.stack([x1, x2], 1)


def dequantize(pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pixels 0..255 -> ``(p + u) / 256`` in (0, 1), u ~ U(0, 1): a continuous density's
    log-likelihood on these bounds the discrete pixels' (minus ``D log 256``)."""
    return (pixels + torch.rand(pixels.shape, generator=generator).to(pixels.device)) / 256


def to_logit(u: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """RealNVP's ``y = logit(alpha + (1 - 2 alpha) u)`` of images ``u`` in (0, 1) (N x ...),
    and ``log |det dy/du|`` (the transform acts on each value alone: a sum over the values
    of each image). Returns ``(y, logdet)``: y the shape of u, logdet of shape N."""
    s = alpha + (1 - 2 * alpha) * u
    ### BEGIN SOLUTION
    y = torch.log(s) - torch.log1p(-s)
    logdet = (math.log(1 - 2 * alpha) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)
    return y, logdet
    ### END SOLUTION


def from_logit(y: torch.Tensor, alpha: float) -> torch.Tensor:
    return ((torch.sigmoid(y) - alpha) / (1 - 2 * alpha)).clamp(0, 1)


# -- the flow -------------------------------------------------------------------------------


class AffineCoupling(nn.Module):
    """An affine coupling layer: ``y = b x + (1 - b) (x exp(s) + t)`` where ``(s, t) =
    st(b x)``. The mask ``b`` (0/1, 1 = kept; broadcast to one sample's shape) is
    ``self.mask``; ``self._st(b * x)`` gives ``(s, t)``, each the shape of x and already 0
    where b = 1, so the kept coordinates pass unchanged."""

    def __init__(self, mask: torch.Tensor, st: nn.Module):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.get_default_dtype())
        if not ((mask == 0) | (mask == 1)).all() or mask.all() or not mask.any():
            raise InvalidArgument("a coupling mask holds 0s (moved) and 1s (kept), some of each")
        self.register_buffer("mask", mask.unsqueeze(0))
        self.st = st

    def _st(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.st(kept)
        moved = 1 - self.mask
        return s * moved, t * moved

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, logdet)``: y the shape of x (N x ...), and ``log |det dy/dx|`` per sample (N):
        the Jacobian is triangular, its diagonal exp(s) where b = 0 and 1 where b = 1."""
        ### BEGIN SOLUTION
        s, t = self._st(self.mask * x)
        y = x * torch.exp(s) + t
        return y, s.flatten(1).sum(1)
        ### END SOLUTION

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """The x with ``forward(x)[0] == y``: ``b y = b x``, so s and t are those of the forward."""
        ### BEGIN SOLUTION
        s, t = self._st(self.mask * y)
        return (y - t) * torch.exp(-s)
        ### END SOLUTION


def coupling_flow(dim: int, layers: int, hidden: int) -> Flow:
    """A flow on N x dim vectors: ``layers`` couplings, masks alternating halves, ``s, t``
    MLPs with two hidden layers of ``hidden`` units."""
    masks = flows.alternating_masks(dim, layers)
    return Flow([AffineCoupling(m, flows.MLP2(dim, hidden)) for m in masks], (dim,))


def conv_flow(height: int, width: int, layers: int, hidden: int) -> Flow:
    """A flow on N x 1 x height x width images: couplings with RealNVP's checkerboard and
    half-image masks, ``s, t`` small convnets of ``hidden`` channels."""
    masks = flows.image_masks(height, width, layers)
    return Flow([AffineCoupling(m, flows.ConvST(m, 1, hidden)) for m in masks], (1, height, width))


# -- the step -------------------------------------------------------------------------------


class FlowStep(Step):
    """Maximum likelihood: the loss is minus the mean log-likelihood of the batch's samples
    in the unit the lab reports (``score``: nats per point in 2-D, bits per dimension on
    MNIST). ``prepare`` turns a training batch into the flow's inputs with their log-Jacobian
    (new dequantisation noise at every step); evaluation batches are prepared once
    beforehand (fixed noise)."""

    def __init__(self, flow: Flow, optimizer: torch.optim.Optimizer, nll, prepare=None):
        self.flow, self.optimizer, self.nll, self.prepare = flow, optimizer, nll, prepare

    def _loss(self, x: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        return self.nll(self.flow.log_prob(x) + (0 if extra is None else extra)).mean()

    def __call__(self, batch):
        x, extra = self.prepare(batch[0]) if self.prepare else (batch[0], None)
        loss = self._loss(x, extra)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}

    def evaluate(self, batch):
        return {"loss": self._loss(batch[0], batch[1] if len(batch) > 1 else None)}


def _fit(step, train, test, ctx, epochs, batch_size, name):
    if not epochs:
        return []
    return fit(
        step,
        train,
        ctx,
        epochs=epochs,
        batch_size=batch_size,
        val=test,
        val_name="test",
        callbacks=standard_callbacks(ctx, name, checkpoints=False, curves=False, epoch_lines=False),
        name=name,
    )


def _inverse_error(flow: Flow, x: torch.Tensor) -> float:
    with torch.no_grad():
        z, _ = flow(x)
        return float((flow.inverse(z) - x).abs().max())


def _image_inverse_error(flow: Flow, y: torch.Tensor, alpha: float) -> float:
    """x -> z -> x for the whole MNIST model, measured on the images: u in (0, 1) -> logits
    ``y`` -> flow -> z -> inverse flow -> logits -> u."""
    with torch.no_grad():
        back = flow.inverse(flow(y)[0])
        return float((from_logit(back, alpha) - from_logit(y, alpha)).abs().max())


def _logdet_error(flow: Flow, x: torch.Tensor) -> float:
    """The largest |flow's log|det J| - autograd + slogdet's| over the rows of x, in float64."""
    f64 = copy.deepcopy(flow).double().cpu()
    x = x.double().cpu()
    with torch.no_grad():
        mine = f64(x)[1]
    return float((mine - brute_force_logdet(f64, x)).abs().max())


def window_of(x: torch.Tensor, rows_cols: tuple[int, int]) -> torch.Tensor:
    a, b = rows_cols
    return x[..., a:b, a:b].contiguous()


def window(flow: Flow, rows_cols: tuple[int, int]) -> Flow:
    """The same flow (same weights) on a square window of the image: every per-pixel buffer
    (masks, standardisation) cut to it. Convolutions take any size, so this is a flow on
    100 dimensions whose Jacobian autograd builds in a blink, with the MNIST flow's layers."""
    small = copy.deepcopy(flow)
    for module in small.modules():
        for name, buf in list(module.named_buffers(recurse=False)):
            if buf.dim() >= 3 and buf.shape[-2:] == (28, 28):
                setattr(module, name, window_of(buf, rows_cols))
    a, b = rows_cols
    small.shape = (*flow.shape[:-2], b - a, b - a)
    return small


def _gaussian_loglik(train: torch.Tensor, test: torch.Tensor) -> float:
    """Mean test log-likelihood (nats) of the Gaussian (mean, covariance) fitted to ``train``."""
    mean = train.mean(0)
    cov = torch.cov(train.T)
    return float(torch.distributions.MultivariateNormal(mean, cov).log_prob(test).mean())


# -- the lab --------------------------------------------------------------------------------


@lab(
    "realnvp",
    source="EE-559 9.4",
    summary="affine coupling flows (RealNVP) on two moons, a checkerboard and MNIST: exact log-det, exact inverse",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    train_seed, test_seed = toy.data_seeds(ctx.seed)
    sets = {
        "moons": (toy.moons(cfg.points, seed=train_seed)[0], toy.moons(cfg.points, seed=test_seed)[0]),
        "checkerboard": (checkerboard(cfg.points, train_seed), checkerboard(cfg.points, test_seed)),
    }
    metrics: dict = {}
    flows2d = {}
    for name, (train, test) in sets.items():
        flow = coupling_flow(2, cfg.layers, cfg.hidden)
        step = FlowStep(flow, torch.optim.Adam(flow.parameters(), lr=cfg.lr), nll=lambda lp: -lp)
        untrained = -evaluate(step, (test,), ctx)["loss"]
        history = _fit(step, (train,), (test,), ctx, cfg.epochs, cfg.batch_size, name)
        flow.cpu().eval()
        trained = -evaluate(step, (test,), ctx)["loss"]
        flow.cpu()
        flows2d[name] = flow
        metrics[f"{name}_loglik"] = trained
        metrics[f"{name}_loglik_untrained"] = untrained
        metrics[f"{name}_loglik_gaussian"] = _gaussian_loglik(train, test)
        metrics[f"{name}_curve"] = [-r["test_loss"] for r in history]
        metrics[f"{name}_logdet_error"] = _logdet_error(flow, test[:8])
        metrics[f"{name}_inverse_error"] = _inverse_error(flow, test)

    # -- MNIST ------------------------------------------------------------------------------
    train_px, _, test_px, _ = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, flatten=False, data_dir=ctx.data_dir
    )
    d = train_px[0].numel()
    g = torch.Generator().manual_seed(max(ctx.seed, 0) + 11)
    train_y, _ = to_logit(dequantize(train_px, g), cfg.alpha)
    test_y, test_ld = to_logit(dequantize(test_px, g), cfg.alpha)  # fixed noise for every evaluation
    shift, scale = train_y.mean(0), train_y.std(0)
    # the per-pixel Gaussian baseline: a pixel constant in training (the border) still gets a
    # spread of a tenth of the average pixel's, or one stray test pixel would cost thousands of nats
    scale = scale.clamp_min(0.1 * scale.mean())
    standardize = ElementwiseAffine(shift, scale)
    cflow = conv_flow(28, 28, cfg.mnist_layers, cfg.mnist_hidden)
    mflow = Flow([standardize, *cflow.layers], cflow.shape)
    baseline = Flow([standardize], cflow.shape)

    def bits_per_dim(loglik: torch.Tensor) -> torch.Tensor:  # loglik of the dequantised u in (0, 1)^D
        return -(loglik - d * math.log(256)) / (d * math.log(2))

    def prepare(px):
        return to_logit(dequantize(px), cfg.alpha)

    mstep = FlowStep(mflow, torch.optim.Adam(mflow.parameters(), lr=cfg.mnist_lr), nll=bits_per_dim, prepare=prepare)
    test_set = (test_y, test_ld)
    bpd_untrained = evaluate(mstep, test_set, ctx)["loss"]
    bpd_baseline = evaluate(FlowStep(baseline, None, nll=bits_per_dim), test_set, ctx)["loss"]
    mhistory = _fit(mstep, (train_px,), test_set, ctx, cfg.mnist_epochs, cfg.mnist_batch_size, "mnist")
    mflow.cpu().eval()
    bpd = evaluate(mstep, test_set, ctx)["loss"]
    mflow.cpu()
    metrics.update(
        mnist_bpd=bpd,
        mnist_bpd_untrained=bpd_untrained,
        mnist_bpd_baseline=bpd_baseline,
        mnist_curve=[r["test_loss"] for r in mhistory],
        mnist_logdet_error=_logdet_error(window(mflow, WINDOW), window_of(test_y[:4], WINDOW)),
        mnist_inverse_error=_image_inverse_error(mflow, test_y, cfg.alpha),
    )
    sample_g = torch.Generator().manual_seed(max(ctx.seed, 0) + 12)
    samples = {t: from_logit(mflow.sample(32, sample_g, temperature=t), cfg.alpha) for t in (1.0, 0.7)}
    baseline_samples = from_logit(baseline.sample(16, sample_g), cfg.alpha)

    # -- figures ----------------------------------------------------------------------------
    ctx.save_figure(_figure_2d(sets, flows2d, metrics), "densities_2d")
    ctx.save_figure(_figure_mnist(test_px[:16] / 255, samples, baseline_samples, metrics), "mnist_samples")
    ctx.save_figure(_figure_curves(metrics, cfg), "curves")

    metrics.update(
        mnist_epochs=len(mhistory),
        points=cfg.points,
        train_samples=len(train_px),
        test_samples=len(test_px),
    )
    metrics["epochs"] = len(metrics["moons_curve"])
    logdet_err = max(metrics[f"{k}_logdet_error"] for k in ("moons", "checkerboard", "mnist"))
    line = (
        f"test log-lik. moons {metrics['moons_loglik']:.2f} nats (untrained {metrics['moons_loglik_untrained']:.2f}, "
        f"Gaussian {metrics['moons_loglik_gaussian']:.2f}), checkerboard {metrics['checkerboard_loglik']:.2f} "
        f"(untrained {metrics['checkerboard_loglik_untrained']:.2f}, Gaussian "
        f"{metrics['checkerboard_loglik_gaussian']:.2f}); MNIST {bpd:.2f} bits/dim (untrained {bpd_untrained:.2f}, "
        f"per-pixel Gaussian {bpd_baseline:.2f}); log-det vs autograd {logdet_err:.1e}"
    )
    return Result(line, metrics=metrics)


def check(result: Result) -> list:
    m = result.metrics
    out = [
        verdict(
            "2-D flows: |log-det - autograd slogdet| (float64)",
            max(m["moons_logdet_error"], m["checkerboard_logdet_error"]),
            "<",
            LOGDET_TOL,
        ),
        verdict(
            "MNIST flow's layers on a 10x10 window: |log-det - autograd slogdet| (float64)",
            m["mnist_logdet_error"],
            "<",
            LOGDET_TOL,
        ),
        verdict(
            "inverse: max |x - f^-1(f(x))| (float32)",
            max(m["moons_inverse_error"], m["checkerboard_inverse_error"], m["mnist_inverse_error"]),
            "<",
            INVERSE_TOL,
        ),
    ]
    for name in ("moons", "checkerboard"):
        if m["epochs"]:
            out += [
                verdict(
                    f"{name}: test log-lik. above the untrained flow's",
                    m[f"{name}_loglik"],
                    ">",
                    m[f"{name}_loglik_untrained"],
                ),
                verdict(
                    f"{name}: test log-lik. above the fitted Gaussian's",
                    m[f"{name}_loglik"],
                    ">",
                    m[f"{name}_loglik_gaussian"],
                ),
            ]
        else:
            out.append(
                verdict(
                    f"{name}, untrained flow: test log-lik. below the fitted Gaussian's",
                    m[f"{name}_loglik"],
                    "<",
                    m[f"{name}_loglik_gaussian"],
                )
            )
    if m["mnist_epochs"]:
        out += [
            verdict("MNIST: test bits/dim below the untrained flow's", m["mnist_bpd"], "<", m["mnist_bpd_untrained"]),
            verdict(
                "MNIST: test bits/dim below the per-pixel Gaussian's", m["mnist_bpd"], "<", m["mnist_bpd_baseline"]
            ),
        ]
    return out


# -- pictures -------------------------------------------------------------------------------


def _figure_2d(sets, flows, m):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 8))
    for r, (name, (_, test)) in enumerate(sets.items()):
        flow = flows[name]
        lo, hi = test.min(0).values - 0.5, test.max(0).values + 0.5
        xs, ys = torch.linspace(float(lo[0]), float(hi[0]), 150), torch.linspace(float(lo[1]), float(hi[1]), 150)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
        with torch.no_grad():
            dens = flow.log_prob(grid).exp().reshape(150, 150)
            samples = flow.sample(len(test), torch.Generator().manual_seed(r))
        ext = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
        a0, a1, a2 = axes[r]
        a0.scatter(test[:, 0], test[:, 1], s=2, alpha=0.5, color="C0")
        a0.set_title(f"{name}: real test points")
        im = a1.imshow(dens.numpy(), origin="lower", extent=ext, aspect="auto", cmap="viridis")
        fig.colorbar(im, ax=a1, label="density p(x)")
        a1.set_title(
            f"learned density: test log-lik. {m[f'{name}_loglik']:.2f} nats\n"
            f"(untrained {m[f'{name}_loglik_untrained']:.2f}, Gaussian {m[f'{name}_loglik_gaussian']:.2f})",
            fontsize=10,
        )
        a2.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.5, color="C1")
        a2.set_title(f"{name}: samples f^-1(z), z ~ N(0, I)")
        for a in (a0, a1, a2):
            a.set_xlim(ext[0], ext[1])
            a.set_ylim(ext[2], ext[3])
            a.set_xlabel("x1")
            a.set_ylabel("x2")
    fig.suptitle("RealNVP on 2-D data: real points, the flow's density, its samples")
    fig.tight_layout()
    return fig


def _grid(imgs: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    imgs = imgs[: rows * cols].reshape(rows, cols, 28, 28)
    return imgs.permute(0, 2, 1, 3).reshape(28 * rows, 28 * cols)


def _figure_mnist(real, samples, baseline, m):
    import matplotlib.pyplot as plt

    panels = [
        ("real test digits", real, ""),
        ("flow samples, T = 1", samples[1.0][:16], f"{m['mnist_bpd']:.2f} bits/dim"),
        ("flow samples, T = 0.7\n(z scaled by 0.7)", samples[0.7][:16], ""),
        ("per-pixel Gaussian samples", baseline, f"{m['mnist_bpd_baseline']:.2f} bits/dim"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(13, 4))
    for ax, (title, imgs, sub) in zip(axes, panels):
        ax.imshow(_grid(imgs.cpu().float(), 4, 4).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(sub)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"MNIST: samples of a small RealNVP (test {m['mnist_bpd']:.2f} bits/dim, untrained "
        f"{m['mnist_bpd_untrained']:.2f}); at this budget they are blotchy, not digits"
    )
    fig.tight_layout()
    return fig


def _figure_curves(m, cfg):
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for k, name in enumerate(("moons", "checkerboard")):
        curve = m[f"{name}_curve"]
        a1.plot(range(len(curve) + 1), [m[f"{name}_loglik_untrained"], *curve], color=f"C{k}", label=f"{name}: flow")
        a1.axhline(m[f"{name}_loglik_gaussian"], color=f"C{k}", ls="--", label=f"{name}: fitted Gaussian")
    a1.axhline(-math.log(8), color="C1", ls=":", label="checkerboard: true density, log(1/8)")
    a1.set_xlabel("epoch (0: untrained)")
    a1.set_ylabel("test log-likelihood (nats per point)")
    a1.set_title("2-D: higher is better")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    curve = m["mnist_curve"]
    a2.plot(range(len(curve) + 1), [m["mnist_bpd_untrained"], *curve], "o-", ms=3, label="RealNVP flow")
    a2.axhline(m["mnist_bpd_baseline"], color="C3", ls="--", label="per-pixel Gaussian")
    top = min(m["mnist_bpd_untrained"], 1.6 * m["mnist_bpd_baseline"])
    a2.set_ylim(0.9 * min([*curve, m["mnist_bpd_baseline"]]), 1.05 * top)
    a2.set_xlabel("epoch (0: untrained)")
    a2.set_ylabel("test bits per dimension")
    a2.set_title(f"MNIST: lower is better (untrained flow: {m['mnist_bpd_untrained']:.2f})")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# -- exercises (`dlc exercise realnvp`, then `dlc check realnvp`) ------------------------------


def _coupling_cases(g: torch.Generator) -> list[tuple]:
    return [(torch.randn(n, 4, generator=g, dtype=torch.float64) * 2,) for n in (5, 1, 3)]


TASKS = [
    Task(
        "AffineCoupling",
        hint="forward: (s, t) from the kept part (self._st(self.mask * x)), scale by exp(s) and shift by t; the "
        "log-det is s summed per sample. inverse: y's kept part is x's, so the same (s, t) undo it",
        cases=_coupling_cases,
        build=lambda cls: cls(torch.tensor([1.0, 0.0, 0.0, 1.0]), flows.MLP2(4, 8)),
        call=lambda layer, x: (*layer(x), layer.inverse(x)),
        grad=True,
    ),
    Task(
        "to_logit",
        hint="y = log s - log(1 - s) with s = alpha + (1 - 2 alpha) u; differentiate it with respect to u (the "
        "chain rule through s) and sum log |dy/du| over each image's values",
        cases=lambda g: [
            (torch.rand(3, 1, 4, 4, generator=g, dtype=torch.float64), 0.05),
            (torch.rand(2, 5, generator=g, dtype=torch.float64), 0.2),
            (torch.rand(1, 1, 2, 3, generator=g, dtype=torch.float64) * 0.98 + 0.01, 0.0),
        ],
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
