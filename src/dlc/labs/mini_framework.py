"""A framework without autograd (EE-559 mini-project 2): modules with an explicit backward.

The mini-project's own test: 1,000 training and 1,000 test points uniform in [0, 1]^2,
class 1 inside the disc of radius 1/sqrt(2 pi) centred at (0.5, 0.5) (half the square,
so chance is about 50% error); a network 2 -> 25 -> 25 -> 25 -> 2 built from
``dlc.scratch.modules`` (Linear, ReLU or Tanh, Sequential), trained with LossMSE on
one-hot targets and SGD, torch's autograd switched off. Each module's ``backward`` turns
the gradient of its output into the gradient of its input, accumulating its
parameters' gradients on the way. The lab does not use dlc's training loop: the
mini-project's framework has its own (``train_epoch``), and its sizes are options
(``n`` points, ``epochs``; --tiny trains 12 epochs).

Check: the final test error is a few percent (under 10%), far below chance (under a
quarter of the majority class's error, itself about 50%).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlc import viz
from dlc.errors import UsageError
from dlc.labs import Result, lab, verdict
from dlc.scratch import modules as M

ACTIVATIONS = {"relu": M.ReLU, "tanh": M.Tanh}
MAX_TEST_ERROR = 0.10  # the check: "a few percent"


@dataclass
class Config:
    n: int = 1000  # training points, and as many test points (the mini-project's 1,000)
    hidden: int = 25  # units in each of the three hidden layers (the mini-project's 25)
    activation: str = "relu"  # after each hidden layer: "relu" or "tanh" (the framework has both)
    epochs: int = 50  # passes over the training set (the mini-project fixes none: chosen here)
    batch_size: int = 10  # points per SGD step (chosen here)
    lr: float = 0.1  # SGD step size (chosen here)
    momentum: float = 0.0  # SGD momentum, in [0, 1); 0: plain SGD
    TINY = {"epochs": 12}
    THREADS = 1  # 10 x 25 matrices: a second thread only adds synchronisation

    def __post_init__(self):
        _activation(self.activation)
        for name in ("n", "hidden", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise UsageError(f"--lr must be positive, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise UsageError(f"--momentum must be in [0, 1), got {self.momentum}")


def _activation(name: str):
    if name not in ACTIVATIONS:
        raise UsageError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r} (e.g. --activation tanh)")
    return ACTIVATIONS[name]


def disc_data(n: int, seed: int):
    """The mini-project's train and test sets, drawn independently (different seeds)."""
    from dlc.data.toy import disc

    train_x, train_y = disc(n, seed=seed)
    test_x, test_y = disc(n, seed=seed + 1)
    return train_x, train_y, test_x, test_y


def build_model(hidden: int = 25, activation: str = "relu") -> M.Sequential:
    """2 -> hidden -> hidden -> hidden -> 2, an activation after each hidden layer."""
    act = _activation(activation)
    return M.Sequential(
        M.Linear(2, hidden),
        act(),
        M.Linear(hidden, hidden),
        act(),
        M.Linear(hidden, hidden),
        act(),
        M.Linear(hidden, 2),
    )


def train_epoch(model, criterion, optimizer, x, target, batch_size: int) -> float:
    """One pass over shuffled mini-batches: forward, loss, backward, step. Mean loss."""
    order = torch.randperm(len(x), device=x.device)
    total = 0.0
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        loss = criterion.forward(model.forward(x[idx]), target[idx])
        optimizer.zero_grad()
        model.backward(criterion.backward())
        optimizer.step()
        total += loss.item() * len(idx)
    return total / len(x)


def nb_errors(model, x, y) -> int:
    return int((model.forward(x).argmax(1) != y).sum())


def regions_figure(predict, x, y):
    """The network's classes over the square, the test points, and the true disc."""
    import math

    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig = viz.decision_regions(predict, x, y, title="learned regions (shading) and the test points")
    ax = fig.axes[0]
    ax.add_patch(plt.Circle((0.5, 0.5), 1 / math.sqrt(2 * math.pi), fill=False, color="k", ls="--", lw=1))
    colour = plt.get_cmap("coolwarm")
    ax.legend(
        handles=[
            Line2D([], [], ls="", marker="o", color=colour(0.0), label="class 0 (outside)"),
            Line2D([], [], ls="", marker="o", color=colour(1.0), label="class 1 (inside)"),
            Line2D([], [], color="k", ls="--", lw=1, label="the true disc"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=3,
        fontsize=8,
    )
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    fig.tight_layout()
    return fig


@lab(
    "mini-framework",
    source="EE-559 mini-project 2",
    summary="A framework without autograd: Linear/ReLU/Tanh/Sequential/MSE/SGD on the disc set",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    device = ctx.device
    train_x, train_y, test_x, test_y = (t.to(device) for t in disc_data(cfg.n, ctx.seed))
    # Centre and scale the inputs with the training statistics: the disc sits at (0.5, 0.5),
    # and zero-mean inputs let the first ReLUs split the plane through the data.
    mu, std = train_x.mean(0), train_x.std(0)
    train_in, test_in = (train_x - mu) / std, (test_x - mu) / std
    target = torch.zeros(len(train_y), 2, device=device).scatter_(1, train_y[:, None], 1.0)

    model = build_model(cfg.hidden, cfg.activation).to(device)
    criterion = M.LossMSE()
    optimizer = M.SGD(model.param(), lr=cfg.lr, momentum=cfg.momentum)

    losses, test_errors = [], []
    # no_grad: the mini-project's rule, no autograd anywhere. One thread: with 10 x 25
    # matrices, handing work to a second thread costs more than it saves.
    with torch.no_grad():
        for epoch in range(1, cfg.epochs + 1):
            loss = train_epoch(model, criterion, optimizer, train_in, target, cfg.batch_size)
            test_err = nb_errors(model, test_in, test_y) / len(test_y)
            losses.append(loss)
            test_errors.append(test_err)
            ctx.log(kind="epoch", epoch=epoch, loss=loss, test_error=test_err)
            ctx.print(f"epoch {epoch:3d}  loss {loss:.4f}  test error {test_err:.2%}")
        train_err = nb_errors(model, train_in, train_y)
        test_err = nb_errors(model, test_in, test_y)

    ctx.save_figure(
        viz.curves({"train MSE": losses}, ylabel="loss", logy=True, title="mini-framework: training loss"), "loss"
    )
    ctx.save_figure(
        viz.curves(
            {"test error": test_errors},
            ylabel="error rate",
            title=f"mini-framework: test error after each epoch ({len(test_y)} points)",
        ),
        "test_error",
    )

    def predict(points):
        with torch.no_grad():
            return model.forward((points.to(device) - mu) / std).argmax(1).cpu()

    ctx.save_figure(regions_figure(predict, test_x.cpu(), test_y.cpu()), "regions")

    n_train, n_test = len(train_y), len(test_y)
    chance = float((test_y == 1).float().mean())
    chance = min(chance, 1 - chance)
    return Result(
        f"train error {train_err / n_train:.2%} ({train_err} / {n_train}), "
        f"test error {test_err / n_test:.2%} ({test_err} / {n_test}); "
        f"majority-class error {chance:.1%}",
        metrics={
            "train_error": train_err / n_train,
            "test_error": test_err / n_test,
            "majority_error": chance,
            "first_loss": losses[0],
            "final_loss": losses[-1],
            "epochs": cfg.epochs,
        },
    )


def check(result: Result) -> list:
    """The mini-project's point: the framework trains the network to a few percent of test
    error, far below the majority class's."""
    m = result.metrics
    return [
        verdict("test error", m["test_error"], "<", MAX_TEST_ERROR),
        verdict("test error / the majority class's", m["test_error"] / m["majority_error"], "<", 0.25),
    ]
