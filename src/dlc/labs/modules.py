"""PyTorch modules and batch processing; writing a module (EE-559 4.3, 4.6).

An ``nn.Module`` holds ``Parameter``s (tensors it registers, so ``parameters()`` finds
them and an optimizer can update them) and sub-modules, and maps a whole batch at once:
every module works on N x ... tensors, sample n of the output depending only on sample
n of the input. The lab

1. writes ``MyLinear``, a fully-connected layer with its own ``Parameter``s and PyTorch's
   initialisation, and checks it computes what ``nn.Linear`` computes;
2. writes ``Net``, the lecture's MNIST convnet (conv 32@5 -> max-pool 3 -> conv 64@5 ->
   max-pool 2 -> fc 200 -> fc 10), with ``MyLinear`` for its fully-connected layers;
3. checks batch processing: the output for a batch equals the outputs for its samples one
   by one (float64), and measures how much faster the batch is;
4. shows the classic mistake: layers kept in a plain Python list are invisible to
   ``parameters()`` (so never trained); ``nn.ModuleList`` registers them;
5. trains ``Net`` on the prologue's MNIST (cross-entropy, SGD lr 0.1, mini-batches of 100).

Check: a batch gives its samples' outputs one by one (to 1e-12, float64); the layers kept
in a plain list are invisible to ``parameters()``, those in an ``nn.ModuleList`` are all
found; the trained module's training loss
falls below half its first-epoch value and its test error is far below chance (under
half of 90%).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict


@dataclass
class Config:
    epochs: int = 10  # passes over the training set when training Net (the lecture's 10)
    lr: float = 0.1  # SGD step size (the lecture's 0.1)
    batch_size: int = 100  # images per SGD step (the lecture's 100)
    hidden: int = 200  # units of Net's fully-connected hidden layer (the lecture's 200)
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)

    def __post_init__(self):
        for name in ("epochs", "batch_size", "hidden"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise UsageError(f"--lr must be positive, got {self.lr}")


class MyLinear(nn.Module):
    """y = x W^T + b. Assigning an ``nn.Parameter`` to an attribute registers it.

    ``weight`` (out_features x in_features) and ``bias`` (out_features) are Parameters,
    drawn uniformly in [-bound, bound] (PyTorch's default for ``nn.Linear``), the weight
    first.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        bound = 1 / math.sqrt(in_features)  # PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        ### BEGIN SOLUTION
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A batch N x in_features -> N x out_features."""
        return x @ self.weight.t() + self.bias  # SOLUTION


class Net(nn.Module):
    """The lecture's MNIST convnet: 1x28x28 -> 32x24x24 -> 32x8x8 -> 64x4x4 -> 64x2x2 -> 200 -> 10."""

    def __init__(self, hidden: int = 200):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5)
        self.fc1 = MyLinear(256, hidden)
        self.fc2 = MyLinear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), kernel_size=3, stride=3))
        x = F.relu(F.max_pool2d(self.conv2(x), kernel_size=2, stride=2))
        x = F.relu(self.fc1(x.view(-1, 256)))
        return self.fc2(x)


class ListMLP(nn.Module):
    """The mistake: sub-modules in a plain list are not registered."""

    def __init__(self, sizes=(784, 100, 10)):
        super().__init__()
        self.layers = [MyLinear(a, b) for a, b in zip(sizes, sizes[1:])]

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


class ModuleListMLP(ListMLP):
    """The fix: ``nn.ModuleList`` registers every module it holds. After ``__init__``,
    ``self.layers`` holds the same layers as ``ListMLP``'s, and ``parameters()`` finds them."""

    def __init__(self, sizes=(784, 100, 10)):
        super().__init__(sizes)  # self.layers: a plain list of MyLinear
        self.layers = nn.ModuleList(self.layers)  # SOLUTION


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def batch_difference(model: nn.Module, x: torch.Tensor) -> float:
    """max |output for the batch - outputs for its samples one by one|."""
    with torch.no_grad():
        y_each = torch.cat([model(x[i : i + 1]) for i in range(len(x))])
        return (model(x) - y_each).abs().max().item()


def batch_timing(model: nn.Module, x: torch.Tensor, repeat: int = 3) -> tuple[float, float]:
    """Best-of-``repeat`` seconds for (one call on the batch, one call per sample)."""

    def best(fn):
        fn()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    with torch.no_grad():
        return (best(lambda: model(x)), best(lambda: [model(x[i : i + 1]) for i in range(len(x))]))


@lab(
    "modules",
    source="EE-559 4.3, 4.6",
    summary="write an nn.Module with its own Parameters (the lecture's MNIST convnet); batch = per-sample; it trains",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc import prologue
    from dlc.engine import Supervised, evaluate, fit

    x, y, xt, yt = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, normalize=True, flatten=False, data_dir=ctx.data_dir
    )

    # 1. MyLinear computes nn.Linear's function (given the same parameters).
    mine, ref = MyLinear(20, 7).double(), nn.Linear(20, 7).double()
    ref.load_state_dict(mine.state_dict())  # same names: weight, bias
    z = torch.randn(5, 20, dtype=torch.float64)
    linear_diff = (mine(z) - ref(z)).abs().max().item()

    # 2. The lecture's convnet, with MyLinear inside.
    model = Net(cfg.hidden)
    params = {n: tuple(p.shape) for n, p in model.named_parameters()}
    ctx.print(f"Net: {count_parameters(model):,} parameters: " + ", ".join(f"{n} {list(s)}" for n, s in params.items()))

    # 3. Batch processing: one call on N samples = N calls on one sample each.
    probe = Net(cfg.hidden)
    t_batch, t_each = batch_timing(probe, x[:100])
    batch_diff = batch_difference(probe.double(), x[:100].double())
    ctx.print(
        f"batch of 100 vs one by one: max difference {batch_diff:.1e} (float64); "
        f"batch {t_batch * 1e3:.1f} ms, one by one {t_each * 1e3:.1f} ms"
    )

    # 4. Registration: a list hides the layers, a ModuleList shows them.
    listed = ModuleListMLP()
    hidden_params, listed_params = count_parameters(ListMLP()), count_parameters(listed)
    in_layers = sum(count_parameters(layer) for layer in listed.layers)  # what parameters() should find
    ctx.print(
        f"parameters() of an MLP kept in a list: {hidden_params}; in a ModuleList: {listed_params} "
        f"(its layers hold {in_layers})"
    )

    # 5. Train it: the optimizer finds MyLinear's weights through parameters().
    step = Supervised(model, torch.optim.SGD(model.parameters(), lr=cfg.lr), loss="cross_entropy", metric="error")
    history = fit(step, (x, y), ctx, epochs=cfg.epochs, batch_size=cfg.batch_size)  # writes curves.png
    test = evaluate(step, (xt, yt), ctx)
    first, last = history[0]["train_loss"], history[-1]["train_loss"]

    metrics = {
        "linear_vs_nn_linear": linear_diff,
        "batch_vs_samples_max_diff": batch_diff,
        "batch_speedup": t_each / max(t_batch, 1e-9),
        "parameters": count_parameters(model),
        "list_parameters": hidden_params,
        "modulelist_parameters": listed_params,
        "modulelist_layer_parameters": in_layers,
        "first_train_loss": first,
        "last_train_loss": last,
        "test_error": test["error"],
        "test_accuracy": 1 - test["error"],
        "test_n": test["n"],
    }
    line = (
        f"Net ({count_parameters(model):,} parameters, MyLinear inside) trained {cfg.epochs} epochs: "
        f"train loss {first:.3f} -> {last:.3f}, test error {test['error']:.1%} "
        f"({test['n'] - test['correct']}/{test['n']}); batch = one-by-one to {batch_diff:.0e}, "
        f"{t_each / max(t_batch, 1e-9):.0f}x faster"
    )
    return Result(line, metrics=metrics)


def check(result: Result) -> list:
    """The lecture's points: a module maps a batch as its samples one by one; only
    registered sub-modules are parameters; the hand-written module trains."""
    m = result.metrics
    return [
        verdict("batch vs one-by-one outputs, max difference (float64)", m["batch_vs_samples_max_diff"], "<", 1e-12),
        verdict("parameters() of layers kept in a plain list", m["list_parameters"], "==", 0),
        verdict(
            "parameters() of layers in an nn.ModuleList, minus what the layers hold",
            m["modulelist_parameters"] - m["modulelist_layer_parameters"],
            "==",
            0,
        ),
        verdict("last / first epoch's training loss", m["last_train_loss"] / m["first_train_loss"], "<", 0.5),
        verdict("test error below chance (90%)", m["test_error"], "<", 0.9 * 0.5),
    ]


# -- exercises (`dlc exercise modules`, then `dlc check modules`) -----------------------------


def _registered(module: nn.Module) -> list[str]:
    """The parameters a module registered: name and shape."""
    return sorted(f"{n} {tuple(p.shape)}" for n, p in module.named_parameters())


TASKS = [
    Task(
        "MyLinear",
        hint="in __init__, make weight (out x in) and bias (out) nn.Parameters drawn in U(-bound, bound), the weight "
        "first; forward returns x W^T + b",
        build=lambda cls: cls(6, 3),
        cases=lambda g: [(torch.randn(n, 6, generator=g, dtype=torch.float64),) for n in (5, 1)],
        # the input in the weight's dtype: unregistered tensors are not made float64 with the module
        call=lambda m, x: {"registered": _registered(m), "output": m(x.to(m.weight.dtype))},
        grad=True,
    ),
    Task(
        "ModuleListMLP",
        hint="wrap the list of layers in an nn.ModuleList and assign it to self.layers: parameters() then finds them",
        build=lambda cls: cls((7, 5, 3)),
        cases=lambda g: [()],
        call=_registered,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
