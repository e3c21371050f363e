"""Stochastic gradient descent and PyTorch optimizers (EE-559 5.2-5.3).

Five update rules written from scratch, each a few lines in ``update``:

- SGD:       w <- w - lr g
- momentum:  u <- gamma u + lr g;  w <- w - u       (torch keeps v = u / lr: the same steps)
- Nesterov:  the momentum step with the gradient taken at the look-ahead point w - gamma u;
             written, as torch does, in terms of that look-ahead point:
             v <- gamma v + g;  w <- w - lr (g + gamma v)
- RMSProp:   s <- alpha s + (1 - alpha) g^2;  w <- w - lr g / (sqrt(s) + eps)
- Adam:      m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2;
             w <- w - lr m_hat / (sqrt(s_hat) + eps), with m_hat = m / (1 - b1^t),
             s_hat = s / (1 - b2^t) correcting the zero start of m and s.

They subclass ``torch.optim.Optimizer`` only for its bookkeeping (parameter groups,
``zero_grad``, ``state``), so they plug into any training loop.

The figures show the five trajectories on the Rosenbrock function and the five training
curves on the prologue's MNIST (each optimizer trained by the engine's ``fit``, from the
same initial weights and batch order).

Check: on a small network in float64 the parameters after each of 25 steps equal those
of ``torch.optim.SGD / RMSprop / Adam`` with the same settings (to 1e-12); on MNIST every
optimizer halves its first epoch's training loss and reaches a test error far below
chance (under half of 90%); on the valley, momentum ends 10 times lower than plain SGD
with the same step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from dlc import viz
from dlc.errors import NonFiniteLoss, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict


@dataclass
class Config:
    epochs: int = 10  # passes over the prologue's MNIST for each optimizer (the course's 10)
    batch_size: int = 100  # images per step on MNIST (the course's 100)
    hidden: int = 200  # hidden units of the MLP trained on MNIST (784 -> hidden -> 10)
    lr_sgd: float = 0.1  # SGD's step size (the course's 0.1)
    lr_momentum: float = 0.01  # step size of momentum and Nesterov; with gamma = 0.9 the
    # steady-state step is lr / (1 - gamma) = 0.1, SGD's (chosen here)
    momentum: float = 0.9  # gamma of momentum and Nesterov (the lecture's 0.9)
    lr_rmsprop: float = 1e-3  # RMSProp's step size (chosen here; alpha 0.99, eps 1e-8)
    lr_adam: float = 1e-3  # Adam's step size: its published default (b1 0.9, b2 0.999, eps 1e-8)
    path_steps: int = 1000  # steps of each optimizer on the Rosenbrock function (the figure)
    check_steps: int = 25  # steps compared with torch.optim, parameter by parameter
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    TINY = {"epochs": 4, "path_steps": 300}

    def __post_init__(self):
        for name in ("epochs", "batch_size", "hidden", "path_steps", "check_steps"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        for name in ("lr_sgd", "lr_momentum", "lr_rmsprop", "lr_adam"):
            if not getattr(self, name) > 0:
                raise UsageError(f"--{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.momentum < 1:
            raise UsageError(f"--momentum must be in [0, 1) (e.g. 0.9), got {self.momentum}")


class ScratchOptimizer(torch.optim.Optimizer):
    """Loops over the parameters with a gradient; subclasses write ``update``.

    ``update(p, g, state, group)`` makes one step on the parameter ``p`` in place (``p.sub_``;
    gradients are off), from its gradient ``g``; ``state`` is ``p``'s own dict, empty at the
    first step, kept from step to step; ``group`` holds the hyper-parameters (``group["lr"]``...).
    """

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad, self.state[p], group)
        return loss

    def update(self, p, g, state, group):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(ScratchOptimizer):
    """Plain gradient descent: w <- w - lr g."""

    def __init__(self, params, lr: float):
        super().__init__(params, dict(lr=lr))

    def update(self, p, g, state, group):
        p.sub_(group["lr"] * g)  # SOLUTION


class Momentum(ScratchOptimizer):
    """u <- gamma u + lr g; w <- w - u, with u = 0 before the first step (kept in ``state``)."""

    def __init__(self, params, lr: float, gamma: float = 0.9):
        super().__init__(params, dict(lr=lr, gamma=gamma))

    def update(self, p, g, state, group):
        ### BEGIN SOLUTION
        u = state.setdefault("u", torch.zeros_like(p))
        u.mul_(group["gamma"]).add_(group["lr"] * g)
        p.sub_(u)
        ### END SOLUTION


class Nesterov(ScratchOptimizer):
    """Momentum with the gradient at the look-ahead point, in torch's form:
    v <- gamma v + g; w <- w - lr (g + gamma v), with v = 0 before the first step."""

    def __init__(self, params, lr: float, gamma: float = 0.9):
        super().__init__(params, dict(lr=lr, gamma=gamma))

    def update(self, p, g, state, group):
        ### BEGIN SOLUTION
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["gamma"]).add_(g)
        p.sub_(group["lr"] * (g + group["gamma"] * v))
        ### END SOLUTION


class RMSProp(ScratchOptimizer):
    """s <- alpha s + (1 - alpha) g^2; w <- w - lr g / (sqrt(s) + eps), with s = 0 at first."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps))

    def update(self, p, g, state, group):
        ### BEGIN SOLUTION
        s = state.setdefault("s", torch.zeros_like(p))
        s.mul_(group["alpha"]).add_((1 - group["alpha"]) * g * g)
        p.sub_(group["lr"] * g / (s.sqrt() + group["eps"]))
        ### END SOLUTION


class Adam(ScratchOptimizer):
    """At step t = 1, 2, ...: m <- b1 m + (1 - b1) g; s <- b2 s + (1 - b2) g^2 (both 0 at
    first); w <- w - lr m_hat / (sqrt(s_hat) + eps) with m_hat = m / (1 - b1^t) and
    s_hat = s / (1 - b2^t), which correct the zero start. (b1, b2) = ``group["betas"]``."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        ### BEGIN SOLUTION
        if not state:
            state.update(t=0, m=torch.zeros_like(p), s=torch.zeros_like(p))
        state["t"] += 1
        t, m, s = state["t"], state["m"], state["s"]
        m.mul_(b1).add_((1 - b1) * g)
        s.mul_(b2).add_((1 - b2) * g * g)
        m_hat, s_hat = m / (1 - b1**t), s / (1 - b2**t)
        p.sub_(group["lr"] * m_hat / (s_hat.sqrt() + group["eps"]))
        ### END SOLUTION


def optimizer_pairs(cfg: Config) -> dict:
    """Name -> (ours, torch.optim's equivalent), as factories of a parameter list."""
    lr_m, mu = cfg.lr_momentum, cfg.momentum
    return {
        "SGD": (lambda ps: SGD(ps, cfg.lr_sgd), lambda ps: torch.optim.SGD(ps, lr=cfg.lr_sgd)),
        "momentum": (lambda ps: Momentum(ps, lr_m, mu), lambda ps: torch.optim.SGD(ps, lr=lr_m, momentum=mu)),
        "Nesterov": (
            lambda ps: Nesterov(ps, lr_m, mu),
            lambda ps: torch.optim.SGD(ps, lr=lr_m, momentum=mu, nesterov=True),
        ),
        "RMSProp": (lambda ps: RMSProp(ps, cfg.lr_rmsprop), lambda ps: torch.optim.RMSprop(ps, lr=cfg.lr_rmsprop)),
        "Adam": (lambda ps: Adam(ps, cfg.lr_adam), lambda ps: torch.optim.Adam(ps, lr=cfg.lr_adam)),
    }


def step_by_step_difference(make_ours, make_torch, steps: int = 25, seed: int = 0) -> list[float]:
    """Train two copies of one small float64 network, ours vs torch's optimizer, on the same
    mini-batches; the largest parameter difference after each step."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 5, generator=g, dtype=torch.float64)
    y = torch.randn(64, 1, generator=g, dtype=torch.float64)
    torch.manual_seed(seed)
    a = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    b = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    b.load_state_dict(a.state_dict())
    opt_a, opt_b = make_ours(list(a.parameters())), make_torch(list(b.parameters()))
    diffs = []
    for _ in range(steps):
        idx = torch.randint(0, 64, (16,), generator=g)
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            nn.functional.mse_loss(model(x[idx]), y[idx]).backward()
            opt.step()
        diffs.append(max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters())))
    return diffs


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    """(1 - x)^2 + 100 (y - x^2)^2: a curved, flat-bottomed valley, minimum 0 at (1, 1)."""
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


# Step sizes for the 2-D picture: the gradient there reaches ~1e3, so SGD needs a small lr;
# the adaptive methods normalise the step and take a larger one.
PATH_SETTINGS = {
    "SGD": lambda ps: SGD(ps, 1e-3),
    "momentum": lambda ps: Momentum(ps, 1e-3, 0.9),
    "Nesterov": lambda ps: Nesterov(ps, 1e-3, 0.9),
    "RMSProp": lambda ps: RMSProp(ps, 1e-2),
    "Adam": lambda ps: Adam(ps, 1e-1),
}


def trajectory(make_opt, steps: int, start=(-1.2, 1.0)) -> torch.Tensor:
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = make_opt([p])
    path = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        rosenbrock(p).backward()
        opt.step()
        path.append(p.detach().clone())
    return torch.stack(path)


def trajectories_figure(paths: dict):
    """One panel per optimizer over the valley's contours, and f along the way in the last."""
    import matplotlib.pyplot as plt

    xs, ys = torch.meshgrid(
        torch.linspace(-2, 2, 200, dtype=torch.float64), torch.linspace(-1, 3, 200, dtype=torch.float64), indexing="xy"
    )
    z = rosenbrock(torch.stack([xs, ys])).log10().numpy()
    fig, axes = plt.subplots(2, 3, figsize=(12, 8.6))
    for ax, (name, path) in zip(axes.flat, paths.items()):
        ax.contour(xs.numpy(), ys.numpy(), z, levels=20, cmap="Greys", linewidths=0.5)
        ax.plot(path[:, 0].numpy(), path[:, 1].numpy(), ".-", markersize=2, linewidth=0.8, label="path")
        ax.plot(path[:1, 0].numpy(), path[:1, 1].numpy(), "ko", markersize=5, label="start (-1.2, 1)")
        ax.plot([1], [1], "r*", markersize=10, label="minimum (1, 1)")
        ax.set_title(f"{name}: f = {rosenbrock(path[-1]).item():.1e} at the end")
        ax.set_xlim(-2, 2)
        ax.set_ylim(-1, 3)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    ax = axes.flat[-1]
    for name, path in paths.items():
        ax.plot([rosenbrock(p).item() for p in path], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("f(x, y)")
    ax.set_title("f along each path")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, bbox_to_anchor=(0.5, 0.955), fontsize=9)
    fig.suptitle(
        f"Rosenbrock function f = (1 - x)^2 + 100 (y - x^2)^2 (contours), {len(path) - 1} steps of each optimizer"
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


@lab(
    "optimizers",
    source="EE-559 5.2-5.3",
    summary="SGD, momentum, Nesterov, RMSProp and Adam from scratch; equal to torch.optim step by step",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc import prologue
    from dlc.engine import MetricsLogger, Supervised, evaluate, fit
    from dlc.engine.callbacks import ProgressBar

    pairs = optimizer_pairs(cfg)

    # 1. Our update rules are torch.optim's, step by step.
    worst = {}
    for name, (ours, theirs) in pairs.items():
        diffs = step_by_step_difference(ours, theirs, cfg.check_steps, seed=ctx.seed)
        worst[name] = max(diffs)
        ctx.log(check=name, steps=cfg.check_steps, max_param_difference=worst[name])
        ctx.print(
            f"{name:9s} vs torch.optim: max |parameter difference| over {cfg.check_steps} steps = {worst[name]:.1e}"
        )

    # 2. The shape of each update rule: paths on a 2-D valley.
    paths = {name: trajectory(make, cfg.path_steps) for name, make in PATH_SETTINGS.items()}
    final_f = {name: rosenbrock(path[-1]).item() for name, path in paths.items()}
    ctx.print(f"Rosenbrock, f after {cfg.path_steps} steps: " + ", ".join(f"{k} {v:.1e}" for k, v in final_f.items()))
    ctx.save_figure(trajectories_figure(paths), "rosenbrock")

    # 3. The same optimizers training an MLP on the prologue's MNIST.
    x, y, xt, yt = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, normalize=True, data_dir=ctx.data_dir
    )
    curves, test_error = {}, {}
    for name, (ours, _) in pairs.items():
        torch.manual_seed(max(ctx.seed, 0))  # the same initial weights and batch order for every optimizer
        model = nn.Sequential(nn.Linear(x.shape[1], cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, 10))
        step = Supervised(model, ours(list(model.parameters())), loss="cross_entropy", metric="error")
        # five inner fits: a bar each (not with --quiet), no checkpoints; their epochs go to
        # metrics.jsonl, their curves to the one figure below
        bar = [] if ctx.quiet else [ProgressBar(epoch_lines=False)]
        try:
            history = fit(
                step,
                (x, y),
                ctx,
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                name=name,
                callbacks=[*bar, MetricsLogger(every=0)],
            )
        except NonFiniteLoss as e:  # a step size too large: record the divergence, go on
            ctx.print(f"{name:9s} diverged: {e}")
            curves[name], test_error[name] = [float("nan")], float("nan")
            continue
        curves[name] = [r["train_loss"] for r in history]
        test_error[name] = evaluate(step, (xt, yt), ctx)["error"]
        ctx.print(
            f"{name:9s} train loss {curves[name][0]:.3f} -> {curves[name][-1]:.3f}, test error {test_error[name]:.1%}"
        )
    ctx.save_figure(
        viz.curves(
            curves, ylabel="train loss", logy=True, title=f"MLP 784-{cfg.hidden}-10 on MNIST ({len(x)} samples)"
        ),
        "training",
    )

    check = max(worst.values())
    finite = {k: v for k, v in test_error.items() if math.isfinite(v)}
    best = min(finite, key=finite.get) if finite else "none: all diverged"
    metrics = {
        "max_param_difference": check,
        **{f"{k}_max_param_difference": v for k, v in worst.items()},
        **{f"{k}_rosenbrock_final": v for k, v in final_f.items()},
        **{f"{k}_test_error": v for k, v in test_error.items()},
        **{f"{k}_first_loss": c[0] for k, c in curves.items()},
        **{f"{k}_last_loss": c[-1] for k, c in curves.items()},
    }
    line = (
        f"own SGD/momentum/Nesterov/RMSProp/Adam equal torch.optim step by step (max diff {check:.1e}); "
        f"MNIST test error: "
        + ", ".join(f"{k} {v:.1%}" if math.isfinite(v) else f"{k} diverged" for k, v in test_error.items())
        + f" (best {best})"
    )
    if not math.isfinite(check):
        line = "own optimizers diverged from torch.optim: " + line
    return Result(line, metrics=metrics)


def _worst(values) -> float:
    """The largest value, NaN (a diverged fit) if any is NaN."""
    values = list(values)
    return float("nan") if any(math.isnan(v) for v in values) else max(values)


def check(result: Result) -> list:
    """The lecture's points: the update rules are torch.optim's, they all train the MLP,
    and momentum runs along the valley where plain SGD crawls."""
    m = result.metrics
    names = ("SGD", "momentum", "Nesterov", "RMSProp", "Adam")
    return [
        verdict(
            "max |parameter difference| with torch.optim, step by step (float64)", m["max_param_difference"], "<", 1e-12
        ),
        verdict(
            "MNIST: the worst optimizer's last / first epoch's training loss",
            _worst(m[f"{k}_last_loss"] / m[f"{k}_first_loss"] for k in names),
            "<",
            0.5,
        ),
        verdict(
            "MNIST: the worst optimizer's test error, below chance (90%)",
            _worst(m[f"{k}_test_error"] for k in names),
            "<",
            0.9 * 0.5,
        ),
        verdict(
            "Rosenbrock: momentum's final f / SGD's",
            m["momentum_rosenbrock_final"] / m["SGD_rosenbrock_final"],
            "<",
            0.1,
        ),
    ]


# -- exercises (`dlc exercise optimizers`, then `dlc check optimizers`) ------------------


def _steps(cls, start: torch.Tensor, grads: list, settings: dict) -> torch.Tensor:
    """The parameter after each of ``len(grads)`` steps of ``cls(**settings)`` fed these
    gradients, stacked: one row per step."""
    p = start.clone()
    opt = cls([p], **settings)
    path = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        path.append(p.detach().clone())
    return torch.stack(path)


def _step_cases(*settings: dict):
    """One case per settings: a float64 start and gradients (some steps large, some tiny)."""

    def cases(g: torch.Generator) -> list[tuple]:
        out = []
        for k, kw in enumerate(settings):
            shape = ((3, 2), (5,), (2, 1, 3))[k % 3]
            start = torch.randn(shape, generator=g, dtype=torch.float64)
            scales = torch.tensor([1.0, 10.0, 1e-3, 1.0, -2.0, 0.5])  # the adaptive rules rescale these
            grads = [s * torch.randn(shape, generator=g, dtype=torch.float64) for s in scales.tolist()]
            out.append((start, grads, kw))
        return out

    return cases


TASKS = [
    Task(
        "SGD",
        hint="in update: p.sub_(lr * g), with lr = group['lr']",
        cases=_step_cases({"lr": 0.1}, {"lr": 0.5}),
        call=_steps,
    ),
    Task(
        "Momentum",
        hint="keep u in state (zeros_like(p) at first); u = gamma u + lr g, in place; then p.sub_(u)",
        cases=_step_cases({"lr": 0.1, "gamma": 0.9}, {"lr": 0.01, "gamma": 0.5}),
        call=_steps,
    ),
    Task(
        "Nesterov",
        hint="keep v in state (zeros at first); v = gamma v + g, in place; then p.sub_(lr * (g + gamma v))",
        cases=_step_cases({"lr": 0.1, "gamma": 0.9}, {"lr": 0.01, "gamma": 0.5}),
        call=_steps,
    ),
    Task(
        "RMSProp",
        hint="keep s in state (zeros at first); s = alpha s + (1 - alpha) g^2, in place; "
        "then p.sub_(lr * g / (sqrt(s) + eps))",
        cases=_step_cases({"lr": 0.01}, {"lr": 0.1, "alpha": 0.9, "eps": 1e-6}),
        call=_steps,
    ),
    Task(
        "Adam",
        hint="keep t, m and s in state; t += 1; m = b1 m + (1 - b1) g; s = b2 s + (1 - b2) g^2; "
        "p.sub_(lr * m_hat / (sqrt(s_hat) + eps)) with m_hat = m / (1 - b1^t), s_hat = s / (1 - b2^t)",
        cases=_step_cases({"lr": 0.01}, {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6}),
        call=_steps,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
