"""Learning-rate schedules and the training protocol (EE-559 5.6).

Two parts, as in the lecture.

Learning-rate schedules. A large step size makes fast progress early but keeps SGD
bouncing around a minimum; decreasing it lets the loss settle. The same MLP, from
the same initial weights and on the same batches, is trained with SGD under four
schedules: constant, step (divide by 10 every third of the training), cosine decay,
and one-cycle (warm up, then anneal, changed at every step). Their learning rates and
training losses are drawn, and their final training and validation losses compared.
Look at which wins: on the prologue's 800 training samples the network can fit every
sample, so SGD has no noise floor to anneal away, and a constant rate often ends with
the lowest training loss; the validation loss is what the protocol goes by.

The protocol. The training set is split into a training part and a validation part;
every choice (here: the schedule, then the number of epochs by early stopping) is made
on the validation part; the test set is used once, at the very end. The final model is
trained with the chosen schedule, the run's standard callbacks (among them the
checkpoint of the best epoch) and early stopping that puts those weights back.

Check: every schedule's training loss falls below a fifth of its first epoch's; early
stopping restores the best checkpoint: the restored model's weights are those of the
saved best epoch, the checkpoint's epoch is early stopping's best epoch, and the restored
model's validation loss is the recorded best; the test error is far below chance (under
50%, chance is 90%).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch.optim.lr_scheduler import LambdaLR

from dlc import prologue, viz
from dlc.engine import Callback, EarlyStopping, LRSchedule, MetricsLogger, Supervised, evaluate, fit, standard_callbacks
from dlc.engine import checkpoint as ckpt
from dlc.engine.callbacks import ProgressBar
from dlc.errors import DlcError, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.mlp import MLP
from dlc.stats import check_fraction, split

SCHEDULES = ("constant", "step", "cosine", "one-cycle")


@dataclass
class Config:
    hidden: int = 200  # hidden units of the MLP 784 -> hidden -> 10 (chosen here)
    lr: float = 0.1  # SGD step size: the start of the step and cosine schedules, the peak of
    # one-cycle (the course's 0.1)
    batch_size: int = 100  # images per SGD step (the course's 100)
    epochs: int = 30  # epochs of each schedule, the length they are built for (chosen here)
    patience: int = 5  # epochs without a better validation loss before early stopping stops
    # the final training (chosen here)
    val_fraction: float = 0.2  # part of the prologue's training set held out for validation
    train_size: int | None = 1000  # MNIST training images, split into train/val (--tiny 500, --full all)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)

    def __post_init__(self):
        check_fraction("val_fraction", self.val_fraction)
        for name in ("hidden", "batch_size", "epochs", "patience"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")


def lr_factor(kind: str, epoch: int, epochs: int) -> float:
    """What the starting learning rate is multiplied by during epoch ``epoch`` (from 0) of
    ``epochs``, under the schedule ``kind``:

    - "step": divided by 10 every third of the training: 0.1 ** (epoch // (epochs // 3)),
      with a step of at least one epoch;
    - "cosine": (1 + cos(pi epoch / epochs)) / 2, from 1 down towards 0.

    Returns a float (1.0 at epoch 0).
    """
    if kind not in ("step", "cosine"):
        raise DlcError(f"lr_factor: the schedule is 'step' or 'cosine', got {kind!r}")
    ### BEGIN SOLUTION
    if kind == "step":
        return 0.1 ** (epoch // max(epochs // 3, 1))
    return (1 + math.cos(math.pi * epoch / epochs)) / 2
    ### END SOLUTION


def _factor_schedule(kind: str):
    """A scheduler whose rate in each epoch is the starting rate times ``lr_factor``."""
    return lambda optimizer, total: LambdaLR(optimizer, lambda epoch: lr_factor(kind, epoch, total))


def schedule(kind: str, epochs: int) -> list:
    """The callbacks that give a schedule: none for a constant learning rate; step and
    cosine from :func:`lr_factor`, one-cycle (changed at every step) from PyTorch."""
    if kind == "constant":
        return []
    if kind in ("step", "cosine"):
        return [LRSchedule(_factor_schedule(kind))]
    if kind == "one-cycle":
        # Plain SGD: keep the momentum out of it (one-cycle would otherwise cycle one in).
        return [LRSchedule("one-cycle", cycle_momentum=False)]
    raise DlcError(f"unknown schedule {kind!r}; choose one of {SCHEDULES}")


def train_with(model, kind: str, cfg: Config, ctx, train, val, order_seed: int, callbacks, name):
    """SGD on ``model`` under the schedule ``kind``, with ``callbacks`` besides the schedule's;
    returns the step and the history."""
    step = Supervised(model, torch.optim.SGD(model.parameters(), lr=cfg.lr), loss="cross_entropy")
    torch.manual_seed(order_seed)  # the same batches for every schedule
    history = fit(
        step,
        train,
        ctx,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        val=val,
        callbacks=[*schedule(kind, cfg.epochs), *callbacks],
        name=name,
    )
    return step, history


class LRTrace(Callback):
    """The learning rate of every step (placed after the schedule's callback: it reads the
    rate the scheduler set for the next step)."""

    def __init__(self):
        self.lrs: list[float] = []

    def _lr(self, loop) -> float:
        return next(iter(loop.step.optimizers().values())).param_groups[0]["lr"]

    def on_epoch_start(self, loop, epoch: int) -> None:
        if not self.lrs:  # the first step's rate, once every on_fit_start has run
            self.lrs.append(self._lr(loop))

    def on_batch_end(self, loop, step: int) -> None:
        self.lrs.append(self._lr(loop))


def schedules_figure(traces: dict, steps_per_epoch: int):
    """The learning rate of every step, for each schedule."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, lrs in traces.items():
        lrs = lrs[:-1]  # the last entry is the rate after the last step
        ax.plot([k / steps_per_epoch for k in range(len(lrs))], lrs, label=kind)
    ax.set_xlabel("epochs done (steps / steps per epoch)")
    ax.set_ylabel("learning rate")
    ax.set_title("learning-rate schedules, step by step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


class BestCheckpointPath(Callback):
    """Notes where the fit's ``best`` checkpoint goes (the loop names it)."""

    path = None

    def on_fit_start(self, loop) -> None:
        self.path = loop.checkpoint_path("best")


@lab(
    "training-protocol",
    source="EE-559 5.6",
    summary="learning-rate schedules (step, cosine, one-cycle) and train/val/test with early stopping",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    x, y, test_x, test_y = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, data_dir=ctx.data_dir, device=ctx.device, normalize=True
    )
    train, val = split(x, y, cfg.val_fraction, ctx.seed)
    make = lambda: MLP([x.shape[1], cfg.hidden, 10])
    initial = copy.deepcopy(make().state_dict())

    # 1. The schedules, from the same start on the same batches.
    histories, traces = {}, {}
    for kind in SCHEDULES:
        model = make()
        model.load_state_dict(initial)
        # Four short fits: a bar each (not with --quiet), their epoch records only, and
        # the rate of every step (the figures below compare them).
        traces[kind] = LRTrace()
        bar = [] if ctx.quiet else [ProgressBar(epoch_lines=False)]
        _, histories[kind] = train_with(
            model, kind, cfg, ctx, train, val, ctx.seed + 1, [*bar, MetricsLogger(every=0), traces[kind]], name=kind
        )
        h = histories[kind]
        ctx.print(
            f"{kind:>9}: train loss {h[0]['train_loss']:.3f} -> {h[-1]['train_loss']:.4f}, "
            f"validation loss {h[-1]['val_loss']:.3f}, error {h[-1]['val_error']:.1%}"
        )
    steps_per_epoch = -(-len(train[0]) // cfg.batch_size)
    ctx.save_figure(schedules_figure({k: t.lrs for k, t in traces.items()}, steps_per_epoch), "schedules")
    ctx.save_figure(
        viz.curves(
            {k: [r["train_loss"] for r in h] for k, h in histories.items()},
            ylabel="training loss",
            logy=True,
            title=f"SGD from lr {cfg.lr:g}, {cfg.epochs} epochs, by schedule",
        ),
        "train-loss",
    )

    # 2. The protocol: choose on validation, stop early on validation, test once.
    chosen = min(SCHEDULES, key=lambda k: min(r["val_loss"] for r in histories[k]))
    model = make()
    model.load_state_dict(initial)
    stopper = EarlyStopping(patience=cfg.patience, restore_best=True)
    where = BestCheckpointPath()
    # The run's standard callbacks (progress, metrics, TensorBoard, checkpoints of the last
    # and the best epoch), except the curves: the "protocol" figure below draws them.
    step, history = train_with(
        model,
        chosen,
        cfg,
        ctx,
        train,
        val,
        ctx.seed + 1,
        [*standard_callbacks(ctx, name="final", curves=False), stopper, where],
        name="final",
    )
    restored_val = evaluate(step, val, ctx)["loss"]
    best_saved = ckpt.load(where.path)
    same_weights = all(
        torch.equal(v.cpu(), best_saved["models"]["model"][k].cpu()) for k, v in model.state_dict().items()
    )
    test = evaluate(step, (test_x, test_y), ctx)  # the only use of the test set
    stopped = len(history)
    fig = viz.curves(
        {"train loss": [r["train_loss"] for r in history], "validation loss": [r["val_loss"] for r in history]},
        ylabel="cross-entropy",
        logy=True,
        title=f"final training ({chosen} schedule, chosen on validation), early stopping",
    )
    ax = fig.axes[0]
    ax.axvline(stopper.best_epoch, color="k", ls="--", lw=1, label=f"best validation loss: epoch {stopper.best_epoch}")
    ax.legend()
    ctx.save_figure(fig, "protocol")

    final = {k: h[-1]["train_loss"] for k, h in histories.items()}
    line = (
        "final train loss: "
        + ", ".join(f"{k} {v:.4f}" for k, v in final.items())
        + f"; chose {chosen} on validation, best epoch {stopper.best_epoch} of {stopped} "
        f"restored (val loss {restored_val:.4f}); test error {test['error']:.1%}"
    )
    return Result(
        line,
        metrics={
            "final_train_loss": final,
            "first_train_loss": {k: h[0]["train_loss"] for k, h in histories.items()},
            "final_val_loss": {k: h[-1]["val_loss"] for k, h in histories.items()},
            "chosen": chosen,
            "best_epoch": stopper.best_epoch,
            "epochs_trained": stopped,
            "best_val_loss": stopper.best,
            "restored_val_loss": restored_val,
            "best_checkpoint_epoch": best_saved["epoch"],
            "restored_is_best_checkpoint": same_weights,
            "test_error": test["error"],
            "test_loss": test["loss"],
        },
    )


def check(result: Result) -> list:
    """Every schedule learns; the protocol's early stopping restores the best checkpoint."""
    m = result.metrics
    out = [
        verdict(
            f"{kind}: final training loss / first epoch's",
            m["final_train_loss"][kind] / m["first_train_loss"][kind],
            "<",
            0.2,
        )
        for kind in SCHEDULES
    ]
    out += [
        verdict("restored weights equal the best checkpoint's (1 = yes)", m["restored_is_best_checkpoint"], "==", 1),
        verdict(
            "best checkpoint's epoch minus early stopping's best epoch",
            m["best_checkpoint_epoch"] - m["best_epoch"],
            "==",
            0,
        ),
        verdict(
            "restored model's validation loss vs the recorded best (relative difference)",
            abs(m["restored_val_loss"] - m["best_val_loss"]) / max(abs(m["best_val_loss"]), 1e-12),
            "<",
            1e-6,
        ),
        verdict("test error (chance 90%)", m["test_error"], "<", 0.5),
    ]
    return out


# -- exercises (`dlc exercise training-protocol`, then `dlc check training-protocol`) ---------


TASKS = [
    Task(
        "lr_factor",
        hint="step: 0.1 to the power of how many whole steps of max(epochs // 3, 1) epochs are done; "
        "cosine: (1 + cos(pi epoch / epochs)) / 2",
        cases=lambda g: [(kind, epochs) for epochs in (30, 10, 2) for kind in ("step", "cosine")],
        call=lambda f, kind, epochs: [f(kind, e, epochs) for e in range(epochs + 1)],
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
