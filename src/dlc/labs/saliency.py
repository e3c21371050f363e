"""Saliency maps (EE-559 8.3): which pixels does a trained convnet's decision depend on?

Three maps of a trained MNIST convnet (the first lecture's) for each test digit, for the
class it predicts:

- **gradient** (Simonyan et al. 2013): ``|d score / d pixel|``, one backward pass; noisy,
  since the gradient of a ReLU network jumps from pixel to pixel;
- **SmoothGrad** (Smilkov et al. 2017): the gradient averaged over ``samples`` copies of
  the image with Gaussian noise (std ``noise`` times the image's range), then ``|.|``;
- **occlusion** (Zeiler and Fergus 2014): slide a ``patch`` x ``patch`` black square over
  the image; a pixel's value is the mean drop of the class probability over the squares
  that cover it (squares every ``stride`` pixels). No gradient: only forward passes.

A map is only as good as what it predicts, so it is *tested* (the deletion test, Petsiuk et
al. 2018): delete pixels (set them to black, MNIST's background) in the map's order, most
salient first, and follow the class probability; the faster it falls, the better the map
found what the decision rests on. The area under that curve (mean probability over the
fractions deleted, 0 to ``max_deleted``) is compared with deleting pixels in a random
order, on the same images in the same run.

Check: the network learns (test error below half the untrained one's); each map's area
under the deletion curve is below 0.8 times the random order's. ``--epochs 0``: the
untrained network, whose test error the check says is near chance (the maps are drawn).
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
    n_images: int = 100  # test digits whose maps are computed and deletion-tested (at least 1)
    samples: int = 25  # SmoothGrad: noisy copies per image (at least 1)
    noise: float = 0.15  # SmoothGrad: noise std, as a fraction of the image's value range (Smilkov's 10-20%)
    patch: int = 6  # occlusion: side of the black square, in pixels (1 to 28)
    stride: int = 2  # occlusion: the square moves by this many pixels (at least 1)
    max_deleted: float = 0.3  # deletion test: the largest fraction of the pixels deleted (0 to 1]
    steps: int = 15  # deletion test: points of each curve (at least 2)
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    TINY = {"n_images": 30}
    THREADS = 1

    def __post_init__(self):
        for name, least in (("n_images", 1), ("samples", 1), ("steps", 2), ("patch", 1), ("stride", 1)):
            if getattr(self, name) < least:
                raise UsageError(f"--{name} must be at least {least}, got {getattr(self, name)}")
        if self.patch > 28:
            raise UsageError(f"--patch must be at most 28 (the image's side), got {self.patch}")
        if not 0 < self.max_deleted <= 1:
            raise UsageError(f"--max_deleted must be a fraction in (0, 1], got {self.max_deleted}")
        if self.noise < 0:
            raise UsageError(f"--noise must be >= 0, got {self.noise}")


def class_scores(model, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """The logit of each image's class."""
    return model(x).gather(1, classes[:, None])[:, 0]


def gradient_map(model, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``|d logit_class / d x|`` per pixel: for images ``x`` (N x 1 x 28 x 28) and one class
    per image (``classes``, N), the absolute gradient of each image's class logit
    (:func:`class_scores`) with respect to its pixels, as N x 28 x 28."""
    ### BEGIN SOLUTION
    x = x.detach().clone().requires_grad_()
    (grad,) = torch.autograd.grad(class_scores(model, x, classes).sum(), x)
    return grad.abs()[:, 0]
    ### END SOLUTION


def smoothgrad_map(model, x, classes, samples: int, noise: float, generator=None) -> torch.Tensor:
    """The gradient of the class logit averaged over ``samples`` noisy copies of each image,
    then its absolute value (N x 28 x 28, like :func:`gradient_map`). The noise of an
    image has std ``noise`` times that image's value range (max - min); draw it as
    ``torch.randn(x.shape, generator=generator)``, one draw per copy, in turn."""
    sigma = noise * (x.amax((1, 2, 3)) - x.amin((1, 2, 3))).view(-1, 1, 1, 1)
    total = torch.zeros_like(x)
    ### BEGIN SOLUTION
    for _ in range(samples):
        noisy = (x + sigma * torch.randn(x.shape, generator=generator).to(x.device)).requires_grad_()
        (grad,) = torch.autograd.grad(class_scores(model, noisy, classes).sum(), noisy)
        total += grad
    ### END SOLUTION
    return (total / samples).abs()[:, 0]


@torch.no_grad()
def occlusion_map(model, x, classes, patch: int, black: float, stride: int = 1) -> torch.Tensor:
    """Per pixel, the mean drop of the class probability when a black ``patch`` square
    covering it replaces the image there (squares at every ``stride`` position, top-left
    corners at rows and columns 0, stride, 2 stride, ... as long as the square fits):
    N x H x W for images N x 1 x H x W; 0 where no square covers a pixel."""
    n, _, h, w = x.shape
    drop = torch.zeros(n, h, w, dtype=x.dtype, device=x.device)  # summed drops, per pixel
    count = torch.zeros(h, w, dtype=x.dtype, device=x.device)  # squares covering each pixel
    ### BEGIN SOLUTION
    base = F.softmax(model(x), 1).gather(1, classes[:, None])[:, 0]
    for i in range(0, h - patch + 1, stride):
        for j in range(0, w - patch + 1, stride):
            occluded = x.clone()
            occluded[:, :, i : i + patch, j : j + patch] = black
            p = F.softmax(model(occluded), 1).gather(1, classes[:, None])[:, 0]
            drop[:, i : i + patch, j : j + patch] += (base - p)[:, None, None]
            count[i : i + patch, j : j + patch] += 1
    ### END SOLUTION
    return drop / count.clamp_min(1)


@torch.no_grad()
def deletion_curve(model, x, classes, order: torch.Tensor, fractions: list[float], black: float) -> torch.Tensor:
    """The mean class probability after deleting (setting to ``black``) the first
    ``fraction`` of each image's pixels in ``order`` (N x 784 pixel indices)."""
    n = len(x)
    flat = x.reshape(n, -1)
    out = []
    for f in fractions:
        k = round(f * flat.shape[1])
        deleted = flat.clone()
        if k:
            deleted.scatter_(1, order[:, :k], black)
        out.append(F.softmax(model(deleted.view_as(x)), 1).gather(1, classes[:, None])[:, 0].mean())
    return torch.stack(out).cpu()


def maps_figure(images, maps: dict[str, torch.Tensor], titles: list[str]):
    import matplotlib.pyplot as plt

    from dlc import viz  # noqa: F401  (the Agg backend)

    rows, cols = len(images), 1 + len(maps)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.5), squeeze=False)
    for r in range(rows):
        axes[r, 0].imshow(images[r, 0].cpu(), cmap="gray")
        axes[r, 0].set_ylabel(titles[r], fontsize=8)
        for c, (name, m) in enumerate(maps.items(), 1):
            axes[r, c].imshow(m[r].cpu(), cmap="hot")
            if r == 0:
                axes[r, c].set_title(name, fontsize=9)
    axes[0, 0].set_title("input", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("saliency maps of the trained convnet's predicted class (bright = salient)")
    return fig


def deletion_figure(fractions, curves: dict[str, torch.Tensor], aucs: dict[str, float]):
    import matplotlib.pyplot as plt

    from dlc import viz  # noqa: F401

    fig, ax = plt.subplots(figsize=(6, 4))
    styles = {"random order": ("k", "--")}
    for name, c in curves.items():
        colour, ls = styles.get(name, (None, "-"))
        ax.plot([100 * f for f in fractions], c.numpy(), ls, color=colour, marker="o", markersize=3,
                label=f"{name} (area {aucs[name]:.3f})")  # fmt: skip
    ax.set_xlabel("pixels deleted (set to black), most salient first (%)")
    ax.set_ylabel("mean probability of the predicted class")
    ax.set_title("deletion test: the faster the fall, the better the map")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


@lab(
    "saliency",
    source="EE-559 8.3",
    summary="gradient, SmoothGrad and occlusion maps of the MNIST convnet; a deletion test against random order",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    net = train_mnist_convnet(
        ctx, train_size=cfg.train_size, test_size=cfg.test_size, epochs=cfg.epochs, lr=cfg.lr,
        batch_size=cfg.batch_size,
    )  # fmt: skip
    model = net.model.eval()
    for p in model.parameters():
        p.requires_grad_(False)  # gradients with respect to the input only
    x = net.test_input[: cfg.n_images]
    with torch.no_grad():
        classes = model(x).argmax(1)
    g = torch.Generator().manual_seed(max(ctx.seed, 0))
    maps = {
        "gradient": gradient_map(model, x, classes),
        "SmoothGrad": smoothgrad_map(model, x, classes, cfg.samples, cfg.noise, g),
        "occlusion": occlusion_map(model, x, classes, cfg.patch, net.black, cfg.stride),
    }
    show = list(range(min(6, len(x))))
    titles = [f"true {int(net.test_target[i])}, net {int(classes[i])}" for i in show]
    ctx.save_figure(maps_figure(x[show], {k: v[show] for k, v in maps.items()}, titles), "maps")

    fractions = [cfg.max_deleted * i / (cfg.steps - 1) for i in range(cfg.steps)]
    orders = {name: m.reshape(len(x), -1).argsort(1, descending=True) for name, m in maps.items()}
    orders["random order"] = torch.stack([torch.randperm(28 * 28, generator=g) for _ in range(len(x))]).to(x.device)
    curves = {name: deletion_curve(model, x, classes, o, fractions, net.black) for name, o in orders.items()}
    aucs = {name: float(c.mean()) for name, c in curves.items()}
    ctx.save_figure(deletion_figure(fractions, curves, aucs), "deletion")

    line = (
        f"area under the deletion curve (0-{cfg.max_deleted:.0%} of the pixels, {len(x)} digits): gradient "
        f"{aucs['gradient']:.3f}, SmoothGrad {aucs['SmoothGrad']:.3f}, occlusion {aucs['occlusion']:.3f}, "
        f"random order {aucs['random order']:.3f}; test error {net.test_error:.1%}"
    )
    return Result(
        line,
        metrics={
            "epochs": cfg.epochs,
            "auc_gradient": aucs["gradient"],
            "auc_smoothgrad": aucs["SmoothGrad"],
            "auc_occlusion": aucs["occlusion"],
            "auc_random": aucs["random order"],
            "curves": {k: c.tolist() for k, c in curves.items()},
            "fractions": fractions,
            "test_error": net.test_error,
            "untrained_test_error": net.untrained_test_error,
            "n_images": len(x),
        },
    )


def check(result: Result) -> list:
    m = result.metrics
    if m["epochs"] == 0:
        return [verdict("untrained network's test error, near chance (90%)", m["test_error"], ">", 0.45)]
    return [
        verdict("test error below half the untrained net's", m["test_error"], "<", 0.5 * m["untrained_test_error"])
    ] + [
        verdict(f"deletion area, {name} order below 0.8 x random order's", m[f"auc_{key}"], "<", 0.8 * m["auc_random"])
        for name, key in (("gradient", "gradient"), ("SmoothGrad", "smoothgrad"), ("occlusion", "occlusion"))
    ]


# -- exercises (`dlc exercise saliency`, then `dlc check saliency`) ----------------------------


def _images(g: torch.Generator) -> list[tuple]:
    """Digit-like images (normalised as the lab's) and a class each, float64."""
    out = []
    for n in (3, 1):
        x = torch.rand(n, 1, 28, 28, generator=g, dtype=torch.float64) * (torch.rand(n, 1, 28, 28, generator=g) > 0.8)
        out.append(((x - 0.13) / 0.31, torch.randint(0, 10, (n,), generator=g)))
    return out


def _convnet():
    """The lab's network, untrained (seeded the same for both): float64."""
    from dlc.models.convnets import LectureConvNet

    return LectureConvNet().double()


TASKS = [
    Task(
        "gradient_map",
        hint="make x a leaf that requires grad, take torch.autograd.grad of the summed class logits (each image's "
        "own class) with respect to it, and keep its absolute value per pixel",
        cases=_images,
        call=lambda f, x, classes: f(_convnet(), x, classes),
    ),
    Task(
        "smoothgrad_map",
        hint="for each of the samples copies: add sigma times fresh Gaussian noise to x, take the gradient of the "
        "summed class logits with respect to the noisy copy, and add it to total",
        cases=lambda g: [(x, c, samples, 0.2) for (x, c), samples in zip(_images(g), (4, 1))],
        call=lambda f, x, classes, samples, noise: f(_convnet(), x, classes, samples, noise),
    ),
    Task(
        "occlusion_map",
        hint="the class probability of the intact images first; then for each square position, black it out, "
        "and add the drop of the probability to every pixel the square covers (count them, to average)",
        cases=lambda g: [(x, c, patch, stride) for (x, c), (patch, stride) in zip(_images(g), ((6, 4), (9, 5)))],
        call=lambda f, x, classes, patch, stride: f(_convnet(), x, classes, patch, -0.42, stride),
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
