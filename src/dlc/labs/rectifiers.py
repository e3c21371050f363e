"""Rectifiers (EE-559 6.2): a saturating activation starves the first layers of gradient;
a rectifier lets it through, and the deep net trains.

Backpropagation multiplies, layer after layer, by the weights and by the derivative of
the activation. The sigmoid's derivative is at most 1/4 (and far less where it saturates),
so through ten sigmoid layers the gradient that reaches the first layer is orders of
magnitude below the last layer's: the first layers hardly learn, and the network as a
whole does not. tanh's derivative is 1 at 0 (a zero-centred sigmoid, 2 sigmoid(2x) - 1);
ReLU's is exactly 1 where the unit is on, and leaky ReLU and ELU keep a gradient where it
is off too. The lab measures this on one network shape with each activation.

Set-up (the lecture's slides are not among this project's sources; the sizes are ours):
MNIST inputs (flattened, normalised by the training mean and std), an MLP
784 -> 100 -> ... -> 100 -> 10 with 10 hidden layers of 100 units, cross-entropy. Every net
starts from the same kind of init, Xavier (Glorot and Bengio 2010: normal, variance
2 / (fan-in + fan-out), biases 0; the paper that made this diagnosis), so that only the
activation differs. PyTorch's own default init is smaller still: with it even the ReLU net
does not move in 200 steps here, which is lecture 5.5's point, not this one's.
1. At the start, the norm of each Linear layer's weight gradient of the loss over the
   training set (:func:`layer_gradient_norms`);
2. then each net trained with plain SGD (lr 0.1, batches of 100, 20 epochs: 200 steps on
   1,000 images), the same seed, the same batches.

Check, measured in the same run: with sigmoid the first layer's gradient norm is below
1e-3 times the last layer's, and ReLU's first/last ratio is over 100 times sigmoid's; after
the same number of steps, the ReLU net's training loss is below 3/4 of the sigmoid net's
(which stays near ln 10 = 2.30, chance). ``--epochs 0`` trains nothing: only the gradient
verdicts are made.
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
from dlc.options import parse_list

ALL = ("sigmoid", "tanh", "relu", "leaky_relu", "elu")


@dataclass
class Config:
    activations: str = "sigmoid,tanh,relu,leaky_relu,elu"  # the activations compared, comma-separated
    # (among sigmoid, tanh, relu, leaky_relu, elu; the check needs sigmoid and relu)
    depth: int = 10  # hidden layers of the MLP (at least 2)
    width: int = 100  # units of each hidden layer (at least 1)
    lr: float = 0.1  # SGD's learning rate
    batch_size: int = 100  # images per SGD step
    epochs: int = 20  # passes over the training images; 0: only the gradients at the start are measured
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images, for the test error reported (--tiny 100, --full all)
    TINY = {"epochs": 20}
    THREADS = 1  # 100-unit layers: one thread is fastest

    def __post_init__(self):
        parse_activations(self.activations)
        for name in ("depth", "width"):
            least = 2 if name == "depth" else 1
            if getattr(self, name) < least:
                raise UsageError(f"--{name} must be at least {least}, got {getattr(self, name)}")


def parse_activations(text: str) -> list[str]:
    names = parse_list("activations", text, choices=ALL, example="sigmoid,relu")
    if len(set(names)) != len(names):
        raise UsageError(f"--activations names one twice: {text!r}")
    return names


def activation(x: torch.Tensor, name: str) -> torch.Tensor:
    """The activation function ``name`` applied elementwise to ``x``, from its formula:

    - sigmoid: 1 / (1 + exp(-x));  tanh: 2 sigmoid(2x) - 1 (a zero-centred sigmoid);
    - relu: max(0, x);  leaky_relu: x where x > 0, else 0.01 x;  elu: x where x > 0, else exp(x) - 1.

    Returns a tensor of ``x``'s shape and dtype (differentiable: autograd takes it from here).
    """
    ### BEGIN SOLUTION
    if name in ("sigmoid", "tanh"):
        k = 1.0 if name == "sigmoid" else 2.0
        s = 1 / (1 + torch.exp(-k * x))
        return s if name == "sigmoid" else 2 * s - 1
    if name == "relu":
        return x.clamp(min=0)
    if name == "leaky_relu":
        return torch.where(x > 0, x, 0.01 * x)
    if name == "elu":  # exp of the clamped value: no overflow in the branch torch.where drops
        return torch.where(x > 0, x, torch.exp(x.clamp(max=0)) - 1)
    ### END SOLUTION
    raise UsageError(f"unknown activation {name!r}; choose one of {', '.join(ALL)}")


class Activation(nn.Module):
    """:func:`activation` as a layer."""

    def __init__(self, name: str):
        super().__init__()
        self.kind = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return activation(x, self.kind)

    def extra_repr(self) -> str:
        return self.kind


def make_net(activation: str, depth: int, width: int) -> nn.Sequential:
    """784 -> width x depth -> 10 with Xavier-normal weights and zero biases; the
    activations are :class:`Activation` layers."""
    net = deep_mlp(784, width, depth, 10, activation=activation)
    for i, m in enumerate(net):
        if isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight)
            nn.init.zeros_(m.bias)
        else:
            net[i] = Activation(activation)
    return net


def layer_gradient_norms(net: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """The gradient of the cross-entropy loss of ``net`` on the inputs ``x`` (N x D) and
    classes ``y`` (N), with respect to each ``nn.Linear`` layer's weight (its parameters'
    gradients are zero or None on entry): the norm of each, input layer first. Returns a
    list of floats, one per Linear layer of ``net`` (an ``nn.Sequential``)."""
    ### BEGIN SOLUTION
    nn.functional.cross_entropy(net(x), y).backward()
    return [m.weight.grad.norm().item() for m in net if isinstance(m, nn.Linear)]
    ### END SOLUTION


LABELS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "leaky ReLU", "elu": "ELU"}
COLORS = {"sigmoid": "C3", "tanh": "C1", "relu": "C0", "leaky_relu": "C2", "elu": "C4"}
# leaky ReLU's curves often lie on ReLU's: dashed, so that both stay visible
STYLES = {"leaky_relu": "--"}


def gradients_figure(norms: dict[str, list[float]]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for a, g in norms.items():
        ax.plot(range(1, len(g) + 1), g, marker="o", linestyle=STYLES.get(a, "-"), color=COLORS[a], label=LABELS[a])
    n = len(next(iter(norms.values())))
    ax.set_yscale("log")
    ax.set_xticks(range(1, n + 1))
    ax.set_xlabel(f"Linear layer (1 = first, {n} = output)")
    ax.set_ylabel("norm of the weight gradient")
    ax.set_title(f"gradient reaching each layer at the start, {n - 1} hidden layers, Xavier init")
    ax.legend(title="activation")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def losses_figure(curves: dict[str, list[float]], steps_per_epoch: int):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for a, losses in curves.items():
        ax.plot(
            [e * steps_per_epoch for e in range(len(losses))],
            losses,
            linestyle=STYLES.get(a, "-"),
            color=COLORS[a],
            label=LABELS[a],
        )
    ax.axhline(math.log(10), color="gray", linestyle=":", label="chance (ln 10)")
    ax.set_xlabel("SGD steps")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title("the same deep MLP with each activation, same steps")
    ax.legend(title="activation")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@lab(
    "rectifiers",
    source="EE-559 6.2",
    summary="sigmoid/tanh vs ReLU, leaky ReLU, ELU in a 10-layer MLP: vanishing gradients per layer, training loss",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc.engine import MetricsLogger, Supervised, evaluate, fit

    activations = parse_activations(cfg.activations)
    x, y, xt, yt = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, normalize=True, data_dir=ctx.data_dir, device=ctx.device
    )
    norms, curves, table = {}, {}, {}
    for a in activations:
        torch.manual_seed(ctx.seed)  # the same draw of weights (in shape) and of batches for every activation
        net = make_net(a, cfg.depth, cfg.width).to(ctx.device)
        norms[a] = layer_gradient_norms(net, x, y)
        net.zero_grad()
        step = Supervised(net, torch.optim.SGD(net.parameters(), lr=cfg.lr), loss="cross_entropy")
        start = evaluate(step, (x, y), ctx)["loss"]
        diverged = False
        history = []
        if cfg.epochs:
            try:
                history = fit(
                    step,
                    (x, y),
                    ctx,
                    epochs=cfg.epochs,
                    batch_size=cfg.batch_size,
                    callbacks=[MetricsLogger(every=0)],
                    name=a,
                )
            except NonFiniteLoss:
                diverged = True
        train = evaluate(step, (x, y), ctx)
        test = evaluate(step, (xt, yt), ctx)
        curves[a] = [start] + [r["train_loss"] for r in history]
        table[a] = {
            "first_gradient": norms[a][0],
            "last_gradient": norms[a][-1],
            "gradient_ratio": norms[a][0] / norms[a][-1] if norms[a][-1] > 0 else float("nan"),
            "start_loss": start,
            "train_loss": float("nan") if diverged else train["loss"],
            "test_error": test["error"],
            "diverged": diverged,
        }
        ctx.log(activation=a, gradient_norms=norms[a], **table[a])
        ctx.print(
            f"{LABELS[a]:10s} gradient first/last layer {table[a]['gradient_ratio']:.1e}; training loss "
            f"{start:.3f} -> {table[a]['train_loss']:.3f}, test error {test['error']:.1%}"
            + (" (diverged)" if diverged else "")
        )
    ctx.save_figure(gradients_figure(norms), "gradient_norms")
    steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
    if cfg.epochs:
        ctx.save_figure(losses_figure(curves, steps_per_epoch), "training_loss")

    ratios = ", ".join(f"{LABELS[a]} {table[a]['gradient_ratio']:.0e}" for a in activations)
    line = f"first/last layer gradient: {ratios}"
    if cfg.epochs:
        losses = ", ".join(f"{LABELS[a]} {table[a]['train_loss']:.2f}" for a in activations)
        line += f"; training loss after {cfg.epochs * steps_per_epoch} steps: {losses}"
    else:
        line += " (--epochs 0: nothing trained)"
    metrics = {f"{a}_{k}": v for a, row in table.items() for k, v in row.items()}
    metrics.update(
        {
            "epochs": cfg.epochs,
            "steps": cfg.epochs * steps_per_epoch,
            "activations": activations,
            "gradient_norms": norms,
            "loss_curves": curves,
        }
    )
    return Result(line, metrics=metrics)


def check(result: Result) -> list:
    """Vanishing gradients with sigmoid, not with ReLU; and what it does to training."""
    m = result.metrics
    out = []
    if "sigmoid_gradient_ratio" in m:
        out.append(
            verdict("sigmoid: first layer's gradient norm / last layer's", m["sigmoid_gradient_ratio"], "<", 1e-3)
        )
    if "sigmoid_gradient_ratio" in m and "relu_gradient_ratio" in m:
        out.append(
            verdict(
                "ReLU's first/last gradient ratio, over 100x sigmoid's",
                m["relu_gradient_ratio"],
                ">",
                100 * m["sigmoid_gradient_ratio"],
            )
        )
        if m["epochs"]:
            out.append(
                verdict(
                    "ReLU's training loss, below 3/4 of sigmoid's after the same steps",
                    m["relu_train_loss"],
                    "<",
                    0.75 * m["sigmoid_train_loss"],
                )
            )
    return out


# -- exercises (`dlc exercise rectifiers`, then `dlc check rectifiers`) --------------------


def _seeded(net: nn.Module, g: torch.Generator) -> nn.Module:
    """The net in float64 with weights drawn from ``g`` (Xavier-like scale), biases small."""
    net = net.double()
    with torch.no_grad():
        for p in net.parameters():
            scale = (2 / sum(p.shape)) ** 0.5 if p.dim() == 2 else 0.1
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * scale)
    return net


def _gradient_cases(g: torch.Generator) -> list[tuple]:
    out = []
    for name, depth, n in (("sigmoid", 6, 20), ("relu", 3, 7), ("elu", 2, 1)):
        layers = [m if isinstance(m, nn.Linear) else Activation(name) for m in deep_mlp(12, 9, depth, 4)]
        x = torch.randn(n, 12, generator=g, dtype=torch.float64)
        out.append((_seeded(nn.Sequential(*layers), g), x, torch.randint(0, 4, (n,), generator=g)))
    return out


def _fresh_gradients(f, net, x, y):
    net.zero_grad(set_to_none=True)  # the reference ran on the same net first
    return f(net, x, y)


TASKS = [
    Task(
        "activation",
        hint="one formula per name, elementwise with torch.exp, clamp and torch.where (tanh = 2 sigmoid(2x) - 1); "
        "in elu, take exp of x.clamp(max=0) so that the unused branch cannot overflow",
        cases=lambda g: [
            (torch.randn(5, 7, generator=g, dtype=torch.float64),),
            (6 * torch.randn(40, generator=g, dtype=torch.float64),),  # far into the saturated parts
        ],
        call=lambda f, x: {name: f(x, name) for name in ALL},
        grad=True,
    ),
    Task(
        "layer_gradient_norms",
        hint="backward the cross-entropy of net(x) against y once, then for each nn.Linear of net, in order, "
        "the norm of its weight's .grad as a float",
        cases=_gradient_cases,
        call=_fresh_gradients,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
