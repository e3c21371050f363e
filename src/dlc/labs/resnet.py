"""Residual networks (EE-559 6.5, practical 6): skip connections let the gradient reach
the first blocks of a deep network, and let it train.

The practical's network: a 1x1 convolution to ``channels`` channels (with batch norm
and ReLU), then ``blocks`` residual blocks of the same width, global average pooling and
a linear classifier. A block is ``conv -> bn -> relu -> conv -> bn``, added to its input
(the skip connection), then ReLU. Switching off the skip connection gives a *plain*
network of the same depth and parameters; switching off batch norm removes the bn
layers. The practical's experiment, on CIFAR-10:

1. For the four variants {skip connections, batch norm} x {with, without}, at
   initialisation, the norm of the loss's gradient with respect to each block's first
   convolution weight, on one batch of ``grad_samples`` training images, against the
   block's depth (a log scale: the plain net's gradient falls by orders of magnitude
   towards the input, while the residual net's stays within a small factor).
2. The same four networks trained the same way (Adam, batches of 32): training curves.

For speed the images are average-pooled to ``image_size`` (16 x 16 by default; 32 keeps
CIFAR-10's resolution, as ``--full`` does) and the network is narrow.

Check, in the same run: in the plain network without batch norm the first block's
gradient is over 1,000 times smaller than the last block's, while in the residual network
(skip and batch norm) the two are within a factor 10; and after training, the residual
network's training loss is lower than that of the plain network with batch norm (the
same network without its skip connections) by at least 0.05. ``--epochs 0`` measures the
gradients only (and checks those).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlc import data
from dlc.engine import Callback, Supervised, evaluate, fit, standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict


@dataclass
class Config:
    blocks: int = 16  # residual blocks (each two convolutions): the depth of the network
    channels: int = 8  # channels of every block (narrow, for a CPU minute)
    kernel_size: int = 3  # the blocks' convolution kernel (odd: the size is kept)
    image_size: int = 16  # images average-pooled to this size (a divisor of 32; 32: full resolution)
    grad_samples: int = 100  # training images of the batch on which the gradient norms are measured
    lr: float = 3e-3  # Adam's learning rate, the same for the four variants
    batch_size: int = 32  # images per training step
    epochs: int = 2  # passes over the training images, per variant;
    # 0: only the gradient norms at initialisation
    train_size: int | None = 1000  # CIFAR-10 training images (--tiny 500, --full all 50,000)
    test_size: int | None = 1000  # CIFAR-10 test images (--tiny 100, --full all 10,000)
    TINY = {"image_size": 8, "epochs": 2}
    FULL = {"blocks": 30, "channels": 16, "image_size": 32, "epochs": 5}
    THREADS = 1

    def __post_init__(self):
        if self.blocks < 2:
            raise UsageError(f"--blocks must be at least 2 (the first and the last are compared), got {self.blocks}")
        if self.channels < 1:
            raise UsageError(f"--channels must be at least 1, got {self.channels}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise UsageError(f"--kernel_size must be odd (1, 3, 5, ...), got {self.kernel_size}")
        if self.image_size < 1 or 32 % self.image_size:
            raise UsageError(f"--image_size must divide 32 (1, 2, 4, 8, 16, 32), got {self.image_size}")
        if self.grad_samples < 2:
            raise UsageError(f"--grad_samples must be at least 2 (batch norm needs a batch), got {self.grad_samples}")


# -- the lesson: a residual block, and a network of them ---------------------------------


class ResBlock(nn.Module):
    """conv -> bn -> relu -> conv -> bn, plus the input (skip connection), then relu.

    Without ``skip`` the input is not added (a plain block); without
    ``batch_norm`` the bn layers are identities.
    """

    def __init__(self, channels: int, kernel_size: int = 3, skip: bool = True, batch_norm: bool = True):
        super().__init__()
        self.skip = skip
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.bn1 = nn.BatchNorm2d(channels) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.bn2 = nn.BatchNorm2d(channels) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W -> N x C x H x W: relu(bn2(conv2(relu(bn1(conv1(x))))) + x), without
        the "+ x" when ``self.skip`` is false."""
        ### BEGIN SOLUTION
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.skip:
            y = y + x
        return F.relu(y)
        ### END SOLUTION


class ResNet(nn.Module):
    """1x1 conv (+bn) + relu to ``channels``, ``blocks`` :class:`ResBlock`, global average
    pooling, linear classifier. Input ``(N, 3, H, W)``, output ``(N, classes)``."""

    def __init__(
        self,
        blocks: int,
        channels: int,
        kernel_size: int = 3,
        classes: int = 10,
        skip: bool = True,
        batch_norm: bool = True,
    ):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 1)
        self.bn = nn.BatchNorm2d(channels) if batch_norm else nn.Identity()
        self.blocks = nn.Sequential(*[ResBlock(channels, kernel_size, skip, batch_norm) for _ in range(blocks)])
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        x = self.blocks(x)
        return self.fc(x.mean((2, 3)))


VARIANTS = {  # name -> (skip connections, batch norm)
    "skip + BN (ResNet)": (True, True),
    "skip, no BN": (True, False),
    "no skip + BN": (False, True),
    "no skip, no BN (plain)": (False, False),
}
COLOURS = {
    "skip + BN (ResNet)": "tab:blue",
    "skip, no BN": "tab:cyan",
    "no skip + BN": "tab:orange",
    "no skip, no BN (plain)": "tab:red",
}


def block_gradient_norms(model: ResNet, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """The gradient of the cross-entropy loss of ``model`` on the batch (x, y) with respect
    to each block's first convolution weight (``model.blocks[i].conv1.weight``): its norm,
    block by block from the input. Returns a list of floats, one per block."""
    model.train()  # batch norm as in training: the batch's own statistics
    model.zero_grad(set_to_none=True)
    ### BEGIN SOLUTION
    F.cross_entropy(model(x), y).backward()
    norms = [float(b.conv1.weight.grad.norm()) for b in model.blocks]
    ### END SOLUTION
    model.zero_grad(set_to_none=True)
    return norms


class StepLosses(Callback):
    """The training loss of every step (for the curves of several fits in one figure)."""

    def __init__(self):
        self.losses: list[float] = []

    def on_steps_logged(self, loop, steps, scores) -> None:
        self.losses += [s["loss"] for s in scores]


def load(cfg: Config, ctx):
    """The CIFAR-10 subsets, in [0, 1] minus the training mean over std, pooled to ``image_size``."""
    x, y = data.load("cifar10", train=True, data_dir=ctx.data_dir)
    tx, ty = data.load("cifar10", train=False, data_dir=ctx.data_dir)
    x, y, tx, ty = x[: cfg.train_size], y[: cfg.train_size], tx[: cfg.test_size], ty[: cfg.test_size]
    x, tx = x.float() / 255, tx.float() / 255
    if cfg.image_size != 32:
        x, tx = F.avg_pool2d(x, 32 // cfg.image_size), F.avg_pool2d(tx, 32 // cfg.image_size)
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    x, tx = (x - mean) / std, (tx - mean) / std
    return x.to(ctx.device), y.to(ctx.device), tx.to(ctx.device), ty.to(ctx.device)


def smooth(values: list[float], k: int) -> list[float]:
    """Running mean over the last ``k`` values (fewer at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - k] if i >= k else 0.0)
        out.append(total / min(i + 1, k))
    return out


def gradient_figure(norms: dict[str, list[float]], cfg: Config):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, g in norms.items():
        ax.plot(range(1, len(g) + 1), g, marker="o", markersize=3, color=COLOURS[name], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("block (1: nearest the input)")
    ax.set_ylabel("gradient norm of the block's first conv weight")
    ax.set_title(
        f"resnet: gradient norm per block at initialisation\n{cfg.blocks} blocks of {cfg.channels} channels, "
        f"one batch of {cfg.grad_samples} CIFAR-10 images ({cfg.image_size}x{cfg.image_size})"
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def training_figure(losses: dict[str, list[float]], accuracy: dict[str, float], steps_per_epoch: int, cfg):
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6))
    k = max(steps_per_epoch // 2, 1)
    for name, ls in losses.items():
        a.plot(range(1, len(ls) + 1), smooth(ls, k), color=COLOURS[name], label=name)
    a.axhline(torch.log(torch.tensor(10.0)).item(), color="k", linestyle="--", linewidth=1, label="chance (ln 10)")
    a.set_xlabel("training step")
    a.set_ylabel(f"training loss (running mean of {k} steps)")
    a.set_title("training loss")
    a.grid(alpha=0.3)
    a.legend(fontsize=8)
    names = list(accuracy)
    bars = b.bar(range(len(names)), [accuracy[n] for n in names], color=[COLOURS[n] for n in names])
    b.bar_label(bars, [f"{accuracy[n]:.1%}" for n in names], fontsize=8)
    b.axhline(0.1, color="k", linestyle="--", linewidth=1, label="chance (10%)")
    b.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=8)
    b.set_ylabel("test accuracy")
    b.set_ylim(0, max(max(accuracy.values()) * 1.2, 0.15))
    b.set_title(f"test accuracy after {cfg.epochs} epochs")
    b.grid(axis="y", alpha=0.3)
    b.legend(fontsize=8)
    fig.suptitle(f"resnet: {cfg.blocks} blocks, with and without skip connections and batch norm")
    fig.tight_layout()
    return fig


@lab(
    "resnet",
    source="EE-559 6.5",
    summary="gradient norm per block and training of deep nets with/without skip connections and batch norm",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    train_x, train_y, test_x, test_y = load(cfg, ctx)
    grad_x, grad_y = train_x[: cfg.grad_samples], train_y[: cfg.grad_samples]

    models, norms = {}, {}
    for name, (skip, bn) in VARIANTS.items():
        models[name] = ResNet(cfg.blocks, cfg.channels, cfg.kernel_size, skip=skip, batch_norm=bn).to(ctx.device)
        norms[name] = block_gradient_norms(models[name], grad_x, grad_y)
        ctx.log(kind="gradient_norms", variant=name, norms=norms[name])
    ctx.save_figure(gradient_figure(norms, cfg), "gradient-norms")

    losses, histories, tests = {}, {}, {}
    steps_per_epoch = -(-len(train_x) // cfg.batch_size)
    if cfg.epochs:
        for name, model in models.items():
            torch.manual_seed(ctx.seed)  # every variant sees the batches in the same order
            step = Supervised(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), metric="accuracy")
            recorder = StepLosses()
            tag = name.split(" (")[0].replace(" + ", "-").replace(", ", "-").replace(" ", "-")
            histories[name] = fit(
                step,
                (train_x, train_y),
                ctx,
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                callbacks=[*standard_callbacks(ctx, tag, curves=False, checkpoints=False), recorder],
                name=tag,
                sync_every=1,
            )
            losses[name] = recorder.losses
            tests[name] = evaluate(step, (test_x, test_y), ctx)
        accuracy = {k: t["accuracy"] for k, t in tests.items()}
        ctx.save_figure(training_figure(losses, accuracy, steps_per_epoch, cfg), "training")

    def ratio(name):
        return norms[name][0] / norms[name][-1]

    res, plain_bn, plain = "skip + BN (ResNet)", "no skip + BN", "no skip, no BN (plain)"
    metrics = {
        "gradient_norms": norms,
        "first_last_ratio": {name: ratio(name) for name in VARIANTS},
        "epochs": cfg.epochs,
        "blocks": cfg.blocks,
        "train_samples": len(train_x),
        "test_n": len(test_x),
    }
    line = (
        f"{cfg.blocks} blocks: first/last block gradient norm {ratio(res):.2g} with skip + BN vs "
        f"{ratio(plain):.2g} for the plain net"
    )
    if cfg.epochs:
        final = {name: h[-1]["train_loss"] for name, h in histories.items()}
        metrics.update(
            final_train_loss=final,
            test_accuracy={name: t["accuracy"] for name, t in tests.items()},
            epoch_train_loss={name: [r["train_loss"] for r in h] for name, h in histories.items()},
        )
        line += (
            f"; after {cfg.epochs} epochs train loss {final[res]:.3f} (ResNet) vs {final[plain_bn]:.3f} "
            f"(no skip + BN) vs {final[plain]:.3f} (plain), test accuracy {tests[res]['accuracy']:.1%} vs "
            f"{tests[plain_bn]['accuracy']:.1%} vs {tests[plain]['accuracy']:.1%}"
        )
    return Result(line, metrics=metrics)


def check(result: Result) -> list:
    """The lecture's point: skip connections carry the gradient to the first blocks, and
    the residual net trains better than the same net without them."""
    m = result.metrics
    r = m["first_last_ratio"]
    out = [
        verdict(
            "plain net (no skip, no BN): first block's gradient norm / last block's",
            r["no skip, no BN (plain)"],
            "<",
            1e-3,
        ),
        verdict("ResNet (skip + BN): first block's gradient norm / last block's", r["skip + BN (ResNet)"], ">", 0.1),
    ]
    if m["epochs"]:
        loss = m["final_train_loss"]
        out.append(
            verdict(
                "final training loss: no skip + BN minus ResNet (skip + BN)",
                loss["no skip + BN"] - loss["skip + BN (ResNet)"],
                ">",
                0.05,
            )
        )
    return out


# -- exercises (`dlc exercise resnet`, then `dlc check resnet`) ----------------------------


def _block(m: ResBlock, x: torch.Tensor, skip: bool) -> torch.Tensor:
    m.skip = skip  # the same block, with and without its skip connection
    return m(x)


def _gradient_cases(g: torch.Generator) -> list[tuple]:
    out = []
    for blocks, skip, bn in ((3, True, True), (4, False, False)):
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=g)))
            model = ResNet(blocks, 4, skip=skip, batch_norm=bn).double()
        x = torch.randn(6, 3, 5, 5, generator=g, dtype=torch.float64)
        out.append((model, x, torch.randint(0, 10, (6,), generator=g)))
    return out


TASKS = [
    Task(
        "ResBlock",
        hint="y = relu(bn1(conv1(x))), then bn2(conv2(y)); add the input x when self.skip; relu of the sum",
        cases=lambda g: [
            (torch.randn(2, 4, 6, 6, generator=g, dtype=torch.float64), True),
            (torch.randn(3, 4, 5, 5, generator=g, dtype=torch.float64), False),
        ],
        build=lambda cls: cls(4, 3),
        call=_block,
        grad=True,
    ),
    Task(
        "block_gradient_norms",
        hint="backward the cross-entropy of model(x) against y, then for each block of model.blocks the norm of "
        "block.conv1.weight.grad as a float",
        cases=_gradient_cases,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
