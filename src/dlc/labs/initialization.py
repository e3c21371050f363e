"""Parameter initialization (EE-559 5.5, practical 5): which init lets which depth train.

Part 1 is practical 5. The disc set: points uniform in [-1, 1]^2, label 1 outside the
disc of radius sqrt(2/pi) (both classes have area 2), inputs normalised with the training
mean and std. A shallow net 2 -> 128 -> 2 and a deep one 2 -> 4 -> 8 -> 16 -> 32 -> 64 ->
128 -> 2 (ReLU), trained with cross-entropy and SGD (lr 0.1, mini-batches of 100, 250
epochs), first with PyTorch's default init, then with every parameter drawn from N(0, std)
for std from 1e-3 to 10. Too small and the signal dies before the output (the deep net
more so: it multiplies more small factors); too large and the logits explode. The deep
net, whose layers go from fan-in 2 to fan-in 128, survives no single std: what rescues it
is part 2's He init, a std per layer (sqrt(2 / fan-in), biases 0), trained beside the sweep.

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
the disc (test error under 15%, chance is 50%), the deep net started from N(0, 1e-3)
does not (test error over 40%; checked when 1e-3 is among the stds), and the deep net
started from He's init does (test error under 30%; checked when he is among the stds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from dlc.errors import DlcError, NonFiniteLoss, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.options import parse_list
from dlc.progress import progress_bar
from dlc.stats import standardize


@dataclass
class Config:
    n: int = 1000  # training points of the disc set, and as many test points (practical 5's; at least 2)
    epochs: int = 250  # part 1: training epochs of every net (practical 5's; at least 1)
    lr: float = 0.1  # part 1: SGD's learning rate (practical 5's)
    batch_size: int = 100  # part 1: mini-batch size (practical 5's)
    stds: str = "default,he,1e-3,1e-2,1e-1,1,10"  # part 1: the initialisations tried, comma-separated:
    # "default" (PyTorch's own), "he" or "xavier" (the lecture's scaled inits, biases 0), or a std:
    # every parameter from N(0, std^2) (practical 5's sweep)
    layers: int = 20  # part 2: depth of the net whose activation statistics are measured (at least 2)
    width: int = 256  # part 2: units of each of its layers (at least 1)
    naive_std: float = 0.01  # part 2: the std of the naive init, N(0, naive_std^2) (positive)
    TINY = {"n": 500, "epochs": 40, "stds": "default,he,1e-3,1"}
    THREADS = 1  # nets of 2 to 256 units: a second thread only adds synchronisation

    def __post_init__(self):
        parse_stds(self.stds)
        for name, least in (("n", 2), ("epochs", 1), ("layers", 2), ("width", 1)):
            if getattr(self, name) < least:
                raise UsageError(f"--{name} must be at least {least}, got {getattr(self, name)}")
        if not self.naive_std > 0:
            raise UsageError(f"--naive_std must be positive (e.g. 0.01), got {self.naive_std}")


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
    """Every parameter of ``model``, weights and biases, redrawn in place from N(0, std^2),
    as the practical does (``p.normal_``, in the order of ``model.parameters()``); returns model."""
    with torch.no_grad():
        ### BEGIN SOLUTION
        for p in model.parameters():
            p.normal_(0, std)
        ### END SOLUTION
    return model


def disc_data(n: int, seed: int):
    """Practical 5's train and test sets, normalised with the training statistics."""
    from dlc.data.toy import disc_outside

    x, y = disc_outside(n, seed=seed)
    xt, yt = disc_outside(n, seed=seed + 1)
    x, xt = standardize(x, xt, per_feature=True)
    return x, y, xt, yt


NAMED_INITS = ("he", "xavier")  # part 1's scaled inits, by name (init_scheme_ on every layer)


def _std_or_name(item: str) -> float | str | None:
    if item == "default":
        return None
    return item if item in NAMED_INITS else float(item)


_std_or_name.__name__ = "std ('default', 'he', 'xavier' or a positive number)"  # parse_list's messages name it


def parse_stds(text: str) -> list[float | str | None]:
    """The --stds values: 'default' (None: PyTorch's own init), 'he' or 'xavier' (the
    lecture's scaled inits, by name), or positive numbers (N(0, std^2) for every parameter)."""
    return parse_list(
        "stds",
        text,
        _std_or_name,
        check=lambda v: v is None or isinstance(v, str) or (math.isfinite(v) and v > 0),
        example="default,he,1e-3,1",
    )


def init_label(std: float | str | None) -> str:
    """'default', 'he', 'xavier' or the std as in the metrics (e.g. '0.001')."""
    return "default" if std is None else std if isinstance(std, str) else f"{std:g}"


def initialize_(model: nn.Module, std: float | str | None) -> nn.Module:
    """Part 1's inits: PyTorch's own (None), a named scheme on every linear layer, or N(0, std^2)."""
    if std is None:
        return model
    if isinstance(std, str):
        for layer in model.modules():
            if isinstance(layer, nn.Linear):
                init_scheme_(layer, std)
        return model
    return init_normal_(model, std)


# --- part 2: statistics through depth -------------------------------------------------------
def init_scheme_(linear: nn.Linear, scheme: str, naive_std: float = 0.01) -> None:
    """Redraw one layer's weights in place by a named scheme; biases to zero so only the weights act.

    naive: N(0, naive_std^2); default (PyTorch's nn.Linear): U(-1/sqrt(fan_in), 1/sqrt(fan_in));
    xavier: N(0, 2 / (fan_in + fan_out)); he: N(0, 2 / fan_in) (variances; ``normal_`` takes a std).
    """
    fan_out, fan_in = linear.weight.shape
    with torch.no_grad():
        if scheme == "naive":
            linear.weight.normal_(0, naive_std)
        elif scheme == "default":
            ### BEGIN SOLUTION
            bound = 1 / math.sqrt(fan_in)  # PyTorch's nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            linear.weight.uniform_(-bound, bound)
            ### END SOLUTION
        elif scheme == "xavier":
            linear.weight.normal_(0, math.sqrt(2 / (fan_in + fan_out)))  # SOLUTION
        elif scheme == "he":
            linear.weight.normal_(0, math.sqrt(2 / fan_in))  # SOLUTION
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
    fig, axes = plt.subplots(len(acts), 3, figsize=(15, 3.8 * len(acts) + 0.6), squeeze=False)
    for r, a in enumerate(acts):
        for c, (what, label) in enumerate(panels):
            ax = axes[r, c]
            for scheme in SCHEMES:
                ax.plot(range(1, layers + 1), stats[(a, scheme)][what], marker="o", markersize=3, label=scheme)
            ax.set_yscale("log")
            ax.set_xlabel("layer")
            ax.set_ylabel(label)
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.set_title(f"{layers} {a} layers: {label}", fontsize=10)
            ax.grid(alpha=0.3)
    # one legend for every panel, below them: inside, it would hide a curve
    names = {"naive": "naive N(0, small std)", "default": "PyTorch default", "xavier": "Xavier", "he": "He"}
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, [names.get(k, k) for k in labels], loc="lower center", ncol=len(SCHEMES), title="init")
    fig.suptitle(f"signal through {layers} layers of random weights, forward (activations) and backward (gradients)")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def sweep_figure(table: dict, stds: list):
    """Left: test error against the std of N(0, std) for both nets, with the range of stds
    He's init gives the deep net's layers as a band (a good init is a std per layer).
    Right: the other inits (PyTorch's default, He, Xavier), one bar per net."""
    import matplotlib.pyplot as plt

    numeric = [s for s in stds if isinstance(s, float)]
    named = [s for s in stds if not isinstance(s, float)]
    colors = {"shallow": "C0", "deep": "C1"}
    names = {None: "PyTorch\ndefault", "he": "He", "xavier": "Xavier"}
    widths = [3, max(1, len(named))] if numeric and named else [1]
    fig, axes = plt.subplots(
        1, len(widths), figsize=(10, 4.6), sharey=True, squeeze=False, gridspec_kw={"width_ratios": widths}
    )
    axes = list(axes[0])
    if numeric:
        ax = axes[0]
        for name in ("shallow", "deep"):
            ax.plot(
                numeric,
                [table[(name, s)]["test_error"] for s in numeric],
                marker="o",
                color=colors[name],
                label=f"{name} net",
            )
        if "he" in stds:
            fans = [m.in_features for m in deep_model() if isinstance(m, nn.Linear)]
            he_stds = [math.sqrt(2 / f) for f in fans]
            ax.axvspan(min(he_stds), max(he_stds), color="C2", alpha=0.15, label="He's stds, deep net's layers")
        ax.set_xscale("log")
        ax.set_xlabel("std of every initial parameter, N(0, std)")
        ax.set_title("one std for every parameter (practical 5's sweep)", fontsize=10)
    if named:
        ax = axes[-1]
        xs = range(len(named))
        for k, name in enumerate(("shallow", "deep")):
            errs = [table[(name, s)]["test_error"] for s in named]
            at = [x + (k - 0.5) * 0.38 for x in xs]
            ax.bar(at, errs, width=0.36, color=colors[name], label=f"{name} net" if not numeric else None)
            for x, e in zip(at, errs):
                ax.text(x, e + 0.01, f"{e:.0%}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(list(xs), [names[s] for s in named])
        ax.set_xlabel("init")
        ax.set_title("a std per layer, or PyTorch's", fontsize=10)
    for ax in axes:
        ax.axhline(0.5, color="gray", linestyle=":", label="chance" if ax is axes[0] else None)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test error")
    axes[0].set_ylim(0, 0.8)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("disc set: which depth survives which initialisation")
    fig.tight_layout()
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

    # Part 1: practical 5, with the lecture's He (and Xavier) inits beside the sweep.
    x, y, xt, yt = disc_data(cfg.n, ctx.seed)
    table = {}
    bar = progress_bar(ctx, 2 * len(stds) * cfg.epochs, unit="epoch")
    for std in stds:
        for name, make in (("shallow", shallow_model), ("deep", deep_model)):
            model = initialize_(make(), std)
            tag = f"{name}-std{init_label(std)}" if isinstance(std, float) else f"{name}-{init_label(std)}"
            bar.set_description(f"part 1: {tag}")
            step = Supervised(model, torch.optim.SGD(model.parameters(), lr=cfg.lr), loss="cross_entropy")
            try:  # many small fits: only their epoch records, in metrics.jsonl
                history = fit(
                    step,
                    (x, y),
                    ctx,
                    epochs=cfg.epochs,
                    batch_size=cfg.batch_size,
                    callbacks=[MetricsLogger(every=0)],
                    name=tag,
                )
                diverged = False
                bar.update(len(history))
            except NonFiniteLoss:  # the loop stops when the loss becomes inf/NaN: record it
                diverged = True
                bar.update(cfg.epochs)
            # a diverged net has NaN/inf weights; its predictions are still what it would output
            train_err = evaluate(step, (x, y), ctx)["error"]
            test_err = evaluate(step, (xt, yt), ctx)["error"]
            table[(name, std)] = {"train_error": train_err, "test_error": test_err, "diverged": diverged}
            ctx.log(model=name, std="default" if std is None else std, **table[(name, std)])
            if not ctx.quiet:
                bar.write(
                    f"{tag:22s} train error {train_err:6.1%}  test error {test_err:6.1%}"
                    + ("  (diverged)" if diverged else "")
                )
    bar.close()
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
        **{f"{name}_{init_label(s)}_{k}": v for (name, s), row in table.items() for k, v in row.items()},
    }
    he, naive = spreads["relu_he_activation_spread"], spreads["relu_naive_activation_spread"]
    xavier = spreads["relu_xavier_activation_spread"]

    def cell(name, s):
        return f"{table[(name, s)]['test_error']:.0%}"

    sweep = "; ".join(
        f"{'std ' if isinstance(s, float) else ''}{init_label(s)}: shallow {cell('shallow', s)}, deep {cell('deep', s)}"
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
    if "deep_he_test_error" in m:
        out.append(
            verdict("deep net, He init: disc test error (it learns; chance 50%)", m["deep_he_test_error"], "<", 0.3)
        )
    return out


# -- exercises (`dlc exercise initialization`, then `dlc check initialization`) ----------
# Random draws: the grader seeds torch's generator the same way for dlc's code and yours, so
# the same calls give the same numbers; drawn otherwise (another order, nn.init's functions),
# tensors of thousands of values still give the same statistics to about 1.5%, which is what
# is compared.


def _statistics(t: torch.Tensor, scale: float) -> dict:
    """The std of t in units of ``scale``, and whether it looks Gaussian: 4.6% of a Gaussian's
    values lie beyond twice its std, none of a uniform's."""
    t = t.detach().double().flatten()
    std = t.std()
    return {"std / expected scale": std / scale, "Gaussian (values beyond 2 std)": bool((t.abs() > 2 * std).any())}


def _scheme_statistics(fn, fan_in: int, fan_out: int, scheme: str) -> dict:
    layer = nn.Linear(fan_in, fan_out).double()
    fn(layer, scheme)
    return {**_statistics(layer.weight, 1 / math.sqrt(fan_in)), "largest |bias|": layer.bias.detach().abs().max()}


def _normal_statistics(fn, shapes: list, std: float) -> dict:
    model = nn.ModuleList([nn.Linear(a, b) for a, b in shapes]).double()  # wide layers: large biases
    fn(model, std)
    return {f"parameter {k} {tuple(p.shape)}": _statistics(p, std) for k, p in enumerate(model.parameters())}


TASKS = [
    Task(
        "init_normal_",
        hint="for every p in model.parameters(), weights and biases alike: p.normal_(0, std)",
        cases=lambda g: [([(3, 3000), (10, 2500)], 1e-3), ([(500, 3000)], 1.0), ([(2, 4000), (1, 3000)], 10.0)],
        call=_normal_statistics,
        rtol=0.05,
        atol=0.01,
    ),
    Task(
        "init_scheme_",
        hint="default: uniform_(-b, b) with b = 1 / sqrt(fan_in); xavier: normal_(0, sqrt(2 / (fan_in + fan_out))); "
        "he: normal_(0, sqrt(2 / fan_in))",
        cases=lambda g: [(300, 100, "he"), (300, 100, "xavier"), (128, 512, "xavier"), (400, 200, "default")],
        call=_scheme_statistics,
        rtol=0.02,
        atol=0.01,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
