"""Optimizing inputs (EE-559 8.4): the gradient with respect to the *input* of a trained
network, used to fool it, to draw what it looks for, and to exaggerate what it sees.

The first lecture's MNIST convnet is trained for a few epochs; pixels are in 0..1.

- **Adversarial examples**, FGSM (Goodfellow et al. 2015): ``x + eps sign(grad_x loss)``, one
  step that raises the loss as much as an L-infinity budget ``eps`` allows; PGD (Madry et al.
  2018): ``pgd_steps`` smaller steps, each projected back into the ``eps`` box. Baseline:
  random signs of the same size ``eps``, i.e. noise exactly as large, in no chosen direction.
- **Class visualisation** (Simonyan et al. 2013): from a grey image, gradient ascent on a
  class's logit minus ``l2`` times the squared distance to grey, pixels kept in 0..1.
- **Deep dream** (Mordvintsev et al. 2015): from a digit, gradient ascent on the squared
  norm of the second convolution's (ReLU) activations, with normalised steps.

Check, measured in the same run: at ``epsilon`` (0.2 of the pixel range: the digits stay
plainly legible; this briefly trained network is fooled less at 0.1) FGSM leaves under half
the clean accuracy while random signs of the same size keep over 90% of it, and PGD is no
better for the network than FGSM; each class visualisation is given its class with a mean
probability above 0.9; deep dream raises the layer's activation norm (by over 20%; pixels
kept in 0..1 limit it). ``--epochs 0``: the untrained network, whose test error the check
says is near chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.trained import train_mnist_convnet


@dataclass
class Config:
    epochs: int = 5  # epochs of SGD on MNIST (0: the untrained network)
    lr: float = 0.1  # SGD step size (the lecture's 0.1)
    batch_size: int = 20  # images per SGD step
    epsilon: float = 0.2  # the "small" L-infinity budget the check looks at (pixels are in 0..1)
    max_epsilon: float = 0.3  # the accuracy-vs-epsilon curve goes from 0 to this (at most 1)
    pgd_steps: int = 10  # PGD: steps of size 2.5 eps / steps, each projected into the eps box (at least 1)
    ascent_steps: int = 200  # class visualisation and deep dream: gradient-ascent steps (at least 1)
    ascent_lr: float = 0.05  # their step size (Adam for the classes, normalised steps for the dream)
    l2: float = 0.05  # class visualisation: weight of the squared distance to the grey start
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    attack_size: int = 300  # test images attacked at each epsilon (the first ones; PGD is the slow part)
    TINY = {"ascent_steps": 100}
    THREADS = 1

    def __post_init__(self):
        if not 0 < self.epsilon <= self.max_epsilon <= 1:
            raise UsageError(
                f"--epsilon and --max_epsilon must satisfy 0 < epsilon <= max_epsilon <= 1, "
                f"got {self.epsilon} and {self.max_epsilon}"
            )
        for name in ("pgd_steps", "ascent_steps", "attack_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.l2 < 0:
            raise UsageError(f"--l2 must be >= 0, got {self.l2}")


def fgsm(model, to_input, pixels, targets, eps: float) -> torch.Tensor:
    """One signed-gradient step of size ``eps`` on the loss, in pixel space: ``pixels`` (N x 1 x
    28 x 28, in 0..1) moved by ``eps`` along the sign of the gradient of the cross-entropy of
    ``model(to_input(pixels))`` against ``targets`` (N), clamped to 0..1; same shape, no graph."""
    ### BEGIN SOLUTION
    p = pixels.detach().clone().requires_grad_()
    (grad,) = torch.autograd.grad(F.cross_entropy(model(to_input(p)), targets), p)
    return (pixels + eps * grad.sign()).clamp(0, 1).detach()
    ### END SOLUTION


def pgd(model, to_input, pixels, targets, eps: float, steps: int) -> torch.Tensor:
    """Projected gradient ascent on the loss in the L-infinity ball of radius ``eps``: from
    ``pixels``, ``steps`` signed-gradient steps of size ``alpha = 2.5 eps / steps`` (as in
    :func:`fgsm`), each followed by the projection back into the box ``|p - pixels| <= eps``
    and into 0..1. Returns the last p (the shape of pixels, no graph)."""
    alpha = 2.5 * eps / steps
    p = pixels.detach().clone()
    for _ in range(steps):
        ### BEGIN SOLUTION
        p.requires_grad_()
        (grad,) = torch.autograd.grad(F.cross_entropy(model(to_input(p)), targets), p)
        p = p.detach() + alpha * grad.sign()
        p = torch.min(torch.max(p, pixels - eps), pixels + eps).clamp(0, 1)
        ### END SOLUTION
    return p.detach()


def random_signs(pixels, eps: float, generator) -> torch.Tensor:
    signs = torch.randint(0, 2, pixels.shape, generator=generator).to(pixels) * 2 - 1
    return (pixels + eps * signs).clamp(0, 1)


@torch.no_grad()
def accuracy(model, x, targets) -> float:
    return float((model(x).argmax(1) == targets).float().mean())


def class_visualisations(model, to_input, classes: int, steps: int, lr: float, l2: float) -> torch.Tensor:
    """One image per class (classes x 1 x 28 x 28 pixels in 0..1) by gradient ascent on its
    logit: image c starts grey (0.5) and ``steps`` Adam steps raise the objective, logit c of
    ``model(to_input(p))`` summed over the images minus ``l2`` times the squared distance of
    p to grey; after each step the pixels are clamped back into 0..1."""
    grey = torch.full((classes, 1, 28, 28), 0.5)
    p = grey.clone().requires_grad_()
    opt = torch.optim.Adam([p], lr=lr)  # it minimises: give it minus the objective
    idx = torch.arange(classes)
    for _ in range(steps):
        ### BEGIN SOLUTION
        logits = model(to_input(p))
        objective = logits[idx, idx].sum() - l2 * (p - grey).pow(2).sum()
        opt.zero_grad()
        (-objective).backward()
        opt.step()
        with torch.no_grad():
            p.clamp_(0, 1)
        ### END SOLUTION
    return p.detach()


def deep_dream(model, to_input, pixels, steps: int, lr: float) -> tuple[torch.Tensor, float, float]:
    """Ascent on |relu(conv2)|^2 from ``pixels``; returns the dreamed pixels and the layer's
    activation norm before and after."""
    seen = {}
    handle = model.conv2.register_forward_hook(lambda m, i, o: seen.__setitem__("a", o))
    try:
        p = pixels.detach().clone()
        norms = []
        for _ in range(steps + 1):
            p.requires_grad_()
            model(to_input(p))
            energy = seen["a"].relu().pow(2).sum()
            norms.append(float(energy.detach().sqrt()))
            (grad,) = torch.autograd.grad(energy, p)
            p = (p.detach() + lr * grad / grad.abs().mean().clamp_min(1e-12)).clamp(0, 1)
    finally:
        handle.remove()
    return p[: len(pixels)].detach(), norms[0], norms[-1]


def _plt():
    import matplotlib.pyplot as plt

    from dlc import viz  # noqa: F401  (the Agg backend)

    return plt


def accuracy_figure(epsilons, curves: dict[str, list[float]], eps: float):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    styles = {"FGSM": ("C3", "-"), "PGD": ("C4", "-"), "random signs": ("k", "--")}
    for name, acc in curves.items():
        colour, ls = styles.get(name.split(" (")[0], (None, "-"))
        ax.plot(epsilons, [100 * a for a in acc], ls, color=colour, marker="o", markersize=3, label=name)
    ax.axvline(eps, color="gray", linewidth=1, linestyle=":")
    ax.annotate(f"epsilon {eps:g}", (eps, 0.5), xycoords=("data", "axes fraction"), rotation=90,
                ha="right", va="center", fontsize=8)  # fmt: skip
    ax.set_xlabel("epsilon: largest change of any pixel (pixel range 0..1)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("adversarial perturbations vs random noise of the same size")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def examples_figure(clean, adversarial, clean_pred, adv_pred, eps: float):
    plt = _plt()
    n = len(clean)
    fig, axes = plt.subplots(3, n, figsize=(1.3 * n, 4.6))
    for i in range(n):
        axes[0, i].imshow(clean[i, 0].cpu(), cmap="gray", vmin=0, vmax=1)
        axes[0, i].set_title(f"net: {clean_pred[i]}", fontsize=8)
        axes[1, i].imshow(adversarial[i, 0].cpu(), cmap="gray", vmin=0, vmax=1)
        axes[1, i].set_title(f"net: {adv_pred[i]}", fontsize=8, color="C3" if adv_pred[i] != clean_pred[i] else "k")
        axes[2, i].imshow((adversarial[i, 0] - clean[i, 0]).cpu(), cmap="RdBu_r", vmin=-eps, vmax=eps)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("clean", fontsize=9)
    axes[1, 0].set_ylabel(f"FGSM {eps:g}", fontsize=9)
    axes[2, 0].set_ylabel("difference", fontsize=9)
    fig.suptitle(f"FGSM at epsilon {eps:g}: the digits stay readable, the network's answers change (red)")
    return fig


def row_figure(rows: dict[str, torch.Tensor], labels: dict[str, list[str]], title: str):
    plt = _plt()
    n = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.5 * len(rows) + 0.5), squeeze=False)
    for r, (name, imgs) in enumerate(rows.items()):
        for i in range(n):
            ax = axes[r, i]
            ax.set_xticks([])
            ax.set_yticks([])
            if i < len(imgs):
                ax.imshow(imgs[i, 0].cpu(), cmap="gray", vmin=0, vmax=1)
                ax.set_title(labels[name][i], fontsize=8)
        axes[r, 0].set_ylabel(name, fontsize=9)
    fig.suptitle(title)
    return fig


@lab(
    "optimizing-inputs",
    source="EE-559 8.4",
    summary="FGSM and PGD adversarial examples vs random noise, class visualisation, deep dream on the MNIST convnet",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    net = train_mnist_convnet(
        ctx, train_size=cfg.train_size, test_size=cfg.test_size, epochs=cfg.epochs, lr=cfg.lr,
        batch_size=cfg.batch_size,
    )  # fmt: skip
    model = net.model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    to_input = net.from_pixels
    pixels, targets = net.to_pixels(net.test_input)[: cfg.attack_size], net.test_target[: cfg.attack_size]
    g = torch.Generator().manual_seed(max(ctx.seed, 0))

    # 1. adversarial examples: accuracy against epsilon
    n_points = 7
    epsilons = sorted({round(cfg.max_epsilon * i / (n_points - 1), 6) for i in range(n_points)} | {cfg.epsilon})
    curves = {"FGSM": [], f"PGD ({cfg.pgd_steps} steps)": [], "random signs": []}
    for eps in epsilons:
        attacks = (
            fgsm(model, to_input, pixels, targets, eps),
            pgd(model, to_input, pixels, targets, eps, cfg.pgd_steps),
            random_signs(pixels, eps, g),
        )
        for name, adv in zip(curves, attacks):
            curves[name].append(accuracy(model, to_input(adv), targets))
    at = epsilons.index(cfg.epsilon)
    clean = curves["FGSM"][0]
    fgsm_acc, pgd_acc, noise_acc = (c[at] for c in curves.values())
    ctx.save_figure(accuracy_figure(epsilons, curves, cfg.epsilon), "accuracy_vs_epsilon")

    show = slice(0, 8)
    adv = fgsm(model, to_input, pixels[show], targets[show], cfg.epsilon)
    with torch.no_grad():
        clean_pred = model(to_input(pixels[show])).argmax(1).tolist()
        adv_pred = model(to_input(adv)).argmax(1).tolist()
    ctx.save_figure(examples_figure(pixels[show], adv, clean_pred, adv_pred, cfg.epsilon), "adversarial_examples")

    # 2. class visualisation
    visuals = class_visualisations(model, to_input, 10, cfg.ascent_steps, cfg.ascent_lr, cfg.l2)
    with torch.no_grad():
        probs = F.softmax(model(to_input(visuals)), 1)
    own = probs.diagonal()
    ctx.save_figure(
        row_figure({"ascent": visuals}, {"ascent": [f"{c}: p={own[c]:.2f}" for c in range(10)]},
                   "class visualisation: the input that maximises each class's score (from grey)"),
        "class_visualisation",
    )  # fmt: skip

    # 3. deep dream on a few digits
    start = pixels[:6]
    dreamed, norm_before, norm_after = deep_dream(model, to_input, start, cfg.ascent_steps // 4, cfg.ascent_lr)
    ctx.save_figure(
        row_figure({"digit": start, "dreamed": dreamed},
                   {"digit": [f"test #{i}" for i in range(len(start))], "dreamed": [""] * len(start)},
                   f"deep dream: ascent on conv2's activations (norm x{norm_after / norm_before:.1f})"),
        "deep_dream",
    )  # fmt: skip

    line = (
        f"accuracy at epsilon {cfg.epsilon:g}: FGSM {fgsm_acc:.1%}, PGD {pgd_acc:.1%}, random signs {noise_acc:.1%} "
        f"(clean {clean:.1%}); class visualisations' own-class probability {own.mean():.2f}; deep dream raises "
        f"conv2's norm x{norm_after / norm_before:.1f}"
    )
    return Result(
        line,
        metrics={
            "epochs": cfg.epochs,
            "epsilons": epsilons,
            "accuracy": curves,
            "clean_accuracy": clean,
            "fgsm_accuracy": fgsm_acc,
            "pgd_accuracy": pgd_acc,
            "noise_accuracy": noise_acc,
            "visualisation_probability": float(own.mean()),
            "visualisation_classes_right": int((probs.argmax(1) == torch.arange(10)).sum()),
            "dream_norm_ratio": norm_after / norm_before,
            "test_error": net.test_error,
            "untrained_test_error": net.untrained_test_error,
            "n_attacked": len(targets),
        },
    )


def check(result: Result) -> list:
    m = result.metrics
    if m["epochs"] == 0:
        return [verdict("untrained network's test error, near chance (90%)", m["test_error"], ">", 0.45)]
    return [
        verdict("FGSM accuracy at epsilon, below half the clean accuracy", m["fgsm_accuracy"], "<",
                0.5 * m["clean_accuracy"]),
        verdict("random-sign accuracy at epsilon, above 90% of the clean accuracy", m["noise_accuracy"], ">",
                0.9 * m["clean_accuracy"]),
        verdict("PGD accuracy at epsilon, at most FGSM's", m["pgd_accuracy"], "<=", m["fgsm_accuracy"]),
        verdict("class visualisations: mean probability of their class", m["visualisation_probability"], ">", 0.9),
        verdict("deep dream: conv2 activation norm, after / before", m["dream_norm_ratio"], ">", 1.2),
    ]  # fmt: skip


# -- exercises (`dlc exercise optimizing-inputs`, then `dlc check optimizing-inputs`) ----------


def _convnet(dtype=torch.float64):
    """The lab's network, untrained (seeded the same for both)."""
    from dlc.models.convnets import LectureConvNet

    return LectureConvNet().to(dtype)


def _to_input(p: torch.Tensor) -> torch.Tensor:
    return (p - 0.13) / 0.31  # pixels 0..1 -> the network's normalised input


def _attacked(g: torch.Generator) -> list[tuple]:
    """Digit-like pixels in 0..1 and targets, float64, with an epsilon each."""
    out = []
    for n, eps in ((3, 0.2), (1, 0.05)):
        x = torch.rand(n, 1, 28, 28, generator=g, dtype=torch.float64) * (torch.rand(n, 1, 28, 28, generator=g) > 0.8)
        out.append((x, torch.randint(0, 10, (n,), generator=g), eps))
    return out


TASKS = [
    Task(
        "fgsm",
        hint="take the gradient of the cross-entropy with respect to the pixels (a copy that requires grad), "
        "step eps along its sign, clamp to 0..1",
        cases=_attacked,
        call=lambda f, x, y, eps: f(_convnet(), _to_input, x, y, eps),
    ),
    Task(
        "pgd",
        hint="each step: the gradient of the loss at the current p, a step of alpha along its sign, then clip p "
        "into [pixels - eps, pixels + eps] and into 0..1",
        cases=lambda g: [(x, y, eps, steps) for (x, y, eps), steps in zip(_attacked(g), (3, 1))],
        call=lambda f, x, y, eps, steps: f(_convnet(), _to_input, x, y, eps, steps),
    ),
    Task(
        "class_visualisations",
        hint="each step: the logits of the current images, the objective (image c's logit c, summed, minus l2 "
        "times the squared distance to grey), an Adam step on minus it, then clamp the pixels in place to 0..1",
        cases=lambda g: [(3, 4, 0.05, 0.05), (10, 2, 0.1, 0.0)],
        call=lambda f, classes, steps, lr, l2: f(_convnet(torch.float32), _to_input, classes, steps, lr, l2),
        rtol=1e-4,
        atol=1e-6,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
