"""Benefits of depth (EE-559 6.1): at an equal number of parameters, a deep ReLU network
can cut a 1-D input into exponentially more linear pieces than a shallow one.

A ReLU network is piecewise linear. On a 1-D input, a shallow net 1 -> H -> 1 bends only
where one of its H units switches on or off, so it has at most H + 1 linear pieces, for
3H + 1 parameters. A deep one composes: the "tent" t(x) = 2 relu(x) - 4 relu(x - 1/2)
maps [0, 1] onto [0, 1] twice, and L tents composed, t(t(...t(x))), are a sawtooth with
2^(L-1) teeth, 2^L linear pieces, computed by L hidden layers of 2 units: 6L + 1
parameters (Telgarsky 2015; Montufar et al. 2014 count the regions in general).

The lab builds that deep network by hand (its weights are the tent's, nothing is
trained), and beside it the shallow network with as many parameters that fits the same
sawtooth best in least squares given its kinks: H = (6L + 1 - 1) // 3 units with their
kinks spread evenly over [0, 1] (unit j is relu(x - (j + 1/2) / H)), the output layer
solved exactly (the problem is then linear). Both are plain ``nn.Sequential`` ReLU nets;
their pieces are counted on a fine grid of [0, 1] (grid midpoints, so that no point falls
on a kink) as the number of places where the on/off pattern of the hidden units changes,
plus one (:func:`linear_pieces`). The same is done for every depth 1..L,
which gives the second figure: pieces against parameters, exponential for the deep
construction, linear for the shallow nets.

The lecture's slides are not among this project's sources; the sizes are ours: L = 6
layers (64 pieces from 37 parameters), a grid of 2^16 points. The issue asked for a
*trained* deep and shallow net compared on a sawtooth. We tried it (Adam, full batch, a
few thousand steps, 1-D sawtooths of 8 or 16 teeth, deep 6 x 8 against shallow nets of
equal size, several seeds): gradient descent found neither the construction nor a good
fit, and which of the two did better changed with the seed, so a check built on it would
measure luck. What depth buys is what a network *can* represent with its parameters;
that is measured exactly here (the notebook's exercise trains the deep net to see how far
gradient descent gets).

Check, measured in the run: the deep network has exactly 2^L pieces on the grid, at least
4 times as many as the shallow network of equal parameter count (whose pieces, counted the
same way, are at most its units + 1; from 4 layers on); it reproduces the sawtooth (MSE below 1e-12) while
the shallow fit's MSE stays above half the target's variance (it cannot follow the teeth).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.deep import parameter_count


@dataclass
class Config:
    depth: int = 6  # hidden layers L of the deep sawtooth net (2 units each): 2^L pieces, 6L + 1 parameters
    # (1 to 16)
    grid: int = 65536  # points of the grid of [0, 1] on which pieces are counted and MSEs measured
    # (at least 4 x 2^depth, so that every piece holds grid points)
    THREADS = 1  # a few units: one thread is fastest

    def __post_init__(self):
        if not 1 <= self.depth <= 16:
            raise UsageError(f"--depth must be between 1 and 16, got {self.depth}")
        if self.grid < 4 * 2**self.depth:
            raise UsageError(
                f"--grid must be at least 4 x 2^depth = {4 * 2**self.depth} to resolve the {2**self.depth} pieces, "
                f"got {self.grid}"
            )
        if self.grid > 2**22:
            raise UsageError(f"--grid must be at most {2**22:,}, got {self.grid}")


def tent(x: torch.Tensor) -> torch.Tensor:
    """The tent map 2 relu(x) - 4 relu(x - 1/2): [0, 1] onto [0, 1], up then down."""
    return 2 * torch.relu(x) - 4 * torch.relu(x - 0.5)


def sawtooth(x: torch.Tensor, depth: int) -> torch.Tensor:
    """The target: the tent composed ``depth`` times, 2^(depth-1) teeth on [0, 1]."""
    for _ in range(depth):
        x = tent(x)
    return x


def deep_sawtooth_net(depth: int) -> nn.Sequential:
    """The tent composed ``depth`` times, as a ReLU network: ``depth`` hidden layers
    ``nn.Linear`` -> ``nn.ReLU`` of 2 units each, then an ``nn.Linear(2, 1)`` output layer
    (6 depth + 1 parameters). Each hidden layer computes relu(u) and relu(u - 1/2) of the
    previous tent u, whose value 2 relu(.) - 4 relu(. - 1/2) of the layer before is folded
    into the weights. Returns the ``nn.Sequential``; on x (N x 1) in [0, 1] its output
    (N x 1) is :func:`sawtooth` (x, depth)."""
    layers: list[nn.Module] = []
    for k in range(depth):
        lin = nn.Linear(1 if k == 0 else 2, 2)
        with torch.no_grad():
            # the input of layer k is x (k = 0) or the previous layer's two units (a, b),
            # whose tent is 2a - 4b; both units of this layer read that value
            ### BEGIN SOLUTION
            w = torch.tensor([[1.0], [1.0]]) if k == 0 else torch.tensor([[2.0, -4.0], [2.0, -4.0]])
            lin.weight.copy_(w)
            lin.bias.copy_(torch.tensor([0.0, -0.5]))
            ### END SOLUTION
        layers += [lin, nn.ReLU()]
    out = nn.Linear(2, 1)
    with torch.no_grad():  # the last tent, 2a - 4b, is the output
        ### BEGIN SOLUTION
        out.weight.copy_(torch.tensor([[2.0, -4.0]]))
        out.bias.zero_()
        ### END SOLUTION
    return nn.Sequential(*layers, out)


@torch.no_grad()
def linear_pieces(model: nn.Sequential, x: torch.Tensor) -> int:
    """The number of linear pieces of a ReLU network (an ``nn.Sequential`` of ``nn.Linear``
    and ``nn.ReLU`` layers) on the sorted 1-D grid ``x`` (N x 1): one more than the number of
    grid steps x[n] -> x[n + 1] where the on/off pattern of the hidden units (which ReLU
    outputs are > 0) changes. Inside a region where no unit switches, the network is affine.
    Returns an int."""
    ### BEGIN SOLUTION
    patterns = []
    h = x
    for layer in model:
        h = layer(h)
        if isinstance(layer, nn.ReLU):
            patterns.append(h > 0)
    on = torch.cat(patterns, 1)  # N x (hidden units)
    return int((on[1:] != on[:-1]).any(1).sum()) + 1
    ### END SOLUTION


def shallow_fit(units: int, x: torch.Tensor, y: torch.Tensor) -> nn.Sequential:
    """A 1 -> units -> 1 ReLU net with kinks spread evenly over [0, 1] (unit j:
    relu(x - (j + 1/2) / units)) and the output layer that fits ``y`` best in least squares."""
    hidden = nn.Linear(1, units, dtype=x.dtype)
    with torch.no_grad():
        hidden.weight.fill_(1.0)
        hidden.bias.copy_(-(torch.arange(units, dtype=x.dtype) + 0.5) / units)
        features = torch.relu(hidden(x))
        design = torch.cat([features, torch.ones_like(x)], 1)
        coef = torch.linalg.lstsq(design, y).solution
    out = nn.Linear(units, 1, dtype=x.dtype)
    with torch.no_grad():
        out.weight.copy_(coef[:-1].T)
        out.bias.copy_(coef[-1])
    return nn.Sequential(hidden, nn.ReLU(), out)


def equal_budget_units(deep_parameters: int) -> int:
    """Hidden units of the largest shallow 1 -> H -> 1 net (3H + 1 parameters) within the budget."""
    return max(1, (deep_parameters - 1) // 3)


def mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(((model(x) - y) ** 2).mean())


def fits_figure(x, y, deep, shallow, m: dict):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    with torch.no_grad():
        panels = (
            (deep, "C1", f"deep: {m['depth']} layers x 2 units, {m['deep_parameters']} parameters", "deep"),
            (
                shallow,
                "C0",
                f"shallow: 1 layer x {m['shallow_units']} units, {m['shallow_parameters']} parameters",
                "shallow",
            ),
        )
        for ax, (net, color, label, key) in zip(axes, panels):
            ax.plot(x[:, 0], y[:, 0], color="0.6", linewidth=3, label="target: sawtooth")
            ax.plot(x[:, 0], net(x)[:, 0], color=color, linewidth=1.2, label=label)
            ax.set_title(
                f"{key}: {m[f'{key}_pieces']} linear pieces counted on the grid, MSE {m[f'{key}_mse']:.2g}", fontsize=10
            )
            ax.set_ylabel("f(x)")
            ax.set_ylim(-0.15, 1.4)
            ax.legend(loc="upper right", fontsize=8, ncol=2)
            ax.grid(alpha=0.3)
    axes[-1].set_xlabel("x")
    fig.suptitle(f"equal parameter budget: {m['target_pieces']}-piece sawtooth, deep ReLU net vs shallow one")
    fig.tight_layout()
    return fig


def pieces_figure(rows: list[dict]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(
        [r["deep_parameters"] for r in rows], [r["deep_pieces"] for r in rows], "o-", color="C1", label="deep (L x 2)"
    )
    ax.plot(
        [r["shallow_parameters"] for r in rows],
        [r["shallow_pieces"] for r in rows],
        "s-",
        color="C0",
        label="shallow (1 x H), same budget",
    )
    for r in rows:
        ax.annotate(
            f"L={r['depth']}",
            (r["deep_parameters"], r["deep_pieces"]),
            textcoords="offset points",
            xytext=(-6, 6),
            ha="right",
            fontsize=8,
        )
    ax.set_yscale("log", base=2)
    ax.set_xlabel("parameters")
    ax.set_ylabel("linear pieces on [0, 1] (counted)")
    ax.set_title("pieces grow exponentially with depth, linearly with width")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


@lab(
    "depth",
    source="EE-559 6.1",
    summary="benefits of depth: a deep ReLU net has 2^L linear pieces where a shallow one of equal size has ~L",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    # grid midpoints of [0, 1]: no point falls exactly on a kink of either network
    x = ((torch.arange(cfg.grid, dtype=torch.float64) + 0.5) / cfg.grid).unsqueeze(1)
    rows = []
    for depth in range(1, cfg.depth + 1):
        y = sawtooth(x, depth)
        deep = deep_sawtooth_net(depth).double()
        units = equal_budget_units(parameter_count(deep))
        shallow = shallow_fit(units, x, y).double()
        row = {
            "depth": depth,
            "target_pieces": 2**depth,
            "deep_parameters": parameter_count(deep),
            "deep_pieces": linear_pieces(deep, x),
            "deep_mse": mse(deep, x, y),
            "shallow_units": units,
            "shallow_parameters": parameter_count(shallow),
            "shallow_pieces": linear_pieces(shallow, x),
            "shallow_mse": mse(shallow, x, y),
            "target_variance": float(y.var()),
        }
        rows.append(row)
        ctx.log(**row)
        ctx.print(
            f"L={depth:2d}: deep {row['deep_parameters']:3d} parameters, {row['deep_pieces']:6d} pieces, "
            f"MSE {row['deep_mse']:.1e} | shallow {row['shallow_units']:3d} units, {row['shallow_parameters']:3d} "
            f"parameters, {row['shallow_pieces']:4d} pieces, MSE {row['shallow_mse']:.3g}"
        )
    m = rows[-1]
    ctx.save_figure(fits_figure(x, sawtooth(x, cfg.depth), deep, shallow, m), "fits")
    ctx.save_figure(pieces_figure(rows), "pieces")
    line = (
        f"{m['deep_parameters']} parameters: deep ({m['depth']} x 2) {m['deep_pieces']} pieces vs shallow "
        f"(1 x {m['shallow_units']}) {m['shallow_pieces']}; sawtooth MSE {m['deep_mse']:.1g} vs {m['shallow_mse']:.3f}"
    )
    return Result(line, metrics={**m, "by_depth": rows})


def check(result: Result) -> list:
    """The lecture's point on the deepest network, both networks measured in the run.
    From 4 layers on (16 pieces against the shallow net's 9) the gap is claimed as a factor."""
    m = result.metrics
    out = [verdict("deep net's pieces counted on the grid, vs 2^L", m["deep_pieces"], "==", m["target_pieces"])]
    if m["depth"] >= 4:
        out.append(
            verdict(
                "deep net's pieces, at least 4x the equal-budget shallow net's",
                m["deep_pieces"],
                ">=",
                4 * m["shallow_pieces"],
            )
        )
    out.append(verdict("deep net's sawtooth MSE (it is the sawtooth)", m["deep_mse"], "<", 1e-12))
    if m["depth"] >= 4:
        out.append(
            verdict(
                "shallow net's best sawtooth MSE, over half the target's variance",
                m["shallow_mse"],
                ">",
                0.5 * m["target_variance"],
            )
        )
    else:
        out.append(verdict("shallow net's best sawtooth MSE, not 0 (it misses corners)", m["shallow_mse"], ">", 1e-6))
    return out


# -- exercises (`dlc exercise depth`, then `dlc check depth`) ------------------------------


def _grid(n: int) -> torch.Tensor:
    return ((torch.arange(n, dtype=torch.float64) + 0.5) / n).unsqueeze(1)


def _net_facts(net: nn.Module, depth: int) -> dict:
    """What the construction must give: its parameter count and its output on a grid."""
    net = net.double()
    with torch.no_grad():
        return {"parameters": parameter_count(net), "output": net(_grid(16 * 2**depth))}


def _random_relu_net(g: torch.Generator, widths: list[int]) -> nn.Sequential:
    """A 1 -> widths... -> 1 ReLU net with seeded float64 weights (kinks spread over [0, 1])."""
    layers: list[nn.Module] = []
    sizes = [1, *widths]
    for a, b in zip(sizes[:-1], sizes[1:]):
        lin = nn.Linear(a, b, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=g, dtype=torch.float64))
            lin.bias.copy_(-lin.weight.sum(1) * torch.rand(b, generator=g, dtype=torch.float64))
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], 1, dtype=torch.float64))


def _piece_cases(g: torch.Generator) -> list[tuple]:
    return [
        (deep_sawtooth_net(3).double(), _grid(1000)),  # 8 pieces
        (_random_relu_net(g, [5]), _grid(1000)),
        (_random_relu_net(g, [4, 3, 3]), _grid(2000)),
        (_random_relu_net(g, [6]), _grid(50) * 1e-3 - 5.0),  # far left of every kink: few or no switches
    ]


TASKS = [
    Task(
        "deep_sawtooth_net",
        hint="layer 1 computes relu(x) and relu(x - 1/2); each later layer computes the same two units of the "
        "previous layer's tent 2a - 4b (fold those coefficients into its weights); the output layer is 2a - 4b",
        cases=lambda g: [(1,), (2,), (5,)],
        call=lambda f, depth: _net_facts(f(depth), depth),
    ),
    Task(
        "linear_pieces",
        hint="run the layers one by one, keep (output > 0) after every ReLU, concatenate those patterns, and count "
        "the grid steps where any unit's pattern changes, plus one",
        cases=_piece_cases,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
