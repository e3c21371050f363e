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

Exercises (``dlc exercise mini-framework``): the backward pass of each module (Linear,
ReLU, Tanh, Sequential, LossMSE), SGD's step and the training loop; their forward
passes come from ``dlc.scratch.modules``. ``dlc check mini-framework DIR`` grades a
whole framework package instead (the mini-project itself, see
:mod:`dlc.exercise.miniprojects`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlc import viz
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.scratch import modules as M

ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh"}  # --activation -> the class (this module's, looked up when used)
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
    return globals()[ACTIVATIONS[name]]


# -- the framework's modules: forward from dlc.scratch.modules, backward written here ---------


class Linear(M.Linear):
    """A fully connected layer, y = x w^T + b, with ``weight`` (out, in) and ``bias`` (out,).

    Its ``forward(x)`` (from ``dlc.scratch.modules``) keeps the input x, (N, in), in ``self.input``.
    """

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        """``grad`` is dL/dy, (N, out). Add dL/dw, (out, in), to ``self.grad_weight`` and dL/db, (out,),
        to ``self.grad_bias`` (add: gradients accumulate over backward passes until ``zero_grad``);
        return dL/dx, (N, in)."""
        ### BEGIN SOLUTION
        self.grad_weight.add_(grad.t() @ self.input)  # summed over the batch
        if self.bias is not None:
            self.grad_bias.add_(grad.sum(0))
        return grad @ self.weight
        ### END SOLUTION


class ReLU(M.ReLU):
    """max(0, x), element-wise; ``forward`` keeps its output in ``self.output``."""

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        """dL/dx from dL/dy (same shape): the gradient passes where x > 0, and is 0 elsewhere."""
        return grad * (self.output > 0).to(grad.dtype)  # SOLUTION


class Tanh(M.Tanh):
    """tanh(x), element-wise; ``forward`` keeps its output in ``self.output``."""

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        """dL/dx from dL/dy (same shape), with tanh'(x) = 1 - tanh(x)^2."""
        return grad * (1 - self.output * self.output)  # SOLUTION


class Sequential(M.Sequential):
    """The modules of ``self.modules`` one after the other; ``param()`` lists all their pairs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each module's forward, in order: the output of one is the input of the next."""
        ### BEGIN SOLUTION
        for m in self.modules:
            x = m.forward(x)
        return x
        ### END SOLUTION

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        """The chain rule: each module's backward, in reverse order, from dL/d(output) to
        dL/d(input); return dL/d(input)."""
        ### BEGIN SOLUTION
        for m in reversed(self.modules):
            grad = m.backward(grad)
        return grad
        ### END SOLUTION


class LossMSE(M.LossMSE):
    """L = mean((prediction - target)^2) over all the elements, as ``torch.nn.MSELoss``;
    ``forward(prediction, target)`` keeps ``prediction - target`` in ``self.diff``."""

    def backward(self, grad=None) -> torch.Tensor:
        """dL/d(prediction), the prediction's shape (``grad``, if given, multiplies it)."""
        ### BEGIN SOLUTION
        g = self.diff * (2.0 / self.diff.numel())
        return g if grad is None else g * grad
        ### END SOLUTION


class SGD(M.SGD):
    """Gradient descent on ``self.params``, a list of (parameter, gradient) pairs, with step
    size ``self.lr`` and ``self.momentum`` (``self.velocity``: one tensor or None per pair)."""

    def step(self) -> None:
        """Update each parameter in place: p -= lr d, with d the gradient g, or with momentum
        the velocity v = momentum v + g (v = g at the first step), as torch.optim.SGD."""
        ### BEGIN SOLUTION
        for i, (p, g) in enumerate(self.params):
            d = g
            if self.momentum:
                v = self.velocity[i]
                if v is None:
                    v = self.velocity[i] = g.clone()
                else:
                    v.mul_(self.momentum).add_(g)
                d = v
            p.add_(d, alpha=-self.lr)
        ### END SOLUTION


def disc_data(n: int, seed: int):
    """The mini-project's train and test sets, drawn independently (different seeds)."""
    from dlc.data.toy import disc

    train_x, train_y = disc(n, seed=seed)
    test_x, test_y = disc(n, seed=seed + 1)
    return train_x, train_y, test_x, test_y


def build_model(hidden: int = 25, activation: str = "relu") -> Sequential:
    """2 -> hidden -> hidden -> hidden -> 2, an activation after each hidden layer."""
    act = _activation(activation)
    return Sequential(
        Linear(2, hidden),
        act(),
        Linear(hidden, hidden),
        act(),
        Linear(hidden, hidden),
        act(),
        Linear(hidden, 2),
    )


def train_epoch(model, criterion, optimizer, x, target, batch_size: int) -> float:
    """One pass over shuffled mini-batches of ``x`` (N, D) and ``target`` (N, C): for each,
    forward, the loss, zero the gradients, backward from the loss, an optimizer step.
    Returns the mean loss over the epoch (a float)."""
    order = torch.randperm(len(x), device=x.device)
    total = 0.0
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        # the batch x[idx], target[idx]: compute its loss (a 0-d tensor), then train on it
        ### BEGIN SOLUTION
        loss = criterion.forward(model.forward(x[idx]), target[idx])
        optimizer.zero_grad()
        model.backward(criterion.backward())
        optimizer.step()
        ### END SOLUTION
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
    criterion = LossMSE()
    optimizer = SGD(model.param(), lr=cfg.lr, momentum=cfg.momentum)

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


# -- exercises (`dlc exercise mini-framework`, then `dlc check mini-framework`) ------------
# Each backward is compared with dlc's and with torch.autograd's gradients (float64). The
# modules are built inside the calls, from the case's weights; a parameter gradient is
# checked after two backward passes (they accumulate).


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _away_from_zero(g: torch.Generator, *shape: int) -> torch.Tensor:
    x = _randn(g, *shape)
    return x + 0.1 * x.sign()  # ReLU's kink stays out of the cases


def _autograd(fn, inputs, grads) -> list:
    """The gradients of sum_k <fn(inputs), grads_k> w.r.t. each input (torch.autograd)."""
    with torch.enable_grad():
        leaves = [t.detach().clone().requires_grad_() for t in inputs]
        out = fn(*leaves)
        total = sum((out * g).sum() for g in grads)
        return list(torch.autograd.grad(total, leaves))


def _linear(cls, w, b):
    layer = cls(w.shape[1], w.shape[0]).to(dtype=torch.float64)
    layer.weight.copy_(w)
    layer.bias.copy_(b)
    layer.zero_grad()
    return layer


def _linear_passes(cls, x, w, b, grads):
    """forward and backward once per gradient: dL/dx of the last pass, the accumulated dL/dw, dL/db."""
    layer = _linear(cls, w, b)
    for g in grads:
        layer.forward(x)
        gx = layer.backward(g)
    return gx, layer.grad_weight.clone(), layer.grad_bias.clone()


def _linear_autograd(x, w, b, g):
    gx, gw, gb = _autograd(lambda x, w, b: x @ w.t() + b, [x, w, b], [g])
    gx2, gw2, gb2 = _autograd(lambda x, w, b: x @ w.t() + b, [x, w, b], [g.flip(0)])
    return gx2, gw + gw2, gb + gb2


def _activation_pass(cls, x, g):
    m = cls()
    m.forward(x)
    return m.backward(g)


def _sequential(cls, w1, b1, w2, b2):
    seq = cls(_linear(M.Linear, w1, b1), M.Tanh(), _linear(M.Linear, w2, b2))  # dlc's layers, your chain
    seq.zero_grad()
    return seq


def _sequential_pass(cls, x, g, w1, b1, w2, b2):
    seq = _sequential(cls, w1, b1, w2, b2)
    out = seq.forward(x)
    return out, seq.backward(g), [grad.clone() for _, grad in seq.param()]


def _sequential_autograd(x, g, w1, b1, w2, b2):
    return _autograd(lambda x, w1, b1, w2, b2: torch.tanh(x @ w1.t() + b1) @ w2.t() + b2, [x, w1, b1, w2, b2], [g])


def _sequential_grads(cls, x, g, w1, b1, w2, b2):
    _, gx, grads = _sequential_pass(cls, x, g, w1, b1, w2, b2)
    return [gx, *grads]


def _sequential_cases(g):
    return [
        (_randn(g, 5, 3), _randn(g, 5, 2), _randn(g, 4, 3), _randn(g, 4), _randn(g, 2, 4), _randn(g, 2)),
        (_randn(g, 1, 3), _randn(g, 1, 2), _randn(g, 4, 3), _randn(g, 4), _randn(g, 2, 4), _randn(g, 2)),
    ]


def _mse_pass(cls, prediction, target):
    loss = cls()
    value = loss.forward(prediction, target)
    return value, loss.backward()


def _sgd_steps(cls, p, g, lr, momentum):
    """Three steps on one (parameter, gradient) pair, the gradient changing in between."""
    p, g = p.clone(), g.clone()
    optimizer = cls([(p, g)], lr=lr, momentum=momentum)
    trajectory = []
    for k in range(3):
        optimizer.step()
        trajectory.append(p.clone())
        g.mul_(-0.5).add_(0.1 * (k + 1))
    return trajectory


def _train_epoch_call(f, x, target, batch_size):
    """``f`` on a small network of dlc's modules: the epoch's mean loss and the trained weights."""
    model = M.Sequential(M.Linear(x.shape[1], 6), M.Tanh(), M.Linear(6, target.shape[1])).to(dtype=torch.float64)
    optimizer = M.SGD(model.param(), lr=0.05)
    loss = f(model, M.LossMSE(), optimizer, x, target, batch_size)
    return loss, [p.clone() for p, _ in model.param()]


def _train_cases(g):
    x = _randn(g, 23, 2)
    target = torch.zeros(23, 2, dtype=torch.float64).scatter_(1, (x[:, :1] > 0).long(), 1.0)
    return [(x, target, 5), (x[:6], target[:6], 6)]


TASKS = [
    Task(
        "Linear",
        hint="dL/dw is grad^T times the kept input and dL/db the sum of grad over the batch, both added to the "
        "gradients (never overwritten); dL/dx is grad times the weight",
        cases=lambda g: [
            (_randn(g, 5, 3), _randn(g, 4, 3), _randn(g, 4), _randn(g, 5, 4)),
            (_randn(g, 1, 6), _randn(g, 2, 6), _randn(g, 2), _randn(g, 1, 2)),
        ],
        call=lambda cls, x, w, b, g: _linear_passes(cls, x, w, b, [g]),
        grad=lambda cls, x, w, b, g: _linear_passes(cls, x, w, b, [g, g.flip(0)]),
        autograd=_linear_autograd,
    ),
    Task(
        "ReLU",
        hint="multiply the incoming gradient by 1 where the input was positive (the output is > 0), 0 elsewhere",
        cases=lambda g: [(_away_from_zero(g, 4, 6), _randn(g, 4, 6)), (_away_from_zero(g, 1, 3), _randn(g, 1, 3))],
        call=_activation_pass,
        grad=_activation_pass,
        autograd=lambda x, g: _autograd(torch.relu, [x], [g])[0],
    ),
    Task(
        "Tanh",
        hint="multiply the incoming gradient by 1 - tanh(x)^2, from the output kept by forward",
        cases=lambda g: [(_randn(g, 4, 6), _randn(g, 4, 6)), (3 * _randn(g, 2, 3), _randn(g, 2, 3))],
        call=_activation_pass,
        grad=_activation_pass,
        autograd=lambda x, g: _autograd(torch.tanh, [x], [g])[0],
    ),
    Task(
        "Sequential",
        hint="forward: through the modules in order, each output the next one's input; backward: through them "
        "in reverse order, each returned gradient the previous one's incoming gradient",
        cases=_sequential_cases,
        call=_sequential_pass,
        grad=_sequential_grads,
        autograd=_sequential_autograd,
    ),
    Task(
        "LossMSE",
        hint="the gradient of mean((p - t)^2) is 2 (p - t) / (number of elements)",
        cases=lambda g: [(_randn(g, 5, 2), _randn(g, 5, 2)), (_randn(g, 3, 4), _randn(g, 3, 4))],
        call=_mse_pass,
        grad=lambda cls, p, t: _mse_pass(cls, p, t)[1],
        autograd=lambda p, t: _autograd(lambda p: ((p - t) ** 2).mean(), [p], [torch.ones((), dtype=p.dtype)])[0],
    ),
    Task(
        "SGD",
        hint="p -= lr * g in place for each (p, g) pair; with momentum, v = momentum v + g (v = g at first), "
        "then p -= lr * v",
        cases=lambda g: [(_randn(g, 3, 2), _randn(g, 3, 2), 0.1, 0.0), (_randn(g, 4), _randn(g, 4), 0.05, 0.9)],
        call=_sgd_steps,
    ),
    Task(
        "train_epoch",
        hint="for each batch, in this order: the criterion's loss on the model's output, the optimizer's "
        "zero_grad, the model's backward from the criterion's gradient, the optimizer's step",
        cases=_train_cases,
        call=_train_epoch_call,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
