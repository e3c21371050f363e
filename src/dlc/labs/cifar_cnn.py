"""CIFAR-10 with a simple VGG-like CNN, logged to TensorBoard (ESCAPE T4).

The tutorial's recipe: the encoder of blocks of two 3x3 convolutions with LeakyReLU,
each block followed by a 2x2 max-pooling (16,16 -> pool -> 32,32 -> pool -> 64,64 ->
pool), then a small fully connected classifier (:class:`dlc.models.cifar.T4Net`);
inputs scaled to [0, 1] then normalised with mean 0.5 and standard deviation 0.5 per
channel (to [-1, 1]); batches of 32; Adam with lr 0.001; a few epochs with a step
scheduler (the learning rate is multiplied by ``lr_gamma`` every ``lr_step`` epochs).
The tutorial runs it with PyTorch Lightning's Trainer and its TensorBoard logger; here
dlc's loop does the same: the losses and accuracies go to TensorBoard at every step and
epoch (``tensorboard --logdir runs/cifar-cnn``), and the model's graph is added to the
same folder (the "Graphs" tab).

Check, in the same run: the trained network's test accuracy is well above chance (10%)
and at least 5 points above the same network's before training. ``--epochs 0`` trains
nothing: the check then says the untrained network is near chance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dlc import data
from dlc.engine import LRSchedule, Supervised, TimeLimit, evaluate, fit, predict, standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.cifar import T4Net


@dataclass
class Config:
    lr: float = 1e-3  # Adam's learning rate (the tutorial's 0.001)
    batch_size: int = 32  # images per step (the tutorial's 32)
    epochs: int = 6  # passes over the training images (the tutorial: "a few");
    # 0: no training, the untrained network is evaluated
    lr_step: int = 4  # StepLR: epochs between two decays of the learning rate
    lr_gamma: float = 0.3  # StepLR: the factor applied at each decay
    hidden: int = 128  # units of the fully connected layer of the classifier
    graph: bool = True  # write the model's graph to TensorBoard (the tutorial's log_graph)
    minutes: float = 0.0  # stop training after this many minutes of it (0: no limit), to
    # compare recipes at equal time (benchmarks/bench_speedruns.py against cifar10-speedrun)
    train_size: int | None = 1000  # CIFAR-10 training images (--tiny 500, --full all 50,000)
    test_size: int | None = 1000  # CIFAR-10 test images (--tiny 100, --full all 10,000)
    TINY = {"epochs": 3, "lr_step": 2}
    FULL = {"epochs": 10}
    THREADS = 1

    def __post_init__(self):
        if self.lr_step < 1:
            raise UsageError(f"--lr_step must be at least 1 epoch, got {self.lr_step}")
        if not 0 < self.lr_gamma <= 1:
            raise UsageError(f"--lr_gamma must be in (0, 1], got {self.lr_gamma}")
        if self.hidden < 1:
            raise UsageError(f"--hidden must be at least 1, got {self.hidden}")
        if not (math.isfinite(self.minutes) and self.minutes >= 0):
            raise UsageError(f"--minutes must be a number of minutes >= 0 (0: no limit), got {self.minutes}")


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (any shape, values 0 to 255) -> float32 in [0, 1] -> (x - 0.5) / 0.5, in
    [-1, 1] (the tutorial's transform: mean 0.5 and std 0.5 for every channel). Same shape."""
    return (images.float() / 255 - 0.5) / 0.5  # SOLUTION


def load(cfg: Config, ctx):
    """The first ``train_size`` / ``test_size`` images of each CIFAR-10 split, normalised."""
    x, y = data.load("cifar10", train=True, data_dir=ctx.data_dir)
    tx, ty = data.load("cifar10", train=False, data_dir=ctx.data_dir)
    x, y, tx, ty = x[: cfg.train_size], y[: cfg.train_size], tx[: cfg.test_size], ty[: cfg.test_size]
    return normalise(x).to(ctx.device), y.to(ctx.device), normalise(tx).to(ctx.device), ty.to(ctx.device)


def log_graph(model: torch.nn.Module, example: torch.Tensor, ctx) -> None:
    """The model's graph into the run's TensorBoard folder (traced on one example batch)."""
    import warnings

    from torch.utils.tensorboard import SummaryWriter

    if not ctx.is_main:
        return
    writer = SummaryWriter(log_dir=str(ctx.dir / "tensorboard"))
    try:
        with warnings.catch_warnings():  # the tracer's notes on Python control flow
            warnings.simplefilter("ignore")
            writer.add_graph(model, example)
    finally:
        writer.close()


def confusion(predicted: torch.Tensor, target: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """The confusion matrix of predicted and true classes (two int64 tensors of N values in
    0 .. classes - 1): ``C[i, j]`` is how many images of class i were predicted as j.
    Returns an int64 tensor, classes x classes."""
    ### BEGIN SOLUTION
    pairs = target * classes + predicted  # one number per (true, predicted) pair
    return torch.bincount(pairs, minlength=classes * classes).reshape(classes, classes)
    ### END SOLUTION


def confusion_figure(trained: torch.Tensor, untrained: torch.Tensor, names, title: str):
    """Left: the trained net's confusion matrix (rows: true class, as fractions); right:
    per-class test accuracy, trained vs untrained, with chance."""
    import matplotlib.pyplot as plt
    import numpy as np

    rows = trained.double() / trained.sum(1, keepdim=True).clamp(min=1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1.05, 1]})
    im = a.imshow(rows.numpy(), cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            v = float(rows[i, j])
            if v >= 0.05:
                a.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v > 0.5 else "black")
    a.set_xticks(range(len(names)), names, rotation=45, ha="right")
    a.set_yticks(range(len(names)), names)
    a.set_xlabel("predicted class")
    a.set_ylabel("true class")
    a.set_title("confusion matrix of the trained net\n(each row: where that class's test images went)")
    fig.colorbar(im, ax=a, fraction=0.046, pad=0.04, label="fraction of the true class")

    def per_class(c):
        return (c.diag().double() / c.sum(1).clamp(min=1)).numpy()

    k = np.arange(len(names))
    b.bar(k - 0.2, per_class(untrained), 0.4, label="before training", color="tab:gray")
    b.bar(k + 0.2, per_class(trained), 0.4, label="after training", color="tab:blue")
    b.axhline(0.1, color="k", linestyle="--", linewidth=1, label="chance (10%)")
    b.set_xticks(k, names, rotation=45, ha="right")
    b.set_ylim(0, 1.15)
    b.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    b.set_ylabel("test accuracy of the class")
    b.set_title("per-class test accuracy")
    b.legend(loc="upper center", ncol=3, fontsize=8)
    b.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@lab(
    "cifar-cnn",
    source="ESCAPE T4",
    summary="CIFAR-10 with the tutorial's VGG-like CNN, Adam and a step schedule, logged to TensorBoard",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    train_x, train_y, test_x, test_y = load(cfg, ctx)
    names = data.classes("cifar10")

    model = T4Net(hidden=cfg.hidden).to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step = Supervised(model, optimizer, loss="cross_entropy", metric="accuracy")
    if cfg.graph:
        log_graph(model, test_x[:1], ctx)

    untrained = evaluate(step, (test_x, test_y), ctx)
    untrained_pred = predict(model, test_x).argmax(1)
    history, limit = [], None
    if cfg.epochs:
        # the standard callbacks log losses and accuracies to TensorBoard; StepLR decays the rate
        callbacks = [*standard_callbacks(ctx), LRSchedule("step", step_size=cfg.lr_step, gamma=cfg.lr_gamma)]
        limit = TimeLimit(cfg.minutes * 60) if cfg.minutes else None
        if limit:
            callbacks.append(limit)
        history = fit(
            step,
            (train_x, train_y),
            ctx,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            val=(test_x, test_y),
            val_name="test",  # a curve to look at, nothing is selected on it
            callbacks=callbacks,
        )
    test = evaluate(step, (test_x, test_y), ctx)
    pred = predict(model, test_x).argmax(1)

    c_trained = confusion(pred.cpu(), test_y.cpu())
    c_untrained = confusion(untrained_pred.cpu(), test_y.cpu())
    per_class = (c_trained.diag().double() / c_trained.sum(1).clamp(min=1)).tolist()
    ctx.save_figure(
        confusion_figure(
            c_trained,
            c_untrained,
            names,
            f"cifar-cnn: T4Net after {len(history)} epochs on {len(train_x):,} images, "
            f"test accuracy {test['accuracy']:.1%} (untrained {untrained['accuracy']:.1%})",
        ),
        "confusion",
    )
    best = max(range(10), key=lambda k: per_class[k])
    worst = min(range(10), key=lambda k: per_class[k])
    train_time = sum(r["time_s"] for r in history)
    if history:
        line = (
            f"test accuracy {test['accuracy']:.1%} ({test['correct']}/{test['n']}) after {len(history)} epochs "
            f"vs {untrained['accuracy']:.1%} untrained (chance 10%); best class {names[best]} "
            f"{per_class[best]:.0%}, worst {names[worst]} {per_class[worst]:.0%}; {train_time:.0f} s"
        )
        if limit and limit.stopped_step is not None:
            line += f" (stopped by --minutes {cfg.minutes:g} at step {limit.stopped_step:,}, in epoch {len(history)})"
    else:
        line = (
            f"no training (--epochs 0): the untrained network's test accuracy is {test['accuracy']:.1%} "
            f"({test['correct']}/{test['n']}); chance is 10%"
        )
    return Result(
        line,
        metrics={
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "untrained_test_accuracy": untrained["accuracy"],
            "untrained_test_loss": untrained["loss"],
            "train_accuracy": history[-1]["train_accuracy"] if history else None,
            "per_class_accuracy": dict(zip(names, per_class)),
            "lrs": [r["lr"] for r in history],
            "epochs": len(history),
            "train_samples": len(train_x),
            "test_n": test["n"],
            "parameters": sum(p.numel() for p in model.parameters()),
            "time_s": train_time,
            "stopped_step": limit.stopped_step if limit else None,
        },
    )


def check(result: Result) -> list:
    """The tutorial's point: the small CNN learns CIFAR-10, far beyond chance and its untrained self."""
    m = result.metrics
    if m["epochs"] == 0:
        return [verdict("untrained network's test accuracy, near chance (10%)", m["test_accuracy"], "<", 0.2)]
    return [
        verdict("test accuracy above 1.5x chance (10%)", m["test_accuracy"], ">", 0.15),
        verdict(
            "test accuracy minus the untrained net's (points)",
            m["test_accuracy"] - m["untrained_test_accuracy"],
            ">",
            0.05,
        ),
    ]


# -- exercises (`dlc exercise cifar-cnn`, then `dlc check cifar-cnn`) ----------------------


TASKS = [
    Task(
        "normalise",
        hint="convert to float, divide by 255 (now in [0, 1]), subtract 0.5 and divide by 0.5",
        cases=lambda g: [
            (torch.randint(0, 256, (2, 3, 4, 4), generator=g, dtype=torch.uint8),),
            (torch.tensor([0, 255, 128], dtype=torch.uint8),),
        ],
    ),
    Task(
        "confusion",
        hint="count each (true class i, predicted class j) pair into C[i, j], e.g. with torch.bincount of "
        "i * classes + j, reshaped to classes x classes",
        cases=lambda g: [
            (torch.randint(0, 10, (50,), generator=g), torch.randint(0, 10, (50,), generator=g), 10),
            (torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), 4),  # class 3 never seen: a row of zeros
        ],
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
