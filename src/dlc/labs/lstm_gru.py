"""LSTM and GRU against the plain RNN as the dependency grows longer (EE-559 11.2).

A plain (Elman) RNN multiplies its state by ``W_hh`` and by ``tanh'`` at every step, so
the gradient that reaches an input ``T`` steps back shrinks geometrically: it cannot
learn dependencies longer than a few steps. The LSTM and the GRU carry their state
through a *gated* path instead: the LSTM's cell ``c_t = f_t * c_{t-1} + i_t * g_t`` and the
GRU's ``h_t = z_t * h_{t-1} + (1 - z_t) * n_t`` are, when the forget gate ``f_t`` (the
update gate ``z_t``) is near 1, almost the identity, and so is their Jacobian: the
gradient goes back without vanishing.

The task: a sequence of ``length`` random symbols (out of ``symbols``, one-hot) with a
second input channel, a marker, set at one position among the first quarter of the
sequence; the class is the *marked* symbol. Every other symbol is a distractor, and the
answer is read at the last step, at least ``3 length / 4`` steps after the marked one.
``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` (the same hidden size, a linear layer on the last
state) are trained the same way (Adam, gradient norm clipped to 1) at each length.

The gates start open "to keep": the LSTM's forget-gate bias and the GRU's update-gate
bias are set to ``gate_bias`` (3: sigma(3) = 0.95), an initialisation in the spirit of
Jozefowicz et al. (2015), who set the forget bias to 1. Measured with this lab's
defaults (seed 0, 15 epochs of 2,000 sequences): at length 30, bias 1 left the LSTM at
chance (29%) while bias 3 reached 100%; the GRU reached 100% with either. At length
40 the LSTM with bias 3 reached 75% (bias 5: 100%), and the plain RNN is at chance from
length 20 on (31% at 20, 25% at 30 and 40; 75% at 10, 100% at 5).

Measured with the defaults (lengths 5, 10, 20, 30; seed 0): the plain RNN 100%, 61%, 25%,
25%; the LSTM and the GRU 100% at every length. Untrained, |dL/dh_1| / |dL/dh_30| is
8e-9 for the RNN, 7e-2 for the LSTM, 0.3 for the GRU. At ``--tiny`` (lengths 4 and 16):
the RNN 100% then 37%, the LSTM and the GRU 100% at both.

The cells from their equations: :func:`lstm_cell` and :func:`gru_cell` compute one step
with torch's weight layout; run over a sequence with the weights of ``nn.LSTM`` and
``nn.GRU`` they give the same states (float64).

The gradient through time: for each architecture, untrained and trained, the lab
steps through the longest sequences one element at a time with these cells (and the
Elman step for the plain RNN), the trained modules' own weights, keeps every state h_t
and asks autograd for ``|dL / dh_t|`` (averaged over the test sequences), t = 1..T.

Check (all in the same run): the cells' states equal ``nn.LSTM``'s and ``nn.GRU``'s
(1e-12, float64); at the shortest length every architecture is well above
chance; at the longest, the LSTM's and the GRU's test accuracy exceed the plain RNN's by
more than 0.3; before training, the gradient reaching the first state (relative to the
last) is more than ten times larger for the LSTM and the GRU than for the plain RNN.
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
from dlc.options import parse_list

ARCHITECTURES = ("RNN", "LSTM", "GRU")
COLOURS = {"RNN": "tab:red", "LSTM": "tab:blue", "GRU": "tab:green"}


@dataclass
class Config:
    lengths: str = "5,10,20,30"  # sequence lengths T, comma-separated (the answer is read at step T)
    symbols: int = 4  # alphabet size (chance accuracy is 1 / symbols)
    hidden: int = 32  # size of the state h_t (and of the LSTM's cell c_t)
    gate_bias: float = 3.0  # initial LSTM forget-gate and GRU update-gate bias (0: torch's default)
    epochs: int = 15  # passes over the training sequences, at each length
    lr: float = 1e-2  # Adam's step size
    batch_size: int = 128  # sequences per step
    train_sequences: int = 2000  # training sequences, at each length
    test_sequences: int = 1000  # test sequences, at each length
    TINY = {"lengths": "4,16", "train_sequences": 1000, "test_sequences": 300, "epochs": 10}
    THREADS = 1  # 32-unit states: one thread is fastest

    def __post_init__(self):
        lengths = parse_list("lengths", self.lengths, int, check=lambda v: 2 <= v <= 10_000, example="5,10,20,30")
        if lengths != sorted(set(lengths)):
            raise UsageError(f"--lengths must be increasing and distinct, got {self.lengths!r}")
        for name in ("hidden", "epochs", "batch_size", "train_sequences", "test_sequences"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.symbols < 2:
            raise UsageError(f"--symbols must be at least 2, got {self.symbols}")
        if abs(self.gate_bias) > 20:
            raise UsageError(f"--gate_bias must be between -20 and 20, got {self.gate_bias}")

    @property
    def length_list(self) -> list[int]:
        return [int(v) for v in self.lengths.split(",")]


def marked_symbol_task(n: int, length: int, symbols: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n sequences (n x length x (symbols + 1)): one-hot symbols and a marker channel set
    at one position among the first quarter; the classes are the marked symbols."""
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(0, symbols, (n, length), generator=g)
    where = torch.randint(0, max(1, length // 4), (n,), generator=g)
    x = torch.zeros(n, length, symbols + 1)
    x[..., :symbols] = nn.functional.one_hot(seq, symbols).float()
    rows = torch.arange(n)
    x[rows, where, symbols] = 1.0
    return x, seq[rows, where].clone()


def recurrent(kind: str, inputs: int, hidden: int, gate_bias: float) -> nn.Module:
    """``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``; the gated ones with their "keep" gate's bias set.

    torch stores the gates' weights stacked: LSTM (input, forget, cell, output), GRU
    (reset, update, new). A gate's bias is ``bias_ih + bias_hh``; we set the first to
    ``gate_bias`` and the second to 0 for the forget (LSTM) or update (GRU) gate."""
    rnn = getattr(nn, kind)(inputs, hidden, batch_first=True)
    if kind in ("LSTM", "GRU"):
        with torch.no_grad():
            rnn.bias_ih_l0[hidden : 2 * hidden] = gate_bias
            rnn.bias_hh_l0[hidden : 2 * hidden] = 0.0
    return rnn


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step: inputs ``x`` (N x I), previous state ``h`` and cell ``c`` (N x H), and
    the weights as ``nn.LSTM`` stores them, the four gates stacked in the order input,
    forget, cell, output: ``weight_ih`` (4H x I), ``weight_hh`` (4H x H), ``bias_ih`` and
    ``bias_hh`` (4H). Returns the new ``(h, c)``, each N x H."""
    ### BEGIN SOLUTION
    i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c
    ### END SOLUTION


def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh) -> torch.Tensor:
    """One GRU step: inputs ``x`` (N x I), previous state ``h`` (N x H), and the weights as
    ``nn.GRU`` stores them, the three parts stacked in the order reset, update, new:
    ``weight_ih`` (3H x I), ``weight_hh`` (3H x H), ``bias_ih`` and ``bias_hh`` (3H). As in
    torch, the reset gate multiplies the recurrent part of the candidate, bias included.
    Returns the new ``h`` (N x H)."""
    ### BEGIN SOLUTION
    xr, xz, xn = (x @ weight_ih.T + bias_ih).chunk(3, dim=1)
    hr, hz, hn = (h @ weight_hh.T + bias_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h
    ### END SOLUTION


def step_through_time(kind: str, rnn: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The states h_1 .. h_T (each N x H) of ``rnn`` (an ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``
    of one layer) on ``x`` (N x T x I), from zero, one step at a time by the equations."""
    weights = (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
    h = x.new_zeros(len(x), rnn.hidden_size)
    c = torch.zeros_like(h)
    states = []
    for t in range(x.shape[1]):
        if kind == "LSTM":
            h, c = lstm_cell(x[:, t], h, c, *weights)
        elif kind == "GRU":
            h = gru_cell(x[:, t], h, *weights)
        else:  # the Elman step of the rnn lab
            w_ih, w_hh, b_ih, b_hh = weights
            h = torch.tanh(x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
        states.append(h)
    return states


def cell_errors(seed: int) -> dict[str, float]:
    """max |h (equations) - h (torch's fused module)| over a random sequence, float64."""
    torch.manual_seed(seed)
    out = {}
    for kind in ARCHITECTURES:
        rnn = recurrent(kind, 5, 8, gate_bias=1.0).double()
        x = torch.randn(4, 9, 5, dtype=torch.float64)
        with torch.no_grad():
            ours = torch.stack(step_through_time(kind, rnn, x), 1)
            out[kind] = float((ours - rnn(x)[0]).abs().max())
    return out


class Classifier(nn.Module):
    """A recurrent encoder and a linear layer on its last state."""

    def __init__(self, kind: str, inputs: int, hidden: int, classes: int, gate_bias: float):
        super().__init__()
        self.kind = kind
        self.rnn = recurrent(kind, inputs, hidden, gate_bias)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.rnn(x)[0][:, -1])


def gradient_through_time(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """|dL/dh_t| averaged over the sequences, t = 1..T.

    The equations are stepped one element at a time with the fused module's weights (the
    same computation, see :func:`cell_errors`), so that each state h_t is a tensor of the
    graph that autograd can be asked about (the next step reads h_t itself, so that dL/dh_t
    includes every path)."""
    states = step_through_time(model.kind, model.rnn, x)
    loss = nn.functional.cross_entropy(model.fc(states[-1]), y)
    grads = torch.autograd.grad(loss, states)
    return [float(g.norm(dim=1).mean()) for g in grads]


def _figure_gradients(before: dict, after: dict, length: int):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    steps = list(range(1, length + 1))
    for ax, grads, when in ((axes[0], before, "before training"), (axes[1], after, "after training")):
        for kind, g in grads.items():
            ax.plot(steps, g, label=kind, color=COLOURS[kind])
        ax.axvspan(1, max(1, length // 4), color="gold", alpha=0.2, label="where the marked symbol is")
        ax.set_yscale("log")
        ax.set_xlabel(f"time step t (the answer is read at t = {length})")
        ax.set_title(when)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean |dL / dh_t|")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"The gradient reaching each state, sequences of length {length}")
    fig.tight_layout()
    return fig


@lab(
    "lstm-gru",
    source="EE-559 11.2",
    summary="plain RNN vs LSTM vs GRU on recalling a marked symbol as the sequences grow; the gradient through time",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    lengths = cfg.length_list
    cells = cell_errors(ctx.seed)
    train_seed, test_seed = data_seeds(ctx.seed)
    inputs = cfg.symbols + 1
    accuracy: dict[str, dict[int, float]] = {k: {} for k in ARCHITECTURES}
    before, after = {}, {}
    for length in lengths:
        train = marked_symbol_task(cfg.train_sequences, length, cfg.symbols, train_seed + length)
        test = marked_symbol_task(cfg.test_sequences, length, cfg.symbols, test_seed + length)
        for kind in ARCHITECTURES:
            torch.manual_seed(ctx.seed)
            model = Classifier(kind, inputs, cfg.hidden, cfg.symbols, cfg.gate_bias)
            probe = (test[0][:200], test[1][:200])
            if length == lengths[-1]:
                before[kind] = gradient_through_time(model, *probe)
            step = Supervised(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), metric="accuracy", grad_clip=1.0)
            name = f"{kind.lower()}-T{length}"
            fit(
                step,
                train,
                ctx,
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                name=name,
                callbacks=standard_callbacks(ctx, name, curves=False, checkpoints=False, epoch_lines=False),
            )
            accuracy[kind][length] = evaluate(step, test, ctx)["accuracy"]
            if length == lengths[-1]:
                model.cpu()
                after[kind] = gradient_through_time(model, *probe)

    chance = 1 / cfg.symbols
    fig = viz.curves(
        {kind: [accuracy[kind][t] for t in lengths] for kind in ARCHITECTURES},
        x=lengths,
        xlabel="sequence length T (the marked symbol is among the first T / 4)",
        ylabel="test accuracy",
        title=f"Recalling a marked symbol among distractors ({cfg.epochs} epochs each)",
    )
    ax = fig.axes[0]
    styles = {"RNN": ("o", "-", 7), "LSTM": ("s", "--", 9), "GRU": ("^", ":", 6)}  # the curves may coincide
    for line in ax.get_lines():
        marker, dash, size = styles[line.get_label()]
        line.set(marker=marker, linestyle=dash, markersize=size, color=COLOURS[line.get_label()], linewidth=2)
    ax.axhline(chance, color="gray", linestyle=":", label=f"chance ({chance:.0%})")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "accuracy_vs_length")
    ctx.save_figure(_figure_gradients(before, after, lengths[-1]), "gradient_through_time")

    # how much of the last state's gradient reaches the first state, before training
    reach = {kind: before[kind][0] / before[kind][-1] for kind in ARCHITECTURES}
    short, long_ = lengths[0], lengths[-1]
    line = (
        f"marked-symbol recall at T={long_}: RNN {accuracy['RNN'][long_]:.0%}, LSTM {accuracy['LSTM'][long_]:.0%}, "
        f"GRU {accuracy['GRU'][long_]:.0%} (at T={short}: {accuracy['RNN'][short]:.0%}, "
        f"{accuracy['LSTM'][short]:.0%}, {accuracy['GRU'][short]:.0%}; chance {chance:.0%}); untrained "
        f"|dL/dh_1| / |dL/dh_T|: RNN {reach['RNN']:.1e}, LSTM {reach['LSTM']:.1e}, GRU {reach['GRU']:.1e}; cells "
        f"= torch's to {max(cells.values()):.0e}"
    )
    return Result(
        line,
        metrics={
            "test_accuracy": {k: {str(t): a for t, a in v.items()} for k, v in accuracy.items()},
            "lengths": lengths,
            "chance": chance,
            "untrained_gradient_first_over_last": reach,
            "untrained_gradient": before,
            "trained_gradient": after,
            "epochs": cfg.epochs,
            "cell_vs_torch": cells,
        },
    )


def check(result: Result) -> list:
    m = result.metrics
    acc, chance, lengths = m["test_accuracy"], m["chance"], m["lengths"]
    short, long_ = str(lengths[0]), str(lengths[-1])
    reach = m["untrained_gradient_first_over_last"]
    return [
        verdict(
            "max |h (lstm_cell, gru_cell, Elman step) - h (nn.LSTM, nn.GRU, nn.RNN)|, float64",
            max(m["cell_vs_torch"].values()),
            "<",
            1e-12,
        ),
        verdict(
            f"lowest accuracy of the three at T={short} (chance {chance:.2f})",
            min(acc[k][short] for k in ARCHITECTURES),
            ">",
            chance + 0.5 * (1 - chance),
        ),
        verdict(f"LSTM accuracy minus the plain RNN's at T={long_}", acc["LSTM"][long_] - acc["RNN"][long_], ">", 0.3),
        verdict(f"GRU accuracy minus the plain RNN's at T={long_}", acc["GRU"][long_] - acc["RNN"][long_], ">", 0.3),
        verdict(
            "untrained gradient reach |dL/dh_1|/|dL/dh_T|: min(LSTM, GRU) over RNN",
            min(reach["LSTM"], reach["GRU"]) / reach["RNN"],
            ">",
            10,
        ),
    ]


# -- exercises (`dlc exercise lstm-gru`, then `dlc check lstm-gru`) ----------------------------


def _cell_cases(g: torch.Generator, gates: int, with_cell: bool) -> list[tuple]:
    """Inputs, state(s) and torch-shaped weights (``gates`` H rows), float64."""
    cases = []
    for n, inputs, hidden in ((3, 5, 4), (1, 2, 6), (4, 1, 1)):
        r = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)
        states = (r(n, hidden), r(n, hidden)) if with_cell else (r(n, hidden),)
        weights = (r(gates * hidden, inputs), r(gates * hidden, hidden), r(gates * hidden), r(gates * hidden))
        cases.append((r(n, inputs), *states, *weights))
    return cases


TASKS = [
    Task(
        "lstm_cell",
        hint="split x W_ih^T + b_ih + h W_hh^T + b_hh into the gates i, f, g, o; c = sigmoid(f) c + sigmoid(i) "
        "tanh(g), then h = sigmoid(o) tanh(c)",
        cases=lambda g: _cell_cases(g, 4, with_cell=True),
        grad=True,
    ),
    Task(
        "gru_cell",
        hint="split x W_ih^T + b_ih and h W_hh^T + b_hh into (reset, update, new) parts; r and z are sigmoids of "
        "the sums, n = tanh(x part + r * h part), and h = (1 - z) n + z h",
        cases=lambda g: _cell_cases(g, 3, with_cell=False),
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
