"""MNIST at record speed: the first lecture's convnet to 99% test accuracy in 2 epochs instead
of 10, in a fraction of the lecture recipe's time on the same CPU.

The lecture's recipe (``lecture-convnet``) trains its convnet with plain SGD, batches of
100, for 10 epochs, and reaches about 1% test error. The same network, with batch
normalisation after each pooling, trained 2 epochs with the speedrun tricks of
:mod:`dlc.speedrun` (data in memory normalised once, Adam with betas (0.7, 0.9), a
one-cycle learning rate, channels-last convolutions, label smoothing) reaches 99% or
more at ``--full`` in about a quarter of the time (``benchmarks/bench_speedruns.py``
measures both, 5 seeds, as whole processes). Batches of 256 were tried and measured
slower here than the lecture's 100 (see :mod:`dlc.speedrun`, trick 5).
Each trick can be taken away to see what it buys: ``--batch_norm false``,
``--one_cycle false``, ``--channels_last false``, ``--label_smoothing 0``,
``--beta1 0.9 --beta2 0.999``; and ``--batch_size 256`` tries larger batches.

Check, in the same run: the trained network's test error is far below chance (under half
of 90%) and under half of the same network's before training. ``--epochs 0`` trains
nothing, and the check says the untrained network is near chance. At ``--full`` the
result line also states issue 13's target (99.0% on average over seeds); a single run's
accuracy is compared with the target's floor (98.9% for every seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlc import speedrun, viz
from dlc.engine import Supervised, evaluate
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict

TARGET, FLOOR = 0.990, 0.989  # issue 13: mean over 5 seeds >= 99.0%, every seed >= 98.9%


@dataclass
class Config:
    epochs: int = 10  # passes over the training images (--full: the recipe's 2);
    # 0: no training, the untrained network is evaluated
    batch_size: int = 100  # images per step (the lecture's; 256 measured slower on a 2-core CPU)
    lr: float = 2e-3  # Adam's peak learning rate, reached after the warm-up
    beta1: float = 0.7  # Adam's gradient memory (torch's default 0.9)
    beta2: float = 0.9  # Adam's squared-gradient memory (torch's default 0.999)
    warmup: float = 0.2  # fraction of the steps spent warming up (one-cycle's pct_start)
    one_cycle: bool = True  # the one-cycle schedule; false: the constant rate --lr
    label_smoothing: float = 0.1  # share of the target spread over all classes (0: plain cross-entropy)
    batch_norm: bool = True  # batch normalisation after each pooling (false: the lecture's network)
    channels_last: bool = True  # channels-last memory format for the convolutions
    width: float = 1.0  # channel and unit counts, as a multiple of the lecture's (32, 64, 200)
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    FULL = {"epochs": 2}
    TINY = {"epochs": 10}

    def __post_init__(self):
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise UsageError(f"--beta1 and --beta2 must be in [0, 1), got {self.beta1} and {self.beta2}")
        if not 0 < self.warmup < 1:
            raise UsageError(f"--warmup must be a fraction of the steps in (0, 1), got {self.warmup}")
        if not 0 <= self.label_smoothing < 1:
            raise UsageError(f"--label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 < self.width <= 8:
            raise UsageError(f"--width must be in (0, 8], got {self.width}")


class SpeedNet(nn.Module):
    """The first lecture's convnet with batch normalisation after each pooling::

        conv 5x5, 32 -> max-pool 3 -> batch norm -> ReLU      28 -> 24 -> 8
        conv 5x5, 64 -> max-pool 2 -> batch norm -> ReLU       8 ->  4 -> 2
        fc 256 -> 200 -> ReLU -> fc 10

    Normalising after the pooling normalises 9 and 4 times fewer values than before it.
    ``batch_norm=False`` is the lecture's network exactly; ``width`` scales every layer.
    """

    def __init__(self, batch_norm: bool = True, width: float = 1.0):
        super().__init__()
        c1, c2, hidden = max(round(32 * width), 1), max(round(64 * width), 1), max(round(200 * width), 1)
        self.conv1 = nn.Conv2d(1, c1, kernel_size=5)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=5)
        self.bn1 = nn.BatchNorm2d(c1) if batch_norm else nn.Identity()
        self.bn2 = nn.BatchNorm2d(c2) if batch_norm else nn.Identity()
        self.fc1 = nn.Linear(4 * c2, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 2. batch normalisation: each channel rescaled to mean 0 and variance 1 over the
        # batch (then its own learnt scale and shift), so that a large step stays safe
        ### BEGIN SOLUTION
        x = F.relu(self.bn1(F.max_pool2d(self.conv1(x), kernel_size=3)))
        x = F.relu(self.bn2(F.max_pool2d(self.conv2(x), kernel_size=2)))
        ### END SOLUTION
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


@lab(
    "mnist-speedrun",
    source="EE-559 1.1, record-speed recipe",
    summary="the lecture's MNIST convnet + batch norm, Adam(0.7, 0.9), one-cycle: 99% in 2 epochs with --full",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    # 1. the whole set as one tensor in memory, normalised once
    train_x, train_y, test_x, test_y = speedrun.load("mnist", cfg.train_size, cfg.test_size, ctx.data_dir, ctx.device)
    full = len(train_x) == 60_000 and len(test_x) == 10_000

    model = SpeedNet(cfg.batch_norm, cfg.width).to(ctx.device)
    # the baseline, in the same run: the same network before training, on (at most) the
    # first 1,000 test images
    probe = (test_x[:1000], test_y[:1000])
    untrained = evaluate(Supervised(model, torch.optim.SGD(model.parameters(), lr=0.0)), probe, ctx)

    history, trace = [], None
    if cfg.epochs:
        history, trace = speedrun.train(
            model,
            (train_x, train_y),
            ctx,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            betas=(cfg.beta1, cfg.beta2),
            warmup=cfg.warmup,
            label_smoothing=cfg.label_smoothing,
            one_cycle=cfg.one_cycle,
            channels_last=cfg.channels_last,
        )
    predicted = speedrun.predict(model, test_x).argmax(1)
    wrong = (predicted != test_y).nonzero().view(-1)
    n_test = len(test_y)
    error = len(wrong) / n_test

    if trace is not None and trace.steps:
        steps_per_epoch = -(-len(train_x) // cfg.batch_size)
        ctx.save_figure(
            speedrun.schedule_figure(
                trace,
                f"mnist-speedrun: one-cycle schedule and training loss ({len(history)} epochs)",
                steps_per_epoch,
                cfg.label_smoothing,
            ),
            "schedule",
        )
    if len(wrong):
        shown = wrong[:32]
        ctx.save_figure(
            viz.image_grid(
                test_x[shown].cpu(),
                nrow=8,
                title="misclassified test digits (true -> predicted)",
                labels=[f"{int(test_y[i])} -> {int(predicted[i])}" for i in shown],
            ),
            "misclassified",
        )

    train_time = sum(r["time_s"] for r in history)
    accuracy = 1 - error
    if history:
        line = (
            f"test accuracy {accuracy:.2%} ({len(wrong):,}/{n_test:,} wrong), {len(history)} epochs, "
            f"{train_time:.1f} s of training"
        )
        if full:
            line += f" (issue 13's target: {TARGET:.1%} on average over seeds, each >= {FLOOR:.1%})"
    else:
        line = (
            f"no training (--epochs 0): the untrained network's test accuracy is {accuracy:.2%} "
            f"({len(wrong):,}/{n_test:,} wrong); chance is 10%"
        )
    return Result(
        line,
        metrics={
            "test_accuracy": accuracy,
            "test_error": error,
            "test_errors": len(wrong),
            "test_n": n_test,
            "untrained_test_error": untrained["error"],
            "untrained_n": untrained["n"],
            "train_loss": history[-1]["train_loss"] if history else None,
            "epochs": len(history),
            "steps": len(trace.lr) if trace else 0,
            "train_samples": len(train_x),
            "time_s": train_time,
            "full": full,
        },
    )


def check(result: Result) -> list:
    """Trained: far better than chance and than the same network untrained; at --full, at
    least the target's floor for one seed."""
    m = result.metrics
    if m["epochs"] == 0:
        return [verdict("untrained network's test error, near chance (90%)", m["test_error"], ">", 0.9 * 0.5)]
    verdicts = [
        verdict("test error below half of chance (90%)", m["test_error"], "<", 0.9 * 0.5),
        verdict("test error below half the untrained network's", m["test_error"], "<", 0.5 * m["untrained_test_error"]),
    ]
    if m["full"]:
        verdicts.append(
            verdict("test accuracy at --full, vs issue 13's floor for a seed", m["test_accuracy"], ">=", FLOOR)
        )
    return verdicts


TASKS = [
    Task(
        "SpeedNet",
        hint="conv1 -> max-pool 3 -> bn1 -> ReLU, then conv2 -> max-pool 2 -> bn2 -> ReLU: batch norm after "
        "each pooling, the ReLU last",
        cases=lambda g: [(torch.randn(4, 1, 28, 28, generator=g, dtype=torch.float64),)],
        build=lambda cls: cls(batch_norm=True, width=0.25),
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
