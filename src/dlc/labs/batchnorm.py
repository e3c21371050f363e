"""Batch normalization (EE-559 6.4): normalising each unit over the mini-batch lets a
deep network train at a learning rate where the plain one diverges.

``nn.BatchNorm1d`` (Ioffe and Szegedy 2015) takes, in training, each unit's mean and
variance over the mini-batch, normalises the unit to mean 0 and variance 1, then applies
a learned scale (weight, gamma) and shift (bias, beta). The layers above then see inputs of
a controlled scale whatever the weights below do, so a large step no longer blows the
activations up layer after layer. It also keeps running averages of those means and
variances (momentum 0.1: running = 0.9 running + 0.1 batch; the variance unbiased); in
eval mode these *running statistics* replace the batch's, so that a sample's output does
not depend on the other samples of its batch.

Set-up (the lecture's slides are not among this project's sources; the sizes are ours):
MNIST inputs (flattened, normalised), an MLP 784 -> 100 x 10 hidden layers -> 10, ReLU,
He init (so that the plain net trains at a small step), cross-entropy, plain SGD (batches
of 100, 10 epochs). The same net is built with a BatchNorm1d after each hidden Linear
(before the ReLU); both start from the same weights and see the same batches. Each is
trained at a small learning rate (0.01) and at a large one (0.5).

Measured after training, on the BN net's first BatchNorm1d layer in eval mode: its output
for test inputs equals (x - running_mean) / sqrt(running_var + eps) * weight + bias
computed by hand from the layer's buffers, and differs from what the test batch's own
statistics would give.

Check, in the same run: at the large lr the plain net diverges or stalls (final training
loss NaN, or above 2, near chance ln 10 = 2.30) while the BN net's training loss is below
half its start; at the small lr both nets learn (final training loss below 3/4 of the
start); BN's eval output equals the hand computation from the running statistics (max
difference < 1e-4) and differs from the batch-statistics one (> 1e-3). ``--epochs 0``
trains nothing: the running statistics are then still their initial 0 and 1, and only the
eval-mode verdicts are made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from dlc import prologue
from dlc.errors import NonFiniteLoss, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.deep import deep_mlp


@dataclass
class Config:
    small_lr: float = 0.01  # SGD step at which both nets should train
    large_lr: float = 0.5  # SGD step at which the plain net diverges or stalls
    depth: int = 10  # hidden layers (at least 1)
    width: int = 100  # units of each hidden layer (at least 1)
    batch_size: int = 100  # images per SGD step (BN's statistics are over this batch; at least 2)
    epochs: int = 10  # passes over the training images; 0: nothing trained, only the eval-mode checks
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    THREADS = 1

    def __post_init__(self):
        for name in ("depth", "width"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise UsageError(
                f"--batch_size must be at least 2 (a batch's variance needs two samples), got {self.batch_size}"
            )
        if not self.large_lr > self.small_lr:
            raise UsageError(f"--large_lr ({self.large_lr}) must be larger than --small_lr ({self.small_lr})")


def batch_norm(
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch normalization of ``h`` (N samples x C units), as ``nn.BatchNorm1d`` computes it.

    In training: each unit's mean and (biased) variance over the batch normalise it,
    (h - mean) / sqrt(var + eps), then times ``weight`` plus ``bias`` (C each); the running
    statistics move towards the batch's, running = (1 - momentum) running + momentum batch
    (for the variance the batch's *unbiased* one, N / (N - 1) times the biased). In eval
    mode: the running statistics normalise, and they stay as they are.

    Returns ``(out, running_mean, running_var)``: out N x C, and the new running statistics
    (C each; new tensors, the inputs are not modified).
    """
    ### BEGIN SOLUTION
    if training:
        n = h.size(0)
        mean, var = h.mean(0), h.var(0, unbiased=False)
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    else:
        mean, var = running_mean, running_var
    out = (h - mean) / torch.sqrt(var + eps) * weight + bias
    ### END SOLUTION
    return out, running_mean, running_var


class BatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d``'s parameters and buffers, with its forward computed by
    :func:`batch_norm`."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out, mean, var = batch_norm(
            h, self.weight, self.bias, self.running_mean, self.running_var, self.training, self.momentum, self.eps
        )
        if self.training:
            with torch.no_grad():  # buffers: no gradient flows through the running statistics
                self.running_mean.copy_(mean)
                self.running_var.copy_(var)
                self.num_batches_tracked += 1
        return out


def make_net(depth: int, width: int, batchnorm: bool) -> nn.Sequential:
    """784 -> width x depth -> 10, ReLU, He-normal weights and zero biases; with
    ``batchnorm`` a :class:`BatchNorm1d` (this lab's) after each hidden Linear. The Linear
    layers are drawn in the same order either way: one seed gives both nets the same weights."""
    net = deep_mlp(784, width, depth, 10, batchnorm=batchnorm)
    for i, m in enumerate(net):
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d):
            net[i] = BatchNorm1d(m.num_features)
    return net


def by_hand(bn: nn.BatchNorm1d, h: torch.Tensor, running: bool = True) -> torch.Tensor:
    """BatchNorm1d's output for ``h`` (N x C), from its running statistics or from the
    batch's own (biased variance, as in training)."""
    if running:
        mean, var = bn.running_mean, bn.running_var
    else:
        mean, var = h.mean(0), h.var(0, unbiased=False)
    return (h - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


@torch.no_grad()
def eval_mode_check(net: nn.Sequential, x: torch.Tensor) -> dict:
    """The first BatchNorm1d's eval output against the hand computations."""
    net.eval()
    k = next(i for i, m in enumerate(net) if isinstance(m, nn.BatchNorm1d))
    bn = net[k]
    h = net[:k](x)  # the input of that BN layer
    out = bn(h)
    return {
        "running_difference": float((out - by_hand(bn, h, running=True)).abs().max()),
        "batch_difference": float((out - by_hand(bn, h, running=False)).abs().max()),
        "running_mean_norm": float(bn.running_mean.norm()),
    }


COLORS = {"plain": "C3", "batchnorm": "C0"}


def curves_figure(curves: dict, lrs: dict, steps_per_epoch: int):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, (which, lr) in zip(axes, lrs.items()):
        for name in ("plain", "batchnorm"):
            losses = curves[(name, which)]
            steps = [e * steps_per_epoch for e in range(len(losses))]
            finite = [v if math.isfinite(v) else float("nan") for v in losses]
            label = name if not any(not math.isfinite(v) for v in losses) else f"{name} (diverged)"
            ax.plot(steps, finite, marker="o", markersize=3, color=COLORS[name], label=label)
            if label.endswith("(diverged)"):
                last = max([i for i, v in enumerate(losses) if math.isfinite(v)], default=0)
                ax.plot(steps[last], min(finite[last], 4.5), "x", color=COLORS[name], markersize=12, mew=3)
                ax.annotate(
                    f"{name}: loss NaN during epoch {last + 1}",
                    (steps[last], min(finite[last], 4.5)),
                    textcoords="offset points",
                    xytext=(12, 20),
                    color=COLORS[name],
                    fontsize=9,
                )
        ax.axhline(math.log(10), color="gray", linestyle=":", label="chance (ln 10)")
        ax.set_title(f"{which} learning rate, lr = {lr:g}")
        ax.set_xlabel("SGD steps")
        ax.set_ylim(0, 4.6)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("training loss (cross-entropy)")
    fig.suptitle("the same 10-layer MLP with and without batch normalization")
    fig.tight_layout()
    return fig


@lab(
    "batchnorm",
    source="EE-559 6.4",
    summary="batch normalization: a deep MLP trains at a step where the plain one diverges; eval uses running stats",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc.engine import MetricsLogger, Supervised, evaluate, fit

    x, y, xt, yt = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, normalize=True, data_dir=ctx.data_dir, device=ctx.device
    )
    lrs = {"small": cfg.small_lr, "large": cfg.large_lr}
    curves, table, bn_net = {}, {}, None
    for which, lr in lrs.items():
        for name in ("plain", "batchnorm"):
            torch.manual_seed(ctx.seed)  # the same weights and batches for both nets
            net = make_net(cfg.depth, cfg.width, name == "batchnorm").to(ctx.device)
            step = Supervised(net, torch.optim.SGD(net.parameters(), lr=lr), loss="cross_entropy")
            start = evaluate(step, (x, y), ctx)["loss"]
            history, diverged = [], False
            if cfg.epochs:
                try:
                    history = fit(
                        step,
                        (x, y),
                        ctx,
                        epochs=cfg.epochs,
                        batch_size=cfg.batch_size,
                        callbacks=[MetricsLogger(every=0)],
                        name=f"{name}-{which}",
                    )
                except NonFiniteLoss:
                    diverged = True
            losses = [start] + [r["train_loss"] for r in history]
            if diverged:
                losses.append(float("nan"))
            curves[(name, which)] = losses
            final = float("nan") if diverged else evaluate(step, (x, y), ctx)["loss"]
            test_error = float("nan") if diverged else evaluate(step, (xt, yt), ctx)["error"]
            table[(name, which)] = {
                "start_loss": start,
                "train_loss": final,
                "test_error": test_error,
                "diverged": diverged,
                "lr": lr,
            }
            ctx.log(model=name, lr_setting=which, **table[(name, which)])
            ctx.print(
                f"{name:9s} lr {lr:<5g}: training loss {start:.3f} -> {final:.3f}"
                + (" (diverged)" if diverged else f", test error {test_error:.1%}")
            )
            if name == "batchnorm" and which == "small":
                bn_net = net
    steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
    ctx.save_figure(curves_figure(curves, lrs, steps_per_epoch), "training_loss")
    ev = eval_mode_check(bn_net, xt)
    ctx.log(**ev)

    def loss(name, which):
        row = table[(name, which)]
        return "diverged" if row["diverged"] else f"{row['train_loss']:.2f}"

    line = (
        f"training loss at lr {cfg.large_lr:g}: plain {loss('plain', 'large')}, BN {loss('batchnorm', 'large')}; "
        f"at lr {cfg.small_lr:g}: plain {loss('plain', 'small')}, BN {loss('batchnorm', 'small')}; BN eval output "
        f"vs running statistics by hand {ev['running_difference']:.1e}, "
        f"vs batch statistics {ev['batch_difference']:.2g}"
    )
    if not cfg.epochs:
        line = "no training (--epochs 0): " + line
    metrics = {f"{n}_{w}_{k}": v for (n, w), row in table.items() for k, v in row.items()}
    metrics.update(ev)
    metrics.update({"epochs": cfg.epochs, "steps": cfg.epochs * steps_per_epoch})
    return Result(line, metrics=metrics)


def check(result: Result) -> list:
    m = result.metrics
    out = []
    if m["epochs"]:
        out += [
            verdict(
                "plain net at the large lr: final training loss (inf: diverged), above 2 (chance 2.30)",
                math.inf if m["plain_large_diverged"] else m["plain_large_train_loss"],
                ">",
                2.0,
            ),
            verdict(
                "BN net at the large lr: final / start training loss",
                m["batchnorm_large_train_loss"] / m["batchnorm_large_start_loss"],
                "<",
                0.5,
            ),
            verdict(
                "plain net at the small lr: final / start training loss",
                m["plain_small_train_loss"] / m["plain_small_start_loss"],
                "<",
                0.75,
            ),
            verdict(
                "BN net at the small lr: final / start training loss",
                m["batchnorm_small_train_loss"] / m["batchnorm_small_start_loss"],
                "<",
                0.75,
            ),
        ]
    out += [
        verdict("BN eval output minus running-statistics formula (max)", m["running_difference"], "<", 1e-4),
        verdict("BN eval output minus batch-statistics formula (max)", m["batch_difference"], ">", 1e-3),
    ]
    return out


# -- exercises (`dlc exercise batchnorm`, then `dlc check batchnorm`) ----------------------


def _bn_cases(g: torch.Generator) -> list[tuple]:
    out = []
    for n, c, training in ((32, 5, True), (2, 3, True), (16, 4, False)):
        h = torch.randn(n, c, generator=g, dtype=torch.float64) * 3 + 2
        weight, bias = (
            torch.rand(c, generator=g, dtype=torch.float64) + 0.5,
            torch.randn(c, generator=g, dtype=torch.float64),
        )
        mean, var = (
            torch.randn(c, generator=g, dtype=torch.float64),
            torch.rand(c, generator=g, dtype=torch.float64) + 0.5,
        )
        out.append((h, weight, bias, mean, var, training))
    return out


def _normalised(f, *args):
    """The output (differentiable), and the running statistics (values only: the layer
    stores them as buffers, without gradient)."""
    out, mean, var = f(*args)
    return out, mean.detach(), var.detach()


TASKS = [
    Task(
        "batch_norm",
        hint="in training normalise each unit (column) with the batch's mean and biased variance and move the "
        "running statistics by momentum towards the batch's mean and unbiased variance; in eval mode normalise "
        "with the running statistics; then times weight plus bias",
        cases=_bn_cases,
        call=_normalised,
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
