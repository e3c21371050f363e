"""Early stopping as regularisation (EDHEC "Regularization: early stopping").

A wide MLP on a small MNIST training set, where 40% of the labels are wrong (as real
labels sometimes are), first learns what the digits have in common, then memorises
the wrong labels one by one: the training loss keeps falling, but the validation loss
(on held-out samples labelled the same way) turns up, and the test error with it.
Early stopping watches the validation loss and stops when it has not improved for
``patience`` epochs, then puts back the weights of the best epoch: the number of epochs
becomes a hyper-parameter chosen on validation data, like any other.

The same network is also trained from the same initialisation, on the same batches, for
all ``max_epochs`` without stopping, to show what early stopping saved it from. The test
set (MNIST's own, correct labels) is used once per model, at the end. With
``--label_noise 0`` the validation loss still turns up (over-confidence), but the test
error keeps improving: it is memorising wrong labels that hurts.

Check: training stopped before ``max_epochs``; the restored weights' validation loss
equals the best epoch's; both trainings saw the same losses until the stop (same start,
same batches); trained to the end, the validation loss rises well above its minimum (over
1.2 times); the early-stopped model's test error is below the over-trained one's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from dlc import prologue, viz
from dlc.engine import EarlyStopping, MetricsLogger, Supervised, evaluate, fit
from dlc.engine.callbacks import ProgressBar
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.mlp import MLP
from dlc.stats import check_fraction, split


@dataclass
class Config:
    hidden: int = 500  # units of the one wide hidden layer: far more capacity than 800 samples need (at least 1)
    lr: float = 0.1  # SGD's learning rate (chosen here: the course gives no numbers)
    label_noise: float = 0.4  # fraction of training and validation labels redrawn at random (0 to 1)
    batch_size: int = 100  # samples per SGD mini-batch
    max_epochs: int = 100  # epochs of the run without stopping, and the most early stopping may train (at least 1)
    patience: int = 10  # epochs without a better validation loss before stopping (at least 1)
    val_fraction: float = 0.2  # of the prologue's training images, held out for validation (between 0 and 1)
    train_size: int | None = 1000  # MNIST training images, split into train/val (--tiny 500, --full all)
    test_size: int | None = 1000  # MNIST test images, clean labels (--tiny 100, --full all 10,000)

    def __post_init__(self):
        for name in ("hidden", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        check_fraction("val_fraction", self.val_fraction)
        check_label_noise(self.label_noise)


def check_label_noise(fraction: float) -> None:
    if not 0 <= fraction <= 1:
        raise UsageError(f"label_noise must be between 0 and 1 (e.g. 0.4), got {fraction}")


def corrupt(y: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """A copy of the labels with about ``fraction`` of them redrawn uniformly at random."""
    check_label_noise(fraction)
    g = torch.Generator().manual_seed(seed)
    pick = torch.rand(len(y), generator=g) < fraction
    noisy = y.clone()
    noisy[pick.to(y.device)] = torch.randint(0, 10, (int(pick.sum()),), generator=g).to(y.device)
    return noisy


def patience_rule(val_losses: list[float], patience: int) -> tuple[int, bool]:
    """Early stopping's rule, applied after every epoch.

    ``val_losses``: the validation loss after each epoch so far (epoch 1 first). Returns
    (best, stop): ``best`` is the number (from 1) of the epoch with the lowest loss, the
    first of them if several are equal; ``stop`` is True once ``patience`` epochs have
    passed since that epoch without a lower loss.
    """
    ### BEGIN SOLUTION
    best = min(range(len(val_losses)), key=val_losses.__getitem__) + 1
    return best, len(val_losses) - best >= patience
    ### END SOLUTION


class PatienceStopping(EarlyStopping):
    """The engine's early stopping (the best epoch's weights are put back when the fit
    ends), deciding by :func:`patience_rule` on the validation loss."""

    def __init__(self, patience: int):
        super().__init__(patience=patience, restore_best=True)
        self.losses: list[float] = []

    def on_epoch_end(self, loop, record: dict) -> None:
        self.losses.append(float(record["val_loss"]))
        best, stop = patience_rule(self.losses, self.patience)
        if best == len(self.losses):  # this epoch is the best so far: keep its weights
            self.best, self.best_epoch = self.losses[-1], record["epoch"]
            self.best_weights = {
                name: {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
                for name, m in loop.step.models().items()
            }
        if stop:
            self.stopped_epoch = record["epoch"]
            loop.should_stop = True

    def state_dict(self) -> dict:
        return {**super().state_dict(), "losses": list(self.losses)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.losses = list(state["losses"])


def train(model, cfg: Config, ctx, data, val, order_seed: int, callbacks=(), name=None):
    """SGD on ``model``; ``order_seed`` fixes the batches, so two runs see the same ones.
    Returns the step and the history; the fit writes its epoch records to metrics.jsonl."""
    step = Supervised(model, torch.optim.SGD(model.parameters(), lr=cfg.lr), loss="cross_entropy")
    torch.manual_seed(order_seed)
    bar = [] if ctx is None or ctx.quiet else [ProgressBar(epoch_lines=False)]
    history = fit(
        step,
        data,
        ctx,
        epochs=cfg.max_epochs,
        batch_size=cfg.batch_size,
        val=val,
        callbacks=[*callbacks, MetricsLogger(every=0), *bar],
        name=name,
    )
    return step, history


def stopping_figure(curves: dict, best: int, stopped: int, cfg: Config):
    """The losses of the run without stopping, with the best epoch and the stop marked
    (in the legend, so that close marks cannot overlap)."""
    fig = viz.curves(
        curves,
        ylabel="cross-entropy (noisy labels)",
        logy=True,
        title=f"early stopping with patience {cfg.patience}: losses of the run trained to the end",
    )
    ax = fig.axes[0]
    ax.axvline(best, color="tab:green", linestyle="--", linewidth=1.2, label=f"best validation loss (epoch {best})")
    ax.plot([best], [curves["validation loss"][best - 1]], "o", color="tab:green", markersize=6)
    ax.axvline(stopped, color="k", linestyle=":", linewidth=1.2, label=f"early stop (epoch {stopped})")
    ax.axvspan(best, stopped, color="0.85", alpha=0.5, label="patience: epochs without improvement")
    ax.legend(fontsize=8, loc="center right")
    ax.title.set_fontsize(10)
    return fig


@lab(
    "early-stopping",
    source="EDHEC regularization",
    summary="early stopping with patience on the validation loss of an over-fitting MLP",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    x, y, test_x, test_y = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, data_dir=ctx.data_dir, device=ctx.device, normalize=True
    )
    (x, y), (val_x, val_y) = split(x, y, cfg.val_fraction, ctx.seed)
    # Training and validation labels come from the same (noisy) source; the test labels are clean.
    data = (x, corrupt(y, cfg.label_noise, ctx.seed + 2))
    val = (val_x, corrupt(val_y, cfg.label_noise, ctx.seed + 3))
    test = (test_x, test_y)

    model = MLP([x.shape[1], cfg.hidden, 10])
    initial = copy.deepcopy(model.state_dict())
    stopper = PatienceStopping(cfg.patience)
    step, history = train(model, cfg, ctx, data, val, ctx.seed + 1, [stopper], "early")
    restored_val = evaluate(step, val, ctx)["loss"]

    # The same start and the same batches, trained to the end.
    reference = MLP([x.shape[1], cfg.hidden, 10])
    reference.load_state_dict(initial)
    ref_step, full = train(reference, cfg, ctx, data, val, ctx.seed + 1, name="no-stopping")

    stopped = len(history)
    best = stopper.best_epoch
    test_early, test_full = evaluate(step, test, ctx), evaluate(ref_step, test, ctx)
    ctx.print(
        f"stopped after epoch {stopped} of {cfg.max_epochs}; best validation loss "
        f"{stopper.best:.4f} at epoch {best}; restored weights give {restored_val:.4f}"
    )

    curves = {"train loss": [r["train_loss"] for r in full], "validation loss": [r["val_loss"] for r in full]}
    ctx.save_figure(stopping_figure(curves, best, stopped, cfg), "early-stopping")

    line = (
        f"stopped at epoch {stopped}/{cfg.max_epochs} (best {best}, patience {cfg.patience}); "
        f"test loss {test_early['loss']:.3f} vs {test_full['loss']:.3f} and test error "
        f"{test_early['error']:.1%} vs {test_full['error']:.1%} without stopping"
    )
    return Result(
        line,
        metrics={
            "stopped_epoch": stopped,
            "best_epoch": best,
            "max_epochs": cfg.max_epochs,
            "best_val_loss": stopper.best,
            "restored_val_loss": restored_val,
            "final_val_loss_without_stopping": full[-1]["val_loss"],
            "test_loss": test_early["loss"],
            "test_error": test_early["error"],
            "test_loss_without_stopping": test_full["loss"],
            "test_error_without_stopping": test_full["error"],
            "same_start": [r["train_loss"] for r in history] == curves["train loss"][:stopped],
        },
    )


def check(result: Result) -> list:
    """Early stopping stops, puts the best epoch back, and that regularises."""
    m = result.metrics
    return [
        verdict("epochs trained with early stopping", m["stopped_epoch"], "<", m["max_epochs"]),
        verdict(
            "restored weights' validation loss vs the best epoch's (relative difference)",
            abs(m["restored_val_loss"] - m["best_val_loss"]) / max(abs(m["best_val_loss"]), 1e-12),
            "<",
            1e-6,
        ),
        verdict("both trainings alike until the stop (1 = yes)", m["same_start"], "==", 1),
        verdict(
            "validation loss trained to the end / its minimum",
            m["final_val_loss_without_stopping"] / m["best_val_loss"],
            ">",
            1.2,
        ),
        verdict(
            "test error, early-stopped minus trained to the end",
            m["test_error"] - m["test_error_without_stopping"],
            "<",
            0,
        ),
    ]


# -- exercises (`dlc exercise early-stopping`, then `dlc check early-stopping`) --------------


TASKS = [
    Task(
        "patience_rule",
        hint="the best epoch is 1 + the index of the first smallest loss; stop once the number of epochs after it "
        "reaches patience",
        cases=lambda g: [
            ([2.0, 1.5, 1.2, 1.3, 1.25, 1.4], 3),  # best 3, three epochs without better: stop
            ([2.0, 1.5, 1.2, 1.3, 1.25], 3),  # two epochs after the best: go on
            ([1.0, 1.0, 1.0, 1.0], 3),  # equal losses: the first is the best, none improves
            ([0.9], 1),
            ([3.0, 2.0, 2.5, 1.0, 1.5], 1),
            (torch.rand(12, generator=g, dtype=torch.float64).tolist(), 4),
        ],
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
