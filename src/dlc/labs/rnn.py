"""Recurrent neural networks (EE-559 11.1): a state carried along the sequence, trained by
back-propagation through time.

An Elman network reads a sequence x_1 .. x_T one element at a time and keeps a state

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   h_0 = 0,

and a linear layer reads the answer off the last state h_T. The lab writes this
recurrence from its equation (:class:`ElmanRNN`, with the parameter names and shapes of
``torch.nn.RNN``), writes back-propagation through time by hand (:func:`bptt`), and
checks both against torch: the same outputs as ``nn.RNN`` with the same weights, the
same gradients as autograd, in float64.

The task needs memory: a sequence of ``length`` random symbols (out of ``symbols``), and
the class is the *first* symbol, seen ``length - 1`` steps before the answer. Trained the
same way and for the same epochs:

- the hand-written RNN with full back-propagation through time;
- ``nn.RNN`` (the same recurrence in one fused call), from the same initial weights
  (the two differ only by floating-point rounding, which training then amplifies);
- the same RNN with back-propagation *truncated* to the last ``truncate`` steps (the
  state is detached before them): the gradient never reaches the first symbol;
- a baseline that sees only the last symbol (a linear classifier on x_T).

Check: the equations equal ``nn.RNN`` (1e-12) and hand BPTT equals autograd (1e-10);
the fully trained RNN's test accuracy is far above chance (1 / symbols) and above the
last-symbol baseline's, and truncated BPTT ends clearly below full BPTT. (Truncated BPTT
is not at chance: the recurrent weights it learns from the last steps are the same ones
that carry the state from the first step, so some memory comes for free; how much is
the measured gap.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlc import viz
from dlc.data.toy import data_seeds
from dlc.engine import Supervised, evaluate, fit, standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict


@dataclass
class Config:
    length: int = 20  # sequence length T: the answer is the symbol seen T - 1 steps earlier
    symbols: int = 4  # alphabet size (chance accuracy is 1 / symbols)
    hidden: int = 32  # size of the state h_t
    truncate: int = 3  # steps kept by truncated back-propagation through time
    epochs: int = 10  # passes over the training sequences
    lr: float = 3e-3  # Adam's step size
    batch_size: int = 32  # sequences per step
    train_sequences: int = 2000  # training sequences
    test_sequences: int = 1000  # test sequences
    TINY = {"train_sequences": 800, "test_sequences": 500, "epochs": 5, "length": 10}
    THREADS = 1  # 32-unit states: one thread is fastest

    def __post_init__(self):
        for name in ("length", "hidden", "truncate", "epochs", "train_sequences", "test_sequences"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.symbols < 2:
            raise UsageError(f"--symbols must be at least 2, got {self.symbols}")
        if self.truncate >= self.length:
            raise UsageError(f"--truncate ({self.truncate}) must be below --length ({self.length})")


def first_symbol_task(n: int, length: int, symbols: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n one-hot sequences (n x length x symbols) and their classes, the first symbols."""
    seq = torch.randint(0, symbols, (n, length), generator=torch.Generator().manual_seed(seed))
    return nn.functional.one_hot(seq, symbols).float(), seq[:, 0].clone()


class ElmanRNN(nn.Module):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), written as a loop over time.

    Parameters are initialised as ``nn.RNN``'s: uniform in [-1/sqrt(H), 1/sqrt(H)].
    ``forward`` returns every state, N x T x H. ``truncate=k`` detaches the state k steps
    before the end, so back-propagation only goes through the last k steps."""

    def __init__(self, inputs: int, hidden: int):
        super().__init__()
        bound = hidden**-0.5
        self.weight_ih = nn.Parameter(torch.empty(hidden, inputs).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(hidden, hidden).uniform_(-bound, bound))
        self.bias_ih = nn.Parameter(torch.empty(hidden).uniform_(-bound, bound))
        self.bias_hh = nn.Parameter(torch.empty(hidden).uniform_(-bound, bound))
        self.truncate: int | None = None

    def forward(self, x: torch.Tensor, keep: list | None = None) -> torch.Tensor:
        """The states h_1 .. h_T (N x T x H) for inputs ``x`` (N x T x inputs), from h_0 = 0.

        ``keep``: a list to which each h_t is appended (the tensors of the graph, so
        that gradients with respect to them can be asked for)."""
        n, length, _ = x.shape
        h = x.new_zeros(n, self.weight_hh.shape[0])
        states = []
        for t in range(length):
            if self.truncate is not None and t == length - self.truncate:
                h = h.detach()  # no gradient flows to the steps before this one
            h = torch.tanh(x[:, t] @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh)  # SOLUTION
            states.append(h)
        if keep is not None:
            keep.extend(states)
        return torch.stack(states, 1)


def bptt(rnn: ElmanRNN, x: torch.Tensor, states: torch.Tensor, grad_last: torch.Tensor) -> dict[str, torch.Tensor]:
    """Back-propagation through time by hand: the gradients of a loss whose gradient with
    respect to the last state h_T is ``grad_last`` (N x H); ``x`` (N x T x inputs) are the
    inputs and ``states`` (N x T x H) the forward's h_1..h_T. Returns a dict of the four
    parameters' gradients, by name, each the shape of its parameter."""
    n, length, _ = x.shape
    grads = {name: torch.zeros_like(p) for name, p in rnn.named_parameters()}
    dh = grad_last
    ### BEGIN SOLUTION
    for t in reversed(range(length)):
        h_prev = states[:, t - 1] if t > 0 else torch.zeros_like(dh)
        da = dh * (1 - states[:, t] ** 2)  # through tanh
        grads["weight_ih"] += da.T @ x[:, t]
        grads["weight_hh"] += da.T @ h_prev
        grads["bias_ih"] += da.sum(0)
        grads["bias_hh"] += da.sum(0)
        dh = da @ rnn.weight_hh  # to the previous state
    ### END SOLUTION
    return grads


class Classifier(nn.Module):
    """A recurrent encoder (ours or nn.RNN) and a linear layer on the last state."""

    def __init__(self, rnn: nn.Module, hidden: int, classes: int):
        super().__init__()
        self.rnn, self.fc = rnn, nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = self.rnn(x)
        states = states[0] if isinstance(states, tuple) else states  # nn.RNN returns (output, h_n)
        return self.fc(states[:, -1])


class LastSymbol(nn.Module):
    """The baseline without memory: a linear classifier on the last element alone."""

    def __init__(self, symbols: int):
        super().__init__()
        self.fc = nn.Linear(symbols, symbols)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x[:, -1])


def torch_rnn_like(ours: ElmanRNN) -> nn.RNN:
    """An ``nn.RNN`` holding our weights (its names end in ``_l0``: layer 0)."""
    hidden, inputs = ours.weight_ih.shape
    rnn = nn.RNN(inputs, hidden, batch_first=True).to(ours.weight_ih.dtype)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(rnn, f"{name}_l0").copy_(getattr(ours, name))
    return rnn


def equation_checks(cfg: Config, seed: int) -> dict:
    """Our recurrence against nn.RNN, and hand BPTT against autograd, in float64."""
    torch.manual_seed(seed)
    ours = ElmanRNN(cfg.symbols, cfg.hidden).double()
    x, _ = first_symbol_task(16, cfg.length, cfg.symbols, seed)
    x = x.double()
    states = ours(x)
    theirs, _ = torch_rnn_like(ours)(x)
    grad_last = torch.randn(16, cfg.hidden, dtype=torch.float64)
    auto = torch.autograd.grad(states[:, -1], list(ours.parameters()), grad_last)
    hand = bptt(ours, x, states.detach(), grad_last)
    return {
        "forward_vs_nn_rnn": float((states - theirs).abs().max().detach()),
        "bptt_vs_autograd": max(
            float((a - hand[name]).abs().max().detach()) for (name, _), a in zip(ours.named_parameters(), auto)
        ),
    }


def gradient_through_time(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """|dL/dh_t| averaged over the batch, for t = 1..T: how much each step's state matters."""
    states: list[torch.Tensor] = []
    out = model.rnn(x, keep=states)
    loss = nn.functional.cross_entropy(model.fc(out[:, -1]), y)
    grads = torch.autograd.grad(loss, states)
    return [float(g.norm(dim=1).mean()) for g in grads]


@lab(
    "rnn",
    source="EE-559 11.1",
    summary="an Elman RNN from its equations and BPTT by hand; remembering the first symbol; truncated BPTT",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    checks = equation_checks(cfg, ctx.seed)
    train_seed, test_seed = data_seeds(ctx.seed)
    train = first_symbol_task(cfg.train_sequences, cfg.length, cfg.symbols, train_seed)
    test = first_symbol_task(cfg.test_sequences, cfg.length, cfg.symbols, test_seed)

    torch.manual_seed(ctx.seed)
    ours = ElmanRNN(cfg.symbols, cfg.hidden)
    # name in the figures -> model; the short names label checkpoints and metrics records
    short = ["rnn", "nn-rnn", "truncated", "last-symbol"]
    models = {
        "RNN from its equations": Classifier(ours, cfg.hidden, cfg.symbols),
        "nn.RNN, same initial weights": None,
        f"truncated BPTT ({cfg.truncate} steps)": None,
        "last symbol only (no memory)": LastSymbol(cfg.symbols),
    }
    first = models["RNN from its equations"]
    twin = Classifier(torch_rnn_like(ours), cfg.hidden, cfg.symbols)
    twin.fc.load_state_dict(first.fc.state_dict())
    models["nn.RNN, same initial weights"] = twin
    truncated = Classifier(ElmanRNN(cfg.symbols, cfg.hidden), cfg.hidden, cfg.symbols)
    truncated.load_state_dict(first.state_dict())
    truncated.rnn.truncate = cfg.truncate
    models[f"truncated BPTT ({cfg.truncate} steps)"] = truncated
    grad_before = gradient_through_time(first, *test)

    accuracy, curves = {}, {}
    for i, (name, model) in enumerate(models.items()):
        step = Supervised(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), metric="accuracy")
        history = fit(
            step,
            train,
            ctx,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            val=test,
            val_name="test",
            name=short[i],
            callbacks=standard_callbacks(ctx, short[i], curves=False),  # one figure for all four
        )
        accuracy[name] = evaluate(step, test, ctx)["accuracy"]
        curves[name] = [r["test_accuracy"] for r in history]
    grad_after = gradient_through_time(first, *test)

    chance = 1 / cfg.symbols
    fig = viz.curves(
        curves, ylabel="test accuracy", title=f"Recalling the first of {cfg.length} symbols (chance {chance:.0%})"
    )
    fig.axes[0].axhline(chance, color="gray", linestyle=":", label="chance")
    fig.axes[0].legend(fontsize=8)
    ctx.save_figure(fig, "accuracy")
    fig = viz.curves(
        {"before training": grad_before, "after training": grad_after},
        x=list(range(1, cfg.length + 1)),
        xlabel="time step t (the answer is read at t = T)",
        ylabel="mean |dL / dh_t|",
        title="Back-propagation through time: the gradient reaching each state",
        logy=True,
    )
    ctx.save_figure(fig, "gradient_through_time")

    full, trunc = accuracy["RNN from its equations"], accuracy[f"truncated BPTT ({cfg.truncate} steps)"]
    twin_acc, last = accuracy["nn.RNN, same initial weights"], accuracy["last symbol only (no memory)"]
    line = (
        f"recall of the first of {cfg.length} symbols: RNN {full:.1%}, nn.RNN {twin_acc:.1%}, "
        f"truncated BPTT {trunc:.1%}, last symbol only {last:.1%} (chance {chance:.0%}); equations = nn.RNN "
        f"to {checks['forward_vs_nn_rnn']:.0e}, hand BPTT = autograd to {checks['bptt_vs_autograd']:.0e}"
    )
    return Result(
        line,
        metrics={
            **checks,
            "test_accuracy": accuracy,
            "chance": chance,
            "untrained_gradient_first_over_last": grad_before[0] / grad_before[-1],
            "trained_gradient_first_over_last": grad_after[0] / grad_after[-1],
            "epochs": cfg.epochs,
        },
    )


def check(result: Result) -> list:
    m = result.metrics
    acc, chance = m["test_accuracy"], m["chance"]
    trunc = next(v for k, v in acc.items() if k.startswith("truncated"))
    full, last = acc["RNN from its equations"], acc["last symbol only (no memory)"]
    return [
        verdict("max |h (equations) - h (nn.RNN)|, float64", m["forward_vs_nn_rnn"], "<", 1e-12),
        verdict("max |hand BPTT - autograd|, float64", m["bptt_vs_autograd"], "<", 1e-10),
        verdict("RNN test accuracy, far above chance", full, ">", chance + 0.5 * (1 - chance)),
        verdict("RNN accuracy minus the last-symbol baseline's", full - last, ">", 0.3),
        verdict("full BPTT accuracy minus truncated BPTT's", full - trunc, ">", 0.15),
    ]


# -- exercises (`dlc exercise rnn`, then `dlc check rnn`) --------------------------------------


def _sequences(g: torch.Generator) -> list[tuple]:
    """Inputs (N x T x 3) and a gradient on the last state (N x 5), float64."""
    shapes = ((2, 4), (1, 1), (3, 7))
    return [
        (torch.randn(n, t, 3, generator=g, dtype=torch.float64), torch.randn(n, 5, generator=g, dtype=torch.float64))
        for n, t in shapes
    ]


def _hand_bptt(f, x, grad_last):
    rnn = ElmanRNN(x.shape[2], grad_last.shape[1]).double()  # dlc's, seeded the same for both
    return f(rnn, x, rnn(x).detach(), grad_last)


def _autograd_bptt(x, grad_last):
    rnn = ElmanRNN(x.shape[2], grad_last.shape[1]).double()
    grads = torch.autograd.grad(rnn(x)[:, -1], list(rnn.parameters()), grad_last)
    return dict(zip([name for name, _ in rnn.named_parameters()], grads))


TASKS = [
    Task(
        "ElmanRNN",
        hint="at each step t, h = tanh(x_t W_ih^T + b_ih + h W_hh^T + b_hh), with x_t = x[:, t] (N x inputs) and "
        "h the previous state (N x H)",
        cases=lambda g: [(x,) for x, _ in _sequences(g)],
        build=lambda cls: cls(3, 5),
        grad=True,
    ),
    Task(
        "bptt",
        hint="walk back from t = T: through the tanh (da = dh (1 - h_t^2)), add step t's share to each of the four "
        "gradients, then pass dh = da W_hh on to the previous state (h_0 = 0)",
        cases=lambda g: [(x, gl) for x, gl in _sequences(g)],
        call=_hand_bptt,
        grad=_hand_bptt,
        autograd=_autograd_bptt,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
