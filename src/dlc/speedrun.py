"""Record-speed training of small convnets on 28 x 28 images (MNIST, Fashion-MNIST), on a CPU.

The course's recipe (``lecture-convnet``: plain SGD, batches of 100, 10 epochs) is written
to be understood; the speedrun labs (``mnist-speedrun``, ``fashion-speedrun``) are written
to be fast *and* understood. What they share is here; each trick is named where it is
used, with what it buys. ``benchmarks/bench_speedruns.py`` times the whole recipes against
the course's, side by side, and the labs' options take one trick away at a time (the
ablation).

The tricks:

1. **The data as one tensor in memory, normalised once** (:func:`load`): no Dataset, no
   DataLoader, no per-image transform; a batch is one indexing operation.
2. **Batch normalisation** (in each lab's network): the activations keep a steady scale,
   so a large learning rate is safe from the first step.
3. **Adam with betas (0.7, 0.9)** (:func:`train`, MNIST): a short memory of the gradients
   (the defaults 0.9 and 0.999 average over ~10 and ~1,000 steps), which suits a run of
   only a few hundred steps. Or **SGD with Nesterov momentum and weight decay**
   (Fashion-MNIST): slower to start, but it generalises better over a longer run. The
   weight decay can spare batch norm's scales and shifts (``decay_norms=False``): they
   set each channel's scale, not the function's complexity.
4. **One-cycle learning rate** (:func:`train`): a warm-up from lr/25 to lr, then a cosine
   anneal to almost zero; the large rate covers ground, the small one at the end settles.
   With SGD the momentum cycles the other way (0.95 -> 0.85 -> 0.95).
5. **The batch size, measured rather than assumed**: larger batches pay the per-step
   overhead less often, but on this 2-core CPU the MNIST net ran its two epochs about 2 s
   faster with batches of 100 than with 256, and as accurately (3 seeds each, interleaved),
   so ``mnist-speedrun`` keeps the lecture's 100. ``fashion-speedrun`` uses 128: per image
   as fast as 256 on this CPU, and twice the steps in the same time; at 7 epochs, 93.45%
   over 5 seeds (one thread, lr 0.2) against 93.25% for 256 (lr 0.4, 2 seeds).
6. **Channels-last memory format** (:func:`train`): oneDNN's CPU convolutions are fastest
   with the channels innermost.
7. **Label smoothing** (:func:`train`): the targets ask for 90% confidence instead of
   100%, so the last layer stops pushing its logits apart.
8. **Mirror augmentation and test-time mirroring** (Fashion-MNIST only: a mirrored shoe
   is a shoe, a mirrored 2 is not a 2): :func:`mirror` and the lab's prediction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dlc.engine.callbacks import Callback


# -- 1. the data: one tensor in memory, normalised once --------------------------------------
def load(name: str, train_size: int | None, test_size: int | None, data_dir=None, device="cpu"):
    """``(train_x, train_y, test_x, test_y)`` of ``name`` ("mnist" | "fashion-mnist"): the
    first ``train_size`` / ``test_size`` images of each split (None: all), as float
    N x 1 x 28 x 28 normalised with the training images' mean and standard deviation, and
    their int64 classes, on ``device``."""
    from dlc import data

    x, y = data.load(name, train=True, data_dir=data_dir, download=True)
    tx, ty = data.load(name, train=False, data_dir=data_dir, download=True)
    x, y, tx, ty = x[:train_size], y[:train_size], tx[:test_size], ty[:test_size]
    x = x.to(device).unsqueeze(1).float()
    tx = tx.to(device).unsqueeze(1).float()
    # Normalised here, once, with the training statistics only (the test set stands for
    # unseen data); nothing is recomputed per batch.
    mu, std = x.mean(), x.std()
    x.sub_(mu).div_(std)
    tx.sub_(mu).div_(std)
    return x, y.to(device).long(), tx, ty.to(device).long()


# -- 8. mirror augmentation (for images whose mirror has the same class) ----------------------
def mirror(x: torch.Tensor) -> torch.Tensor:
    """Mirror each image of the batch left-right with probability 1/2, in one operation:
    twice the training images for the price of a ``where``."""
    from dlc.data.augment import random_flip

    return random_flip(x)


# -- the per-step trace: what the schedule figure shows ----------------------------------------
class Trace(Callback):
    """The learning rate and the training loss of every step (the loss is read from the
    scores the loop logs anyway: no extra synchronisation)."""

    def __init__(self):
        self.lr: list[float] = []
        self.steps: list[int] = []
        self.loss: list[float] = []

    def on_batch_end(self, loop, step: int) -> None:
        # called after the optimizer step and before the scheduler's (the callbacks' order)
        self.lr.append(next(iter(loop.step.optimizers().values())).param_groups[0]["lr"])

    def on_steps_logged(self, loop, steps, scores) -> None:
        self.steps += steps
        self.loss += [s["loss"] for s in scores]


def train(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    ctx,
    *,
    epochs: int,
    batch_size: int = 100,
    lr: float = 2e-3,
    optimizer: str = "adam",
    betas: tuple[float, float] = (0.7, 0.9),
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    decay_norms: bool = True,
    warmup: float = 0.2,
    label_smoothing: float = 0.1,
    one_cycle: bool = True,
    channels_last: bool = True,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[list[dict], Trace]:
    """Train ``model`` on ``data`` = (inputs, classes) with the speedrun's optimiser,
    schedule and loss, through the engine's loop (progress bar, metrics, checkpoints).
    Returns the epoch records and the per-step :class:`Trace`.

    ``optimizer``: "adam" (with ``betas``) or "sgd" (Nesterov, ``momentum``); both with
    ``weight_decay`` (L2, added to the gradient), on every parameter, or with
    ``decay_norms=False`` on the convolution and linear weights only.

    ``one_cycle=False`` keeps ``lr`` constant, ``channels_last=False`` keeps torch's default
    layout, ``label_smoothing=0`` is the plain cross-entropy: the ablation's switches.
    """
    from dlc.engine import LRSchedule, Supervised, fit, standard_callbacks

    if channels_last:
        # 6. channels-last: the weights (and so every activation) laid out N x H x W x C,
        # the layout oneDNN's convolutions run fastest on; the 1-channel input is the same
        # either way.
        model.to(memory_format=torch.channels_last)
    params = list(model.parameters())
    if not decay_norms:
        # 3''. no weight decay on batch norm's scales and shifts, nor on biases (the 1-d
        # parameters): they set each channel's scale and offset, not how complex the
        # function is, and pulling them towards 0 only fights batch normalisation
        params = [
            {"params": [p for p in params if p.ndim > 1]},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
        ]
    if optimizer == "adam":
        # 3. Adam with short memories: beta_1 0.7 (momentum over ~3 steps), beta_2 0.9
        opt = torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)
    elif optimizer == "sgd":
        # 3'. SGD with Nesterov momentum: the gradient taken where the momentum is heading
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    # 7. label smoothing: the target is 1 - s at the class and s spread over all ten classes
    loss = functools.partial(F.cross_entropy, label_smoothing=label_smoothing)
    step = Supervised(model, opt, loss=loss, augment=augment)
    trace = Trace()
    callbacks = standard_callbacks(ctx, curves=False) + [trace]
    if one_cycle:
        # 4. one cycle: lr/25 -> lr over the first `warmup` of the steps, then a cosine down
        # to lr/25,000. SGD's momentum cycles against it (0.95 -> 0.85 -> 0.95: less
        # momentum while the steps are large); Adam's beta_1 stays as given.
        sgd = optimizer == "sgd"
        cycle = {"base_momentum": 0.85, "max_momentum": 0.95} if sgd else {}
        callbacks.append(LRSchedule("one-cycle", pct_start=warmup, cycle_momentum=sgd, **cycle))
    history = fit(step, data, ctx, epochs=epochs, batch_size=batch_size, shuffle=True, callbacks=callbacks)
    return history, trace


@torch.no_grad()
def predict(
    model: nn.Module,
    x: torch.Tensor,
    combine: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 250,
) -> torch.Tensor:
    """Class probabilities of the images ``x``, the model in eval mode, in batches of
    ``batch_size``; ``combine(model, batch)`` computes them otherwise (test-time
    augmentation), default ``model(batch).softmax(1)``.

    Small batches are faster here, not slower: a batch's activations should stay in the
    CPU's caches (2,000 Fashion-MNIST images make a 100 MB first feature map). Measured on
    the 2-core machine, FashionNet over 10,000 images: 0.68 s in batches of 250, 1.31 s
    in batches of 2,000 (medians of 5)."""
    combine = combine or (lambda m, xb: m(xb).softmax(1))
    was_training = model.training
    model.eval()
    try:
        return torch.cat([combine(model, x[b : b + batch_size]) for b in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)


def smoothed_loss_floor(label_smoothing: float, n_classes: int = 10) -> float:
    """The lowest cross-entropy a model can reach against smoothed targets: their entropy
    (with 0.1 over 10 classes, 0.50 rather than 0)."""
    import math

    q_true = 1 - label_smoothing + label_smoothing / n_classes
    q_other = label_smoothing / n_classes
    return -(q_true * math.log(q_true) + (n_classes - 1) * (q_other * math.log(q_other) if q_other else 0.0))


def schedule_figure(trace: Trace, title: str, steps_per_epoch: int, label_smoothing: float = 0.0):
    """The training loss of every step (and its running mean) with the learning rate on a
    second axis: the one-cycle schedule and what it does to the loss. With label smoothing,
    the lowest loss reachable is drawn too."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4))
    steps = trace.steps
    ax.plot(steps, trace.loss, color="tab:blue", alpha=0.3, linewidth=0.8, label="training loss, each step")
    if len(trace.loss) >= 5:
        k = max(len(trace.loss) // 40, 2)
        kernel = torch.ones(k) / k
        smooth = torch.nn.functional.conv1d(torch.tensor(trace.loss).view(1, 1, -1), kernel.view(1, 1, -1)).view(-1)
        ax.plot(steps[k - 1 :], smooth.tolist(), color="tab:blue", label=f"training loss, mean of {k} steps")
    if label_smoothing > 0:
        ax.axhline(
            smoothed_loss_floor(label_smoothing),
            color="grey",
            linestyle="--",
            linewidth=1,
            label=f"lowest loss possible with label smoothing {label_smoothing:g}",
        )
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(f"step ({steps_per_epoch} per epoch)")
    ax.set_ylabel("training loss (log scale)")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(range(1, len(trace.lr) + 1), trace.lr, color="tab:orange", label="learning rate")
    ax2.set_ylabel("learning rate")
    ax2.set_ylim(bottom=0)
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="upper right", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig
