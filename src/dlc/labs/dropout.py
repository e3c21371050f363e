"""Dropout (EE-559 6.3): zeroing units at random while training fights over-fitting; at
test time the network is deterministic.

During training, ``nn.Dropout(p)`` sets each unit to 0 with probability p and multiplies
the others by 1 / (1 - p), so that a unit's expected value is unchanged; a different mask
is drawn at every forward pass. No unit can rely on a particular other one being there,
which discourages the co-adapted, memorised features a large network builds on a small
training set (Srivastava et al. 2014). In eval mode (``model.eval()``) dropout is the
identity: the full network, whose activations already have the right expectation.

Set-up (the lecture's slides are not among this project's sources; the sizes are ours,
Srivastava et al.'s MNIST choices for the rates): a setting that over-fits, few MNIST
images (1,000 by default; 500 and 20 epochs with --tiny) and a wide MLP 784 -> 512 -> 512 -> 10 (ReLU),
trained with plain SGD (lr 0.05, batches of 50, 40 epochs) to zero training error. The
same net, from the same initial weights and batches, is trained again with dropout: 0.2 on
the inputs and 0.5 after each hidden layer. Train and test loss and error are measured
every epoch, in eval mode.

Measured, beside the curves: two forward passes of the same inputs through the dropout
net, in eval mode (identical) and in train mode (different masks, different outputs).

Check, in the same run: the dropout net's train/test gap (test loss minus training loss) is
smaller than the plain net's, and so is its test loss; its test error is not higher than the
plain net's by more than 1 point (with a few hundred images the error gain is small, and
within the noise of 100 test images at --tiny: it is reported, the loss is what is claimed);
eval mode is deterministic (the two passes differ by exactly 0) and train mode is not
(they differ). ``--epochs 0`` trains nothing: only the two mode verdicts are made.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlc import prologue
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.deep import deep_mlp


@dataclass
class Config:
    width: int = 512  # units of each of the two hidden layers (at least 1)
    p: float = 0.5  # dropout probability after each hidden layer (Srivastava et al.'s 0.5; in [0, 1))
    p_input: float = 0.2  # dropout probability on the input pixels (Srivastava et al.'s 0.2; in [0, 1))
    lr: float = 0.05  # SGD's learning rate
    batch_size: int = 50  # images per SGD step
    epochs: int = 40  # passes over the training images; 0: untrained nets, only the mode checks
    train_size: int | None = 1000  # MNIST training images: few, so that the plain net over-fits
    # (--tiny 500, --full all 60,000: then there is little to over-fit)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    TINY = {"epochs": 20}  # 500 images over-fit in 20 epochs already
    THREADS = 1

    def __post_init__(self):
        if self.width < 1:
            raise UsageError(f"--width must be at least 1, got {self.width}")
        for name in ("p", "p_input"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UsageError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        if self.p == 0 and self.p_input == 0:
            raise UsageError("--p and --p_input are both 0: the dropout net would be the plain one")


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout of probability ``p`` on ``x`` (any shape). In training, each value is set to 0
    with probability p, independently (a new random mask at every call), and the others are
    multiplied by 1 / (1 - p), so that each value's expectation is unchanged; otherwise (eval
    mode) ``x`` itself. Returns a tensor of ``x``'s shape and dtype."""
    ### BEGIN SOLUTION
    if not training or p == 0:
        return x
    keep = (torch.rand(x.shape, device=x.device) >= p).to(x.dtype)
    return x * keep / (1 - p)
    ### END SOLUTION


class Dropout(nn.Module):
    """:func:`dropout` as a layer: random in train mode, the identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def make_net(width: int, p: float = 0.0, p_input: float = 0.0) -> nn.Sequential:
    """784 -> width -> width -> 10, ReLU; :class:`Dropout` (p_input) first and Dropout(p)
    after each hidden layer when those are positive. The Linear layers are created in the
    same order whatever p, so that one seed gives both nets the same initial weights."""
    net = deep_mlp(784, width, 2, 10, dropout=p)
    layers = [Dropout(m.p) if isinstance(m, nn.Dropout) else m for m in net]
    return nn.Sequential(*([Dropout(p_input)] if p_input > 0 else []), *layers)


def two_passes(net: nn.Module, x: torch.Tensor, train: bool) -> float:
    """The largest difference between two forward passes of ``x`` in the given mode."""
    net.train(train)
    with torch.no_grad():
        return float((net(x) - net(x)).abs().max())


def curves_figure(histories: dict[str, list[dict]]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = {"plain": "C3", "dropout": "C0"}
    for name, history in histories.items():
        epochs = [r["epoch"] for r in history]
        for ax, what in zip(axes, ("loss", "error")):
            ax.plot(
                epochs,
                [r[f"train_{what}"] for r in history],
                color=colors[name],
                linestyle="--",
                label=f"{name}: train",
            )
            ax.plot(epochs, [r[f"test_{what}"] for r in history], color=colors[name], label=f"{name}: test")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("cross-entropy (eval mode, log scale)")
    axes[0].set_title("loss: the gap between train (dashed) and test (solid)")
    axes[1].set_ylabel("error rate (eval mode)")
    axes[1].set_title("error")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("a wide MLP on few MNIST images, with and without dropout")
    fig.tight_layout()
    return fig


def modes_figure(net: nn.Module, image: torch.Tensor):
    """The dropout net's 10 outputs for one image: two passes in train mode, two in eval mode."""
    import matplotlib.pyplot as plt

    passes = {}
    with torch.no_grad():
        for mode, train in (("train", True), ("eval", False)):
            net.train(train)
            for k in (1, 2):
                passes[f"{mode} mode, pass {k}"] = net(image[None])[0].cpu()
    net.eval()
    fig, ax = plt.subplots(figsize=(9, 4))
    colors = ["C1", "C3", "C0", "C2"]
    for i, ((label, out), color) in enumerate(zip(passes.items(), colors)):
        ax.bar(torch.arange(10) + (i - 1.5) * 0.2, out, width=0.2, color=color, label=label)
    ax.set_xticks(range(10))
    ax.set_xlabel("class")
    ax.set_ylabel("output (logit)")
    ax.set_title("one test image through the dropout net: train mode draws new masks, eval mode is fixed")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


@lab(
    "dropout",
    source="EE-559 6.3",
    summary="dropout on an over-fitting MLP (few MNIST images): smaller train/test gap; eval mode is deterministic",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc.engine import Callback, MetricsLogger, Supervised, evaluate, fit

    x, y, xt, yt = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, normalize=True, data_dir=ctx.data_dir, device=ctx.device
    )

    class Measure(Callback):
        """Train and test loss and error in eval mode at the end of every epoch (the
        epoch's running training loss of a dropout net is that of thinned networks)."""

        def __init__(self, step, out):
            self.step, self.out = step, out

        def on_epoch_end(self, loop, record):
            tr, te = evaluate(self.step, (x, y), ctx), evaluate(self.step, (xt, yt), ctx)
            self.out.append(
                {
                    "epoch": record["epoch"],
                    "train_loss": tr["loss"],
                    "train_error": tr["error"],
                    "test_loss": te["loss"],
                    "test_error": te["error"],
                }
            )

    histories, final, nets = {}, {}, {}
    for name, (p, p_in) in (("plain", (0.0, 0.0)), ("dropout", (cfg.p, cfg.p_input))):
        torch.manual_seed(ctx.seed)  # the same initial weights and batches for both nets
        net = make_net(cfg.width, p, p_in).to(ctx.device)
        step = Supervised(net, torch.optim.SGD(net.parameters(), lr=cfg.lr), loss="cross_entropy")
        histories[name] = []
        if cfg.epochs:
            fit(
                step,
                (x, y),
                ctx,
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                callbacks=[MetricsLogger(every=0), Measure(step, histories[name])],
                name=name,
            )
        tr, te = evaluate(step, (x, y), ctx), evaluate(step, (xt, yt), ctx)
        final[name] = {
            "train_loss": tr["loss"],
            "train_error": tr["error"],
            "test_loss": te["loss"],
            "test_error": te["error"],
            "gap": te["loss"] - tr["loss"],
        }
        nets[name] = net
        ctx.log(model=name, **final[name])
    if cfg.epochs:
        ctx.save_figure(curves_figure(histories), "curves")

    # train mode draws a new mask at every pass; eval mode is the full, fixed network
    probe = xt[:100]
    eval_diff = two_passes(nets["dropout"], probe, train=False)
    train_diff = two_passes(nets["dropout"], probe, train=True)
    nets["dropout"].eval()
    ctx.save_figure(modes_figure(nets["dropout"], xt[0]), "modes")

    pl, dr = final["plain"], final["dropout"]
    line = (
        f"test error {dr['test_error']:.1%} with dropout vs {pl['test_error']:.1%} without; train/test loss gap "
        f"{dr['gap']:.2f} vs {pl['gap']:.2f}; two passes differ by {eval_diff:g} in eval mode, "
        f"{train_diff:.2g} in train mode"
    )
    if not cfg.epochs:
        line = "no training (--epochs 0): " + line
    metrics = {f"{n}_{k}": v for n, row in final.items() for k, v in row.items()}
    metrics.update(
        {
            "epochs": cfg.epochs,
            "eval_mode_difference": eval_diff,
            "train_mode_difference": train_diff,
            "train_samples": len(x),
            "test_samples": len(xt),
        }
    )
    return Result(line, metrics=metrics)


def check(result: Result) -> list:
    m = result.metrics
    out = []
    if m["epochs"]:
        out += [
            verdict("dropout net's train/test loss gap, below the plain net's", m["dropout_gap"], "<", m["plain_gap"]),
            verdict(
                "dropout net's test loss, below the plain net's", m["dropout_test_loss"], "<", m["plain_test_loss"]
            ),
            verdict(
                "dropout net's test error, at most the plain net's + 1 point",
                m["dropout_test_error"],
                "<=",
                m["plain_test_error"] + 0.01,
            ),
        ]
    out += [
        verdict("eval mode: two passes differ by (deterministic)", m["eval_mode_difference"], "==", 0.0),
        verdict("train mode: two passes differ by (random masks)", m["train_mode_difference"], ">", 0.0),
    ]
    return out


# -- exercises (`dlc exercise dropout`, then `dlc check dropout`) --------------------------


def _dropout_facts(f, x: torch.Tensor, p: float) -> dict:
    """What every correct dropout shows, whatever random numbers it draws: eval mode returns
    x; in train mode the share of zeros is p (rounded to 0.1 on these thousands of values),
    the kept values are x / (1 - p), and two calls draw different masks."""
    a, b = f(x, p, True), f(x, p, True)
    kept = a != 0
    ratio = a[kept] / x[kept]
    return {
        "eval mode": f(x, p, False),
        "train mode, share of zeros (to 0.1)": round(float((~kept).double().mean()), 1),
        "train mode, kept value / x (min, max)": (ratio.min(), ratio.max()),
        "train mode, two calls differ": bool((a != b).any()),
    }


TASKS = [
    Task(
        "dropout",
        hint="in training, draw a mask that keeps each value with probability 1 - p (torch.rand(x.shape) >= p), "
        "multiply x by it and divide by 1 - p; in eval mode return x unchanged",
        cases=lambda g: [
            (torch.randn(100, 50, generator=g, dtype=torch.float64) + 3, 0.5),
            (torch.randn(4000, generator=g, dtype=torch.float64) + 3, 0.2),
        ],
        call=_dropout_facts,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
