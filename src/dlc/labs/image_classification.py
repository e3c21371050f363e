"""Image classification (EE-559 7.2): LeNet on MNIST, then AlexNet-, VGG- and ResNet-style
networks on CIFAR-10, side by side: parameters, speed and test accuracy.

The lecture's tour of classifiers, from LeNet-5 (digits) to AlexNet (big kernels,
overlapping pooling, dropout), VGG (only 3x3 convolutions, in stages, here with batch
norm) and ResNet (residual blocks), each in a small form (:class:`LeNet5` written here, the
others from :mod:`dlc.models.classic` and :class:`dlc.models.cifar.ResNet18` at a small
width) trained the same way (Adam, batches of 32, a few epochs on a subset) so that the
table compares the architectures: their parameter counts, their training speed in samples
per second on this machine, and their test accuracy.

``--full`` trains the compact residual network of the fast CIFAR-10 benchmarks
(:class:`dlc.models.classic.ResNet9`, widths 32-64-128-256) on all 50,000 images with
what the lectures teach: batch norm and residual connections, data augmentation (random
flips and 4-pixel translations), label smoothing, SGD with Nesterov momentum and weight
decay, and a one-cycle learning-rate schedule, for 10 epochs; its check asks for 90% test
accuracy (``--target``). Its cost is about 0.57 GFLOP per training image. Measured (seed
0, one thread of the 2-core x86 development machine, the other core busy): **91.0%** on
the 10,000 test images after 10 epochs, in 61 min of training at about 150 images/s
(62 min for the whole process, testing after each epoch included); the test accuracy
climbs from 85.1% to 89.9% to 91.0% over the last three epochs, as the rate anneals. On
a GPU, minutes.

Check, in the same run: every network's test accuracy is above 1.5x chance (10%) and at
least 5 points above its own before training; with ``--target`` (``--full``: 0.9), the
best network reaches it. ``--epochs 0`` trains nothing: the check then says each
untrained network is near chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlc import data, prologue
from dlc.data.augment import flip_crop
from dlc.engine import LRSchedule, Supervised, evaluate, fit, standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.cifar import ResNet18
from dlc.models.classic import ResNet9, SmallAlexNet, SmallVGG, parameter_count
from dlc.options import parse_list

# name -> (data set, what the table calls it)
MODELS = {
    "lenet": ("mnist", "LeNet-5"),
    "alexnet": ("cifar10", "AlexNet-style"),
    "vgg": ("cifar10", "VGG-style (BN)"),
    "resnet18": ("cifar10", "ResNet-18"),
    "resnet9": ("cifar10", "ResNet-9"),
}


@dataclass
class Config:
    models: str = "lenet,alexnet,vgg,resnet18"  # the networks to compare, comma-separated:
    # lenet (MNIST), alexnet, vgg, resnet18, resnet9 (CIFAR-10)
    epochs: int = 2  # passes over the training images, per network; 0: the untrained networks
    batch_size: int = 32  # images per step
    optimizer: str = "adam"  # adam, or sgd (with Nesterov momentum)
    lr: float = 1e-3  # learning rate (the peak of the one-cycle schedule)
    momentum: float = 0.9  # SGD's momentum (sgd only)
    weight_decay: float = 0.0  # L2 weight decay of the optimizer
    schedule: str = "constant"  # learning-rate schedule: constant, one-cycle or cosine
    augment: bool = False  # random flips and 4-pixel translations of the CIFAR-10 training images
    label_smoothing: float = 0.0  # cross-entropy against targets smoothed by this much
    dropout: float = 0.0  # AlexNet-style's dropout before its hidden fully connected layers (AlexNet: 0.5;
    # it slows the first epochs, too much for a short run on a small subset)
    width: int = 8  # ResNet-18's first-stage channels (64 in the paper)
    resnet9_width: int = 32  # ResNet-9's first width; its stages are 1, 2, 4, 8 times it
    target: float = 0.0  # test accuracy the best network must reach (0: none; --full: 0.9)
    train_size: int | None = 1000  # training images per data set (--tiny 500, --full all)
    test_size: int | None = 1000  # test images per data set (--tiny 100, --full all 10,000)
    TINY = {"models": "lenet,vgg", "epochs": 4, "test_size": 500}
    FULL = {
        "models": "resnet9",
        "epochs": 10,
        "batch_size": 256,
        "optimizer": "sgd",
        "lr": 0.4,
        "weight_decay": 5e-4,
        "schedule": "one-cycle",
        "augment": True,
        "label_smoothing": 0.2,
        "target": 0.9,
    }

    def __post_init__(self):
        self.model_list = parse_list("models", self.models, choices=MODELS, example="lenet,vgg")
        if len(set(self.model_list)) != len(self.model_list):
            raise UsageError(f"--models lists a network twice: {self.models}")
        if self.optimizer not in ("adam", "sgd"):
            raise UsageError(f"--optimizer must be adam or sgd, got {self.optimizer!r}")
        if self.schedule not in ("constant", "one-cycle", "cosine"):
            raise UsageError(f"--schedule must be constant, one-cycle or cosine, got {self.schedule!r}")
        if not 0 <= self.momentum < 1:
            raise UsageError(f"--momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise UsageError(f"--weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.dropout < 1:
            raise UsageError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.label_smoothing < 1:
            raise UsageError(f"--label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.target <= 1:
            raise UsageError(f"--target must be a test accuracy in [0, 1], got {self.target}")
        for name in ("width", "resnet9_width"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")


class LeNet5(nn.Module):
    """LeNet-5 for 1 x 28 x 28 images (MNIST), with ReLU and max-pooling as in the lecture's
    PyTorch version: two 5x5 convolutions (6 then 16 channels), each followed by a ReLU and
    a 2x2 max-pooling (28 -> 24 -> 12, then 12 -> 8 -> 4), then fully connected layers
    16 x 4 x 4 -> 120 -> 84 -> classes with ReLUs between them."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 1 x 28 x 28 images -> N x classes scores (logits, no softmax)."""
        ### BEGIN SOLUTION
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # N x 6 x 12 x 12
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # N x 16 x 4 x 4
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return self.fc3(x)
        ### END SOLUTION


def build(name: str, cfg: Config) -> torch.nn.Module:
    if name == "lenet":
        return LeNet5()
    if name == "alexnet":
        return SmallAlexNet(width=16, dropout=cfg.dropout)
    if name == "vgg":
        return SmallVGG(widths=(16, 32, 64))
    if name == "resnet18":
        return ResNet18(width=cfg.width)
    w = cfg.resnet9_width
    return ResNet9(widths=(w, 2 * w, 4 * w, 8 * w))


def load(name: str, cfg: Config, ctx):
    """(train_x, train_y, test_x, test_y) of MNIST or CIFAR-10, standardised per channel
    with the training set's statistics, on the run's device."""
    if name == "mnist":
        x, y, tx, ty = prologue.load(
            train_size=cfg.train_size, test_size=cfg.test_size, flatten=False, data_dir=ctx.data_dir
        )
    else:
        x, y = data.load("cifar10", train=True, data_dir=ctx.data_dir)
        tx, ty = data.load("cifar10", train=False, data_dir=ctx.data_dir)
        x, y, tx, ty = x[: cfg.train_size], y[: cfg.train_size], tx[: cfg.test_size], ty[: cfg.test_size]
    x, tx = x.float(), tx.float()
    if x.dim() == 3:  # MNIST: N x 28 x 28 -> N x 1 x 28 x 28
        x, tx = x.unsqueeze(1), tx.unsqueeze(1)
    x, tx = standardise(x, tx)
    return x.to(ctx.device), y.to(ctx.device), tx.to(ctx.device), ty.to(ctx.device)


def standardise(x: torch.Tensor, tx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardise each channel with the training images' statistics: the mean and the
    (unbiased, torch's default) standard deviation of each channel over the training images
    ``x`` (N x C x H x W: over N, H and W), subtracted from and divided into both ``x`` and the
    test images ``tx`` (M x C x H x W). Returns ``(x, tx)`` standardised, the same shapes."""
    ### BEGIN SOLUTION
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    return (x - mean) / std, (tx - mean) / std
    ### END SOLUTION


def make_optimizer(model: torch.nn.Module, cfg: Config) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def train_one(name: str, cfg: Config, ctx, sets: dict) -> dict:
    """Train network ``name`` on its data set; its row of the table."""
    kind, title = MODELS[name]
    train_x, train_y, test_x, test_y = sets[kind]
    model = build(name, cfg).to(ctx.device)
    if ctx.device.type == "cpu" and kind == "cifar10":
        model = model.to(memory_format=torch.channels_last)  # oneDNN's fast layout on CPUs

    def loss(output, target):
        return F.cross_entropy(output, target, label_smoothing=cfg.label_smoothing)

    augment = (lambda x: flip_crop(x, 4)) if cfg.augment and kind == "cifar10" else None
    step = Supervised(model, make_optimizer(model, cfg), loss=loss, metric="accuracy", augment=augment)
    untrained = evaluate(step, (test_x, test_y), ctx)
    history = []
    if cfg.epochs:
        long = cfg.epochs >= 3  # a curve needs a few points: the test set is scored each epoch then
        callbacks = standard_callbacks(ctx, name, curves=long)
        if cfg.schedule != "constant":
            callbacks.append(LRSchedule(cfg.schedule, **({"pct_start": 0.25} if cfg.schedule == "one-cycle" else {})))
        history = fit(
            step,
            (train_x, train_y),
            ctx,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            val=(test_x, test_y) if long else None,
            val_name="test",
            callbacks=callbacks,
            name=name,
        )
    test = evaluate(step, (test_x, test_y), ctx)
    train_time = sum(r["time_s"] for r in history)
    seen = len(train_x) * len(history)
    speed = seen / sum(len(train_x) / r["samples_per_s"] for r in history) if history else None
    return {
        "name": name,
        "title": title,
        "data": "MNIST" if kind == "mnist" else "CIFAR-10",
        "parameters": parameter_count(model),
        "samples_per_s": speed,
        "train_time_s": train_time,
        "test_accuracy": test["accuracy"],
        "untrained_test_accuracy": untrained["accuracy"],
        "train_accuracy": history[-1]["train_accuracy"] if history else None,
        "test_n": test["n"],
        "train_n": len(train_x),
    }


def table_text(rows: list[dict], cfg: Config) -> str:
    """The comparison as a Markdown table."""
    lines = [
        f"image-classification: {cfg.epochs} epochs each, batch {cfg.batch_size}, {cfg.optimizer} lr {cfg.lr:g}, "
        f"schedule {cfg.schedule}, augment {cfg.augment}, label smoothing {cfg.label_smoothing:g}",
        "",
        "| network | data | parameters | training speed (samples/s) | test accuracy | untrained | train images |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        speed = f"{r['samples_per_s']:,.0f}" if r["samples_per_s"] else "-"
        lines.append(
            f"| {r['title']} | {r['data']} | {r['parameters']:,} | {speed} | {r['test_accuracy']:.1%} | "
            f"{r['untrained_test_accuracy']:.1%} | {r['train_n']:,} |"
        )
    return "\n".join(lines) + "\n"


def table_figure(rows: list[dict], cfg: Config, device: str):
    """Three panels, one bar per network: parameters, training speed, test accuracy."""
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [f"{r['title']}\n({r['data']})" for r in rows]
    k = np.arange(len(rows))
    colours = ["tab:purple" if r["data"] == "MNIST" else "tab:blue" for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    a, b, c = axes
    bars = a.bar(k, [r["parameters"] for r in rows], color=colours)
    a.bar_label(bars, [f"{r['parameters'] / 1e3:,.0f}k" for r in rows], fontsize=8)
    a.set_ylabel("parameters")
    a.set_title("size")
    speeds = [r["samples_per_s"] or 0 for r in rows]
    bars = b.bar(k, speeds, color=colours)
    b.bar_label(bars, [f"{s:,.0f}" for s in speeds], fontsize=8)
    b.set_ylabel("training samples per second")
    b.set_title(f"training speed on this machine ({device})")
    from matplotlib.patches import Patch

    c.bar(k - 0.2, [r["untrained_test_accuracy"] for r in rows], 0.4, color="tab:gray")
    bars = c.bar(k + 0.2, [r["test_accuracy"] for r in rows], 0.4, color=colours)
    c.bar_label(bars, [f"{r['test_accuracy']:.1%}" for r in rows], fontsize=8)
    chance = c.axhline(0.1, color="k", linestyle="--", linewidth=1, label="chance (10%)")
    c.set_ylim(0, 1.32)  # room above the bars for the legend, so it hides no label
    c.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    c.set_ylabel("test accuracy")
    c.set_title(f"test accuracy after {cfg.epochs} epochs")
    handles = [Patch(color="tab:gray", label="before training")]
    handles += [
        Patch(color=col, label=f"after training ({d})")
        for d, col in (("MNIST", "tab:purple"), ("CIFAR-10", "tab:blue"))
        if d in {r["data"] for r in rows}
    ]
    c.legend(handles=[*handles, chance], fontsize=8, loc="upper left", ncol=2)
    for ax in axes:
        ax.set_xticks(k, labels, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    n = rows[0]["train_n"] if rows else 0
    fig.suptitle(
        f"image-classification: {len(rows)} network{'s' if len(rows) != 1 else ''}, {n:,} training images each "
        "(purple: MNIST, blue: CIFAR-10)"
    )
    fig.tight_layout()
    return fig


@lab(
    "image-classification",
    source="EE-559 7.2",
    summary="LeNet on MNIST, AlexNet/VGG/ResNet-style nets on CIFAR-10: parameters, speed, accuracy",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    kinds = {MODELS[name][0] for name in cfg.model_list}
    sets = {kind: load(kind, cfg, ctx) for kind in sorted(kinds)}
    rows = []
    for name in cfg.model_list:
        rows.append(train_one(name, cfg, ctx, sets))
        ctx.log(kind="table", **rows[-1])

    ctx.write_text("table.md", table_text(rows, cfg))
    ctx.save_figure(table_figure(rows, cfg, ctx.device.type.upper()), "table")
    best = max((r for r in rows if r["data"] == "CIFAR-10"), key=lambda r: r["test_accuracy"], default=rows[0])
    if cfg.epochs:
        parts = [f"{r['title']} {r['test_accuracy']:.1%}" for r in rows]
        line = (
            f"test accuracy after {cfg.epochs} epochs: {', '.join(parts)}; best on {best['data']}: "
            f"{best['title']} {best['test_accuracy']:.1%} ({best['train_time_s']:.0f} s, "
            f"{best['samples_per_s']:,.0f} samples/s)"
        )
    else:
        line = "no training (--epochs 0): untrained test accuracy " + ", ".join(
            f"{r['title']} {r['test_accuracy']:.1%}" for r in rows
        )
    return Result(
        line,
        metrics={
            "rows": rows,
            "best": best["name"],
            "best_test_accuracy": best["test_accuracy"],
            "target": cfg.target,
            "epochs": cfg.epochs,
        },
    )


def check(result: Result) -> list:
    """The lecture's point: each architecture learns its data set (beyond chance and beyond
    its untrained self); with a target, the best reaches it."""
    m = result.metrics
    out = []
    for r in m["rows"]:
        if m["epochs"] == 0:
            out.append(
                verdict(f"untrained {r['title']}'s test accuracy, near chance (10%)", r["test_accuracy"], "<", 0.2)
            )
            continue
        out.append(verdict(f"{r['title']} test accuracy above 1.5x chance", r["test_accuracy"], ">", 0.15))
        out.append(
            verdict(
                f"{r['title']} test accuracy minus its untrained self's",
                r["test_accuracy"] - r["untrained_test_accuracy"],
                ">",
                0.05,
            )
        )
    if m["target"] and m["epochs"]:
        out.append(verdict("best network's test accuracy (the target)", m["best_test_accuracy"], ">=", m["target"]))
    return out


# -- exercises (`dlc exercise image-classification`, then `dlc check image-classification`) --


TASKS = [
    Task(
        "LeNet5",
        hint="conv1, ReLU, 2x2 max-pooling; conv2, ReLU, 2x2 max-pooling; flatten to N x 256; fc1 and fc2 each "
        "followed by a ReLU; fc3 gives the scores",
        cases=lambda g: [
            (torch.randn(2, 1, 28, 28, generator=g, dtype=torch.float64),),
            (torch.randn(1, 1, 28, 28, generator=g, dtype=torch.float64),),
        ],
        build=lambda cls: cls(),
        grad=True,
    ),
    Task(
        "standardise",
        hint="mean and std (torch's default, unbiased) over dims (0, 2, 3) of x only, keepdim=True; then "
        "(x - mean) / std and (tx - mean) / std",
        cases=lambda g: [
            (
                torch.rand(6, 3, 4, 4, generator=g, dtype=torch.float64) * 255,
                torch.rand(2, 3, 4, 4, generator=g, dtype=torch.float64) * 255,
            ),
            (
                torch.randn(5, 1, 3, 3, generator=g, dtype=torch.float64) * 4 + 1,
                torch.randn(3, 1, 3, 3, generator=g, dtype=torch.float64),
            ),
        ],
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
