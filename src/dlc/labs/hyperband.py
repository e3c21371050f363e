"""Hyperband model selection (EDHEC "Model selection"; Li et al., JMLR 2018).

Many hyper-parameters (structure: number of layers and units; estimation: the
learning rate) and no way to try them all for long. The course's good practice: a
reasonable optimizer (Adam), then Hyperband over structure + learning rate.

Here: an MLP on the prologue's MNIST, searched over its width, depth and Adam
learning rate, with "resource" = training epochs. A fifth of the training set is
held out for validation; the search only ever sees the validation loss, and the test
set is touched once, for the winner. Hyperband's brackets (the paper's table of
``(n_i, r_i)``) are printed, and the whole comparison is repeated over several seeds
against random search given exactly the epochs Hyperband spent. The search itself is
:mod:`dlc.tune`; the schedule it follows is written out here from the paper's formulas
(:func:`bracket`), and the lab checks that the search trained exactly what that schedule
plans.

Check: the winner's test error is far below chance (under 50%, chance is 90%); Hyperband
spent exactly the budget its schedule plans (:func:`bracket`'s rungs, promoted
configurations resumed); at every seed random search got the same budget (to
within one R-epoch training, never more) and Hyperband looked at more than twice as many
configurations for it. Which of the two wins on this small problem is reported (mean ±
std over the seeds), not asserted: that Hyperband finds a known optimum more often than
random search at equal budget is tested on a synthetic objective (tests/tune).
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

import torch

from dlc import prologue, tune
from dlc.engine import Supervised, evaluate, fit
from dlc.errors import DlcError, NonFiniteLoss, UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.mlp import MLP
from dlc.progress import progress_bar
from dlc.stats import check_fraction, split

# The search space: structure (width and depth of the MLP) and the learning rate.
WIDTHS = (16, 32, 64, 128, 256)
DEPTHS = (1, 2, 3)  # hidden layers
LR_RANGE = (1e-5, 1e-1)  # Adam, drawn log-uniformly


@dataclass
class Config:
    R: int = 27  # Hyperband's R: the most epochs one configuration gets (at least 1;
    # the paper's table uses 81, which --full runs)
    eta: int = 3  # Hyperband's eta (the paper's default 3): each rung keeps 1/eta of the
    # configurations and trains them eta times longer (at least 2)
    seeds: int = 3  # repetitions of the comparison Hyperband vs random search (at least 1)
    batch_size: int = 100  # samples per Adam mini-batch (chosen here)
    val_fraction: float = 0.2  # of the prologue's training set, held out for selection (between 0 and 1)
    train_size: int | None = 1000  # MNIST training images, split into train/val (--tiny 500, --full all)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    TINY = {"R": 9, "seeds": 2}
    FULL = {"R": 81, "seeds": 5}

    def __post_init__(self):
        for name, least in (("R", 1), ("eta", 2), ("seeds", 1)):
            if getattr(self, name) < least:
                raise UsageError(f"--{name} must be at least {least}, got {getattr(self, name)}")
        try:
            tune.max_bracket(self.R, self.eta)  # R >= 1 and eta >= 2, or a DlcError saying so
        except DlcError as e:
            raise UsageError(str(e)) from None
        check_fraction("val_fraction", self.val_fraction)


def bracket(R: int, eta: int, s: int) -> list[tuple[int, int]]:
    """The successive-halving rungs of Hyperband's bracket ``s`` (Li et al. 2018, Algorithm 1).

    With s_max = floor(log_eta R) (``tune.max_bracket``), bracket s starts
    n = ceil((s_max + 1) / (s + 1) * eta^s) configurations at r = R eta^-s epochs; its rung
    i (0..s) trains the best n_i = floor(n eta^-i) of them to r_i = r eta^i epochs. Returns
    [(n_0, r_0), ..., (n_s, r_s)], whole numbers: compute n and n_i with integers, and round
    r_i to the nearest whole number, halves up, at least 1 (it is exact when R is a power of
    eta).
    """
    s_max = tune.max_bracket(R, eta)
    if not 0 <= s <= s_max:
        raise DlcError(f"bracket s must be in 0..{s_max} for R={R}, eta={eta}, got {s}")
    ### BEGIN SOLUTION
    n = -(-((s_max + 1) * eta**s) // (s + 1))  # ceil with integers
    return [(n // eta**i, max(1, math.floor(R * eta ** (i - s) + 0.5))) for i in range(s + 1)]
    ### END SOLUTION


def planned_budget(R: int, eta: int) -> tuple[dict[int, list[tuple[int, int]]], int]:
    """Every bracket's rungs, from s_max down to 0 (the order Hyperband runs them), and the
    epochs they plan: a promoted configuration resumes, so rung i costs n_i (r_i - r_(i-1))."""
    schedule = {s: bracket(R, eta, s) for s in range(tune.max_bracket(R, eta), -1, -1)}
    total = 0
    for rungs in schedule.values():
        total += sum(n_i * (r_i - previous) for (n_i, r_i), previous in zip(rungs, [0] + [r for _, r in rungs]))
    return schedule, total


def sample_config(rng: random.Random) -> dict:
    """One random point of the search space."""
    lo, hi = map(math.log10, LR_RANGE)
    return {"width": rng.choice(WIDTHS), "depth": rng.choice(DEPTHS), "lr": 10 ** rng.uniform(lo, hi)}


def describe(config: dict) -> str:
    return f"width {config['width']}, depth {config['depth']}, lr {config['lr']:.2g}"


def build(config: dict, n_in: int = 784, n_classes: int = 10):
    """The MLP and its Adam optimizer for a configuration."""
    model = MLP([n_in] + [config["width"]] * config["depth"] + [n_classes])
    return model, torch.optim.Adam(model.parameters(), lr=config["lr"])


def make_evaluate(train, val, device, batch_size: int, on_train=None):
    """Hyperband's ``evaluate(config, epochs, state)``: train to ``epochs`` in total,
    resuming from ``state`` (the step with its model and optimizer, the epochs done),
    return the validation loss. ``on_train(epochs)``, if given, is told how many epochs
    each call trained (or skipped, for a diverged configuration): the progress bar."""

    def evaluate_config(config: dict, epochs: int, state):
        if on_train is not None:
            on_train(epochs - (state["epochs"] if state is not None else 0))
        if state is None:
            model, opt = build(config, train[0].shape[1])
            state = {
                "model": model.to(device),
                "optimizer": opt,
                "epochs": 0,
                "diverged": False,
                "step": Supervised(model, opt, loss="cross_entropy"),
            }
        if not state["diverged"]:
            # Many short inner fits: no progress bar, files or curves (no run: ctx None).
            # Each fit on the same step continues training the same model and optimizer.
            try:
                fit(state["step"], train, None, epochs=epochs - state["epochs"], batch_size=batch_size, callbacks=[])
            except NonFiniteLoss:  # the loss became NaN: too large a learning rate
                state["diverged"] = True
        state["epochs"] = epochs
        if state["diverged"]:
            return math.inf, state
        return evaluate(state["step"], val)["loss"], state

    return evaluate_config


def test_error(state: dict, test) -> float:
    """The error of a search's winner on the test set (in eval mode, no gradient)."""
    return evaluate(state["step"], test)["error"]


@lab(
    "hyperband",
    source="EDHEC model selection",
    summary="Hyperband (Li et al. 2018) over MLP width, depth and learning rate vs random search",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    ctx.print(tune.format_schedule(cfg.R, cfg.eta))
    x, y, test_x, test_y = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, data_dir=ctx.data_dir, device=ctx.device, normalize=True
    )
    train, val = split(x, y, cfg.val_fraction, ctx.seed)
    test = (test_x, test_y)
    ctx.print(f"{len(train[0])} training, {len(val[0])} validation, {len(test_x)} test samples")

    # One bar over every epoch trained, by both searches at every seed; its label says
    # where Hyperband is (bracket s, rung i), from the schedule's order of evaluations.
    schedule, planned = planned_budget(cfg.R, cfg.eta)
    budget = tune.schedule_budget(cfg.R, cfg.eta)
    bar = progress_bar(ctx, cfg.seeds * (budget + budget // cfg.R * cfg.R), unit="epoch")
    where = [
        f"bracket s={s}, rung {i} ({n_i} configs x {r_i} epochs)"
        for s, rungs in schedule.items()
        for i, (n_i, r_i) in enumerate(rungs)
        for _ in range(n_i)
    ]
    calls = {"n": 0, "search": "", "label": ""}

    def on_train(epochs: int) -> None:
        if calls["search"] == "Hyperband":
            label = f"{calls['seed']}Hyperband, {where[min(calls['n'], len(where) - 1)]}"
            if label != calls["label"]:  # drawn at once: a rung may take less than the bar's refresh interval
                bar.set_description(label)
                calls["label"] = label
        calls["n"] += 1
        bar.update(epochs)

    evaluate_config = make_evaluate(train, val, ctx.device, cfg.batch_size, on_train)

    rows, first = [], None
    for k in range(cfg.seeds):
        seed = ctx.seed + k
        torch.manual_seed(seed)
        calls.update(n=0, search="Hyperband", seed=f"seed {k + 1}/{cfg.seeds}: ")
        hb = tune.hyperband(sample_config, evaluate_config, cfg.R, cfg.eta, rng=seed)
        # Random search gets exactly the epochs Hyperband trained, R at a time.
        torch.manual_seed(seed)
        calls.update(search="random search")
        bar.set_description(f"seed {k + 1}/{cfg.seeds}: random search, {hb.budget // cfg.R} configs x {cfg.R} epochs")
        rs = tune.random_search(sample_config, evaluate_config, cfg.R, budget=hb.budget, rng=10_000 + seed)
        row = {
            "seed": seed,
            "budget": hb.budget,
            "hb_configs": hb.n_configs,
            "rs_configs": rs.n_configs,
            "hb_val_loss": hb.best_loss,
            "rs_val_loss": rs.best_loss,
            "hb_test_error": test_error(hb.best_state, test),  # the test set, once each
            "rs_test_error": test_error(rs.best_state, test),
            "hb_best": {**hb.best_config, "epochs": hb.best_resource},
            "rs_best": {**rs.best_config, "epochs": rs.best_resource},
        }
        rows.append(row)
        ctx.log(kind="seed", **row)
        if not ctx.quiet:
            bar.write(
                f"seed {seed}: Hyperband {hb.n_configs} configs, best {describe(hb.best_config)} "
                f"at {hb.best_resource} epochs, val loss {hb.best_loss:.3f}, "
                f"test error {row['hb_test_error']:.1%} | random search {rs.n_configs} "
                f"configs, val loss {rs.best_loss:.3f}, test error {row['rs_test_error']:.1%}"
            )
        if first is None:
            first = (hb, rs)
            for e in hb.evaluations + rs.evaluations:
                ctx.log(
                    kind="evaluation",
                    seed=seed,
                    trial=e.trial,
                    bracket=e.bracket,
                    rung=e.rung,
                    epochs=e.resource,
                    val_loss=e.loss,
                    **e.config,
                )

    bar.close()
    hb, rs = first
    ctx.save_figure(bracket_figure(hb, rs, cfg), "brackets")
    ctx.save_figure(comparison_figure(rows), "comparison")

    def mean_std(key):
        values = [r[key] for r in rows]
        return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

    hb_err, hb_sd = mean_std("hb_test_error")
    rs_err, rs_sd = mean_std("rs_test_error")
    best = rows[0]
    line = (
        f"best {describe(best['hb_best'])}, {best['hb_best']['epochs']} epochs: test error "
        f"{best['hb_test_error']:.1%}; over {cfg.seeds} seeds at {best['budget']} epochs each, "
        f"Hyperband {hb_err:.1%} ± {hb_sd:.1%} vs random search {rs_err:.1%} ± {rs_sd:.1%}"
    )
    return Result(
        line,
        metrics={
            "best_config": best["hb_best"],
            "test_error": best["hb_test_error"],
            "hb_test_error_mean": hb_err,
            "hb_test_error_std": hb_sd,
            "rs_test_error_mean": rs_err,
            "rs_test_error_std": rs_sd,
            "hb_val_loss_mean": mean_std("hb_val_loss")[0],
            "rs_val_loss_mean": mean_std("rs_val_loss")[0],
            "budget": best["budget"],
            "schedule_budget": planned,
            "R": cfg.R,
            "hb_configs": best["hb_configs"],
            "rs_configs": best["rs_configs"],
            "runs": rows,
        },
    )


def check(result: Result) -> list:
    """The winner learns; the comparison with random search is at equal budget, and
    Hyperband spends it on many more configurations."""
    m = result.metrics
    R, rows = m["R"], m["runs"]
    return [
        verdict("winner's test error (chance 90%)", m["test_error"], "<", 0.5),
        verdict("epochs Hyperband spent minus what its schedule plans", m["budget"] - m["schedule_budget"], "==", 0),
        verdict(
            "epochs random search left unspent, most over the seeds (under one R-epoch training)",
            max(r["budget"] - R * r["rs_configs"] for r in rows),
            "<",
            R,
        ),
        verdict(
            "epochs random search spent beyond Hyperband's, most over the seeds",
            max(R * r["rs_configs"] - r["budget"] for r in rows),
            "<=",
            0,
        ),
        verdict(
            "configurations Hyperband tried / random search's, fewest over the seeds",
            min(r["hb_configs"] / r["rs_configs"] for r in rows),
            ">",
            2,
        ),
    ]


# -- figures --------------------------------------------------------------------------


def bracket_figure(hb: tune.SearchResult, rs: tune.SearchResult, cfg: Config):
    """Validation loss against epochs for every configuration, one panel per bracket;
    random search's full-length runs in the last panel."""
    import matplotlib.pyplot as plt

    brackets = sorted({e.bracket for e in hb.evaluations}, reverse=True)
    fig, axes = plt.subplots(1, len(brackets) + 1, figsize=(3.2 * (len(brackets) + 1), 3.4), sharey=True, squeeze=False)
    finite = [e.loss for e in hb.evaluations + rs.evaluations if math.isfinite(e.loss)]
    top = sorted(finite)[int(0.9 * (len(finite) - 1))] if finite else 1.0
    ticks = sorted({e.resource for e in hb.evaluations})
    panels = [(f"bracket s={s}", [e for e in hb.evaluations if e.bracket == s]) for s in brackets]
    panels.append(("random search", rs.evaluations))
    for ax, (title, evs) in zip(axes[0], panels):
        trials: dict[int, list] = {}
        for e in evs:
            trials.setdefault(e.trial, []).append((e.resource, min(e.loss, top)))
        for points in trials.values():
            xs, ys = zip(*points)
            ax.plot(xs, ys, "-o", markersize=2.5, linewidth=0.8, alpha=0.7)
        best = [e for e in evs if e.trial == hb.best_trial] if evs is not rs.evaluations else []
        if best:
            ax.plot([e.resource for e in best], [e.loss for e in best], "k*-", markersize=9, label="winner")
            ax.legend(loc="upper right", fontsize=7)
        ax.set_xscale("log")
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlim(ticks[0] / 1.5, ticks[-1] * 1.5)
        ax.set_title(f"{title} ({len(trials)} configs)", fontsize=9)
        ax.set_xlabel("epochs (resource)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation loss")
    fig.suptitle(f"Hyperband, R={cfg.R}, eta={cfg.eta}: every configuration's validation loss", fontsize=10)
    fig.tight_layout()
    return fig


def comparison_figure(rows: list[dict]):
    """Each seed's winner test error, Hyperband vs random search at the same budget."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.8))
    for i, (key, name) in enumerate((("hb_test_error", "Hyperband"), ("rs_test_error", "random search"))):
        values = [100 * r[key] for r in rows]
        ax.scatter([i] * len(values), values, alpha=0.7, label=name)
        ax.errorbar(
            i + 0.15,
            statistics.mean(values),
            yerr=statistics.stdev(values) if len(values) > 1 else 0,
            fmt="ks",
            capsize=4,
            label="mean ± std over the seeds" if i == 0 else None,
        )
    ax.set_xticks([0, 1], ["Hyperband", "random search"])
    ax.set_xlim(-0.5, 1.5)
    ax.set_xlabel("search (same budget of epochs)")
    ax.set_ylabel("winner's test error (%)")
    ax.set_title(f"the winner's test error, one point per seed ({len(rows)} seeds)", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return fig


# -- exercises (`dlc exercise hyperband`, then `dlc check hyperband`) ------------------------


TASKS = [
    Task(
        "bracket",
        hint="start n = ceil((s_max + 1) eta^s / (s + 1)) configurations (with integers: -(-a // b)); rung i "
        "keeps n // eta^i of them and trains them to R eta^(i - s) epochs, rounded halves up, at least 1",
        cases=lambda g: [(81, 3), (27, 3), (16, 2), (10, 3), (6, 2), (1, 3)],
        call=lambda f, R, eta: [f(R, eta, s) for s in range(tune.max_bracket(R, eta) + 1)],
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
