"""Parameter initialization (EE-559 5.5, practical 5): which init lets which depth train.

Part 1 is practical 5. The disc set: points uniform in [-1, 1]^2, label 1 outside the
disc of radius sqrt(2/pi) (both classes have area 2), inputs normalised with the training
mean and std. A shallow net 2 -> 128 -> 2 and a deep one 2 -> 4 -> 8 -> 16 -> 32 -> 64 ->
128 -> 2 (ReLU), trained with cross-entropy and SGD (lr 0.1, mini-batches of 100, 250
epochs), first with PyTorch's default init, then with every parameter drawn from N(0, std)
for std from 1e-3 to 10. Too small and the signal dies before the output (the deep net
more so: it multiplies more small factors); too large and the logits explode.

Part 2 is the lecture's analysis. Through a linear layer with fan-in n and weights of
variance v, the activation variance is multiplied by n v (times 1/2 after a ReLU, which
zeroes half of it); the gradient's, on the way back, by fan-out v. So:
- naive N(0, 0.01^2): the factor is n 1e-4 / 2, far below 1: the signal vanishes;
- Xavier (Glorot and Bengio 2010): v = 2 / (fan-in + fan-out), a compromise that keeps
  both directions right for a linear or tanh network, but loses 1/2 per ReLU layer;
- He (He et al. 2015): v = 2 / fan-in, which makes the ReLU factor exactly 1.
Measured on a 20-layer ReLU net (and a tanh one for comparison).

Check: with He init the activation and gradient stds stay within a factor 2 across the 20
ReLU layers, while the naive small init loses orders of magnitude (over 1e6) and Xavier
over 100 (a half per ReLU); in part 1 the shallow net trained from the default init learns
the disc (test error under 15%, chance is 50%), and the deep net started from N(0, 1e-3)
does not (test error over 40%; checked when 1e-3 is among the stds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from dlc.errors import DlcError, NonFiniteLoss
from dlc.labs import Result, lab, verdict
from dlc.options import parse_list
from dlc.stats import standardize


@dataclass
class Config:
    n: int = 1000  # training and test points of the disc set (practical 5)
    epochs: int = 250
    lr: float = 0.1
    batch_size: int = 100
    stds: str = "default,1e-3,1e-2,1e-1,1,10"  # "default" = PyTorch's own init
    layers: int = 20  # part 2: depth and width of the statistics net
    width: int = 256
    naive_std: float = 0.01
    TINY = {"n": 500, "epochs": 25, "stds": "default,1e-3,1"}
    THREADS = 1  # nets of 2 to 256 units: a second thread only adds synchronisation

    def __post_init__(self):
        parse_stds(self.stds)


# --- part 1: practical 5 ------------------------------------------------------------------
def shallow_model() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 2))


def deep_model() -> nn.Module:
    sizes = [2, 4, 8, 16, 32, 64, 128]
    layers: list[nn.Module] = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(128, 2))


def init_normal_(model: nn.Module, std: float) -> nn.Module:
    """Every parameter, weights and biases, from N(0, std^2), as the practical does."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, std)
    return model


def disc_data(n: int, seed: int):
    """Practical 5's train and test sets, normalised with the training statistics."""
    from dlc.data.toy import disc_outside

    x, y = disc_outside(n, seed=seed)
    xt, yt = disc_outside(n, seed=seed + 1)
    x, xt = standardize(x, xt, per_feature=True)
    return x, y, xt, yt


def _std_or_default(item: str) -> float | None:
    return None if item == "default" else float(item)


_std_or_default.__name__ = "std ('default' or a positive number)"  # parse_list's messages name it


def parse_stds(text: str) -> list[float | None]:
    """The --stds values: 'default' (None: PyTorch's own init) or positive numbers."""
    return parse_list("stds", text, _std_or_default, check=lambda v: v is None or v > 0, example="default,1e-3,1")


# --- part 2: statistics through depth -------------------------------------------------------
def init_scheme_(linear: nn.Linear, scheme: str, naive_std: float = 0.01) -> None:
    """Set one layer's weights by a named scheme; biases to zero so only the weights act."""
    fan_out, fan_in = linear.weight.shape
    with torch.no_grad():
        if scheme == "naive":
            linear.weight.normal_(0, naive_std)
        elif scheme == "default":
            bound = 1 / math.sqrt(fan_in)  # PyTorch's nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            linear.weight.uniform_(-bound, bound)
        elif scheme == "xavier":
            linear.weight.normal_(0, math.sqrt(2 / (fan_in + fan_out)))
        elif scheme == "he":
            linear.weight.normal_(0, math.sqrt(2 / fan_in))
        else:
            raise DlcError(f"unknown init scheme {scheme!r}; use naive, default, xavier or he")
        linear.bias.zero_()


SCHEMES = ("naive", "default", "xavier", "he")


def layer_statistics(
    scheme: str,
    activation: str = "relu",
    layers: int = 20,
    width: int = 256,
    batch: int = 1000,
    naive_std: float = 0.01,
    seed: int = 0,
) -> dict:
    """Per layer l = 1..layers, for random N(0, 1) inputs and a random N(0, 1) gradient
    arriving at the output:

    - "activation": std of the pre-activations s_l = W_l x_{l-1} + b_l (forward signal);
    - "gradient": std of dLoss/ds_l (the backward signal);
    - "weight_gradient": std of dLoss/dW_l = dLoss/ds_l x_{l-1}^T, the product of the two,
      which is why it can look flat across layers while both factors vanish.
    """
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    act = {"relu": torch.relu, "tanh": torch.tanh}[activation]
    linears = [nn.Linear(width, width) for _ in range(layers)]
    for lin in linears:
        init_scheme_(lin, scheme, naive_std)
    x = torch.randn(batch, width, generator=g)
    pre = []
    for lin in linears:
        s = lin(x)
        s.retain_grad()
        pre.append(s)
        x = act(s)
    upstream = torch.randn(x.shape, generator=g)
    (x * upstream).sum().backward()
    return {
        "activation": [s.detach().std().item() for s in pre],
        "gradient": [s.grad.std().item() for s in pre],
        "weight_gradient": [lin.weight.grad.std().item() for lin in linears],
    }


def spread(values: list[float]) -> float:
    """max / min: how far a per-layer statistic drifts across depth (1 = not at all)."""
    lo = min(values)
    return max(values) / lo if lo > 0 else float("inf")


# --- figures ----------------------------------------------------------------------------------
def statistics_figure(stats: dict, layers: int):
    import matplotlib.pyplot as plt

    acts = sorted({a for a, _ in stats})
    panels = [
        ("activation", "std of the activations s_l"),
        ("gradient", "std of dLoss/ds_l"),
        ("weight_gradient", "std of dLoss/dW_l"),
    ]
    fig, axes = plt.subplots(len(acts), 3, figsize=(15, 3.8 * len(acts)), squeeze=False)
    for r, a in enumerate(acts):
        for c, (what, label) in enumerate(panels):
            ax = axes[r, c]
            for scheme in SCHEMES:
                ax.plot(range(1, layers + 1), stats[(a, scheme)][what], marker="o", markersize=3, label=scheme)
            ax.set_yscale("log")
            ax.set_xlabel("layer")
            ax.set_ylabel(label)
            ax.set_title(f"{layers} {a} layers")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sweep_figure(table: dict, stds: list):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    numeric = [s for s in stds if s is not None]
    colors = {"shallow": "C0", "deep": "C1"}
    for name in ("shallow", "deep"):
        if numeric:
            ax.plot(
                numeric,
                [table[(name, s)]["test_error"] for s in numeric],
                marker="o",
                color=colors[name],
                label=f"{name}, N(0, std)",
            )
        if None in stds:
            ax.axhline(
                table[(name, None)]["test_error"],
                color=colors[name],
                linestyle="--",
                label=f"{name}, PyTorch default init",
            )
    ax.axhline(0.5, color="gray", linestyle=":", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("std of the initial parameters")
    ax.set_ylabel("test error")
    ax.set_ylim(-0.02, 0.8)
    ax.set_title("disc set: which depth survives which initialisation")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


@lab(
    "initialization",
    source="EE-559 5.5, practical 5",
    summary=(
        "init std sweep for a shallow and a deep net (practical 5); naive vs Xavier vs He statistics over 20 layers"
    ),
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc.engine import MetricsLogger, Supervised, evaluate, fit

    stds = parse_stds(cfg.stds)

    # Part 2 first: it is instantaneous and it explains part 1.
    stats = {}
    for a in ("relu", "tanh"):
        for scheme in SCHEMES:
            stats[(a, scheme)] = layer_statistics(
                scheme, a, cfg.layers, cfg.width, naive_std=cfg.naive_std, seed=ctx.seed
            )
            st = stats[(a, scheme)]
            for layer, (s, gs, ws) in enumerate(zip(st["activation"], st["gradient"], st["weight_gradient"]), 1):
                ctx.log(
                    activation=a, scheme=scheme, layer=layer, activation_std=s, gradient_std=gs, weight_gradient_std=ws
                )
            act, grad = st["activation"], st["gradient"]
            ctx.print(
                f"{a:4s} {scheme:7s}: activation std layer 1 {act[0]:.2e} -> layer "
                f"{cfg.layers} {act[-1]:.2e} (spread x{spread(act):.3g}); "
                f"gradient std layer {cfg.layers} {grad[-1]:.2e} -> layer 1 {grad[0]:.2e}"
            )
    ctx.save_figure(statistics_figure(stats, cfg.layers), "layer_statistics")

    # Part 1: practical 5.
    x, y, xt, yt = disc_data(cfg.n, ctx.seed)
    table = {}
    for std in stds:
        for name, make in (("shallow", shallow_model), ("deep", deep_model)):
            model = make()
            if std is not None:
                init_normal_(model, std)
            tag = f"{name}-std{'default' if std is None else f'{std:g}'}"
            step = Supervised(model, torch.optim.SGD(model.parameters(), lr=cfg.lr), loss="cross_entropy")
            try:  # many small fits: only their epoch records, in metrics.jsonl
                fit(
                    step,
                    (x, y),
                    ctx,
                    epochs=cfg.epochs,
                    batch_size=cfg.batch_size,
                    callbacks=[MetricsLogger(every=0)],
                    name=tag,
                )
                diverged = False
            except NonFiniteLoss:  # the loop stops when the loss becomes inf/NaN: record it
                diverged = True
            # a diverged net has NaN/inf weights; its predictions are still what it would output
            train_err = evaluate(step, (x, y), ctx)["error"]
            test_err = evaluate(step, (xt, yt), ctx)["error"]
            table[(name, std)] = {"train_error": train_err, "test_error": test_err, "diverged": diverged}
            ctx.log(model=name, std="default" if std is None else std, **table[(name, std)])
            ctx.print(
                f"{tag:22s} train error {train_err:6.1%}  test error {test_err:6.1%}"
                + ("  (diverged)" if diverged else "")
            )
    ctx.save_figure(sweep_figure(table, stds), "std_sweep")

    spreads = {
        f"{a}_{s}_{what}_spread": spread(stats[(a, s)][what])
        for a, s in stats
        for what in ("activation", "gradient", "weight_gradient")
    }
    metrics = {
        **spreads,
        "layers": cfg.layers,
        # the naive init's factor on the activation std per ReLU layer: std sqrt(width / 2)
        "naive_layer_factor": cfg.naive_std * math.sqrt(cfg.width / 2),
        **{
            f"{name}_{'default' if s is None else f'{s:g}'}_{k}": v
            for (name, s), row in table.items()
            for k, v in row.items()
        },
    }
    he, naive = spreads["relu_he_activation_spread"], spreads["relu_naive_activation_spread"]
    xavier = spreads["relu_xavier_activation_spread"]

    def cell(name, s):
        return f"{table[(name, s)]['test_error']:.0%}"

    sweep = "; ".join(
        f"std {'default' if s is None else f'{s:g}'}: shallow {cell('shallow', s)}, deep {cell('deep', s)}"
        for s in stds
    )
    line = (
        f"activation std across {cfg.layers} ReLU layers varies x{he:.2f} with He, x{xavier:.3g} with "
        f"Xavier, x{naive:.2g} with N(0, {cfg.naive_std:g}); disc test error: {sweep}"
    )
    return Result(line, metrics=metrics)


def check(result: Result) -> list:
    """The lecture's analysis (He keeps the signal, naive and Xavier lose it through ReLUs)
    and practical 5's outcome (the shallow net learns from the default init, the deep one
    not from a tiny one)."""
    m = result.metrics
    out = [
        verdict("He: spread of the activation std across the ReLU layers", m["relu_he_activation_spread"], "<=", 2.0),
        verdict("He: spread of the gradient std across the ReLU layers", m["relu_he_gradient_spread"], "<=", 2.0),
    ]
    # What the naive and Xavier inits lose depends on the depth and the naive std: claimed
    # where the theory says it is large (the defaults: 20 layers, N(0, 0.01^2)).
    if m["naive_layer_factor"] ** (m["layers"] - 1) < 1e-6:
        out.append(
            verdict("naive N(0, small std): spread of the activation std", m["relu_naive_activation_spread"], ">", 1e6)
        )
    if m["layers"] >= 15:  # Xavier loses a factor sqrt(2) per ReLU layer: 2^7 = 128 over 15
        out.append(
            verdict(
                "Xavier: spread of the activation std across the ReLU layers",
                m["relu_xavier_activation_spread"],
                ">",
                100,
            )
        )
    if "shallow_default_test_error" in m:
        out.append(
            verdict(
                "shallow net, default init: disc test error (chance 50%)", m["shallow_default_test_error"], "<", 0.15
            )
        )
    if "deep_0.001_test_error" in m:
        out.append(
            verdict(
                "deep net from N(0, 1e-3): disc test error (it does not learn)", m["deep_0.001_test_error"], ">", 0.4
            )
        )
    return out
