"""Proper evaluation protocols (EE-559 2.4): train / validation / test, and k-fold cross-validation.

The model to choose is the degree of a polynomial regression fitted by least squares
(:func:`dlc.stats.fit_polynomial`), on noisy samples of sin(3x + 0.5), the ``capacity`` lab's
setting, drawn here by ``sample``. The protocol of the lecture:

- fit each candidate on the *training* set,
- select the candidate with the smallest *validation* error,
- report the selected model's error on the *test* set, which took no part in any choice.

When data is scarce, k-fold cross-validation replaces the single validation set: the
selection set is cut into k folds, each candidate is fitted k times on k - 1 folds and
scored on the remaining one, and the mean of the k scores picks the candidate.

The lecture gives no numbers for this experiment: the sizes (30 / 30 / 1,000), 5 folds
and degrees 0..10 are chosen here.

Check (``check``): the folds of the run's cross-validation partition the selection set
(every sample is validated exactly once and never trained on in its own fold); the selection
reads the validation data only, so altering the test set leaves the selected degree
unchanged; and the validation error of the selected model, being the minimum of noisy
estimates, is optimistic on average compared to its test error -- why the test set must stay
out of the selection.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlc.errors import DlcError, UsageError
from dlc.exercise import Task
from dlc.labs import Result, Verdict, lab, verdict
from dlc.stats import fit_polynomial, polynomial


@dataclass
class Config:
    n_train: int = 30  # training points: each candidate is fitted on them (at least max_degree + 2)
    n_val: int = 30  # validation points: the candidate is selected on them (at least max_degree + 2)
    n_test: int = 1000  # test points: the selected candidate is reported on them (at least 1)
    noise: float = 0.2  # std of the Gaussian noise added to f(x) = sin(3x + 0.5) (at least 0)
    max_degree: int = 10  # candidates: polynomial degrees 0..max_degree (at least 1)
    folds: int = 5  # k of k-fold cross-validation on train + validation (2 to n_train + n_val)
    repeats: int = 200  # independent draws, to measure the optimism of the selection (at least 1)
    TINY = {"repeats": 30}
    FULL = {"repeats": 1000}

    def __post_init__(self):
        if self.max_degree < 1:
            raise UsageError(f"--max_degree must be at least 1 (two candidates to choose from), got {self.max_degree}")
        for name in ("n_train", "n_val"):
            if getattr(self, name) < self.max_degree + 2:
                raise UsageError(
                    f"--{name} must be at least {self.max_degree + 2} (max_degree + 2, for the "
                    f"highest degree's least squares), got {getattr(self, name)}"
                )
        for name in ("repeats", "n_test"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.noise < 0:
            raise UsageError(f"--noise must be at least 0, got {self.noise}")
        if self.folds < 2:
            raise UsageError(f"--folds must be at least 2 (k of k-fold cross-validation), got {self.folds}")
        if self.folds > self.n_train + self.n_val:
            raise UsageError(
                f"evaluation: k-fold cross-validation needs 2 <= folds <= n_train + n_val "
                f"(the selection set), got folds={self.folds}"
            )
        if (self.n_train + self.n_val) * (self.folds - 1) // self.folds < self.max_degree + 1:
            raise UsageError(
                f"evaluation: with {self.folds} folds each fit sees too few samples "
                f"for degree {self.max_degree}; use fewer folds or more data"
            )


Data = tuple[torch.Tensor, torch.Tensor]


# -- the data --------------------------------------------------------------------


def target_function(x: torch.Tensor) -> torch.Tensor:
    """The unknown function the samples come from (the capacity lab's)."""
    return torch.sin(3 * x + 0.5)


def sample(n: int, noise: float, generator: torch.Generator) -> Data:
    """n points: x uniform in [-1, 1] and y = f(x) + N(0, noise^2), in float64."""
    x = torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1
    y = target_function(x) + noise * torch.randn(n, generator=generator, dtype=torch.float64)
    return x, y


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((prediction - target) ** 2).mean(-1)


# -- the protocol --------------------------------------------------------------


def validation_errors(train: Data, val: Data, degrees: range) -> list[float]:
    """Each degree fitted on ``train`` and scored (MSE) on ``val``."""
    return [float(mse(polynomial(fit_polynomial(d, *train), val[0]), val[1])) for d in degrees]


def select(train: Data, val: Data, degrees: range) -> tuple[int, list[float]]:
    """The degree with the smallest validation error. It never sees a test set."""
    errors = validation_errors(train, val, degrees)
    return degrees[min(range(len(errors)), key=errors.__getitem__)], errors


def test_error(degree: int, train: Data, test: Data) -> float:
    return float(mse(polynomial(fit_polynomial(degree, *train), test[0]), test[1]))


def protocol(train: Data, val: Data, test: Data, degrees: range) -> dict:
    """Select on validation, then fit the chosen degree on train and report it on test."""
    degree, errors = select(train, val, degrees)
    return {
        "degree": degree,
        "val_errors": errors,
        "val_error": min(errors),
        "test_error": test_error(degree, train, test),
    }


# -- k-fold cross-validation -----------------------------------------------------


def kfold_indices(n: int, k: int, generator: torch.Generator | None = None):
    """k (train_idx, val_idx) pairs: a random permutation cut into k near-equal folds.

    The permutation is ``torch.randperm(n, generator=generator)``, cut in order by
    ``tensor_split(k)`` (the first n % k folds one sample longer). Pair i is (the other
    folds' indices, concatenated in their order; fold i's indices): a list of k tuples of
    two int64 tensors that together hold 0..n-1 once.
    """
    if not 2 <= k <= n:
        raise DlcError(f"k-fold cross-validation needs 2 <= k <= n samples (got k={k}, n={n})")
    ### BEGIN SOLUTION
    folds = torch.randperm(n, generator=generator).tensor_split(k)
    return [(torch.cat([f for j, f in enumerate(folds) if j != i]), folds[i]) for i in range(k)]
    ### END SOLUTION


def fold_misuse(folds, n: int) -> tuple[int, int]:
    """What would break the partition: (samples not validated exactly once, samples trained
    on in their own validation fold). Both are 0 for proper folds."""
    validated = torch.bincount(torch.cat([v for _, v in folds]), minlength=n)
    overlap = sum(len(set(t.tolist()) & set(v.tolist())) for t, v in folds)
    return int((validated != 1).sum()), overlap


def cross_validation_errors(
    data: Data, degrees: range, k: int, generator: torch.Generator | None = None, folds=None
) -> list[float]:
    """Mean validation MSE of each degree over the k folds (``folds``: the (train_idx,
    val_idx) pairs to use, else ``kfold_indices`` draws them).

    For each pair, every degree is fitted on the samples ``train_idx`` of ``data`` and
    scored on those of ``val_idx`` (``validation_errors`` does both, for all degrees).
    Returns a list of floats, one per degree: the mean of its k validation MSEs.
    """
    x, y = data
    if folds is None:
        folds = kfold_indices(len(x), k, generator)
    ### BEGIN SOLUTION
    totals = torch.zeros(len(degrees), dtype=torch.float64)
    for train_idx, val_idx in folds:
        totals += torch.tensor(validation_errors((x[train_idx], y[train_idx]), (x[val_idx], y[val_idx]), degrees))
    return (totals / len(folds)).tolist()
    ### END SOLUTION


# -- the figure ------------------------------------------------------------------


def _figure(degrees, val_errors, cv_errors, test_errors, chosen_val, chosen_cv, optimism):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    ax = axes[0]
    ax.plot(degrees, val_errors, "o-", color="tab:blue", label="validation (fit on train)")
    ax.plot(degrees, cv_errors, "s-", color="tab:orange", label="k-fold cross-validation")
    ax.plot(degrees, test_errors, "k:", label="test (looked at only to report)")
    ax.axvline(chosen_val, color="tab:blue", ls="--", lw=1, label=f"selected on validation: {chosen_val}")
    ax.axvline(chosen_cv, color="tab:orange", ls="--", lw=1, label=f"selected by cross-validation: {chosen_cv}")
    ax.set_yscale("log")
    ax.set_xlabel("degree")
    ax.set_xticks(list(degrees))
    ax.set_ylabel("mean squared error (log)")
    ax.set_title("one draw: selection on validation data only")
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[1]
    val_min, test_sel = optimism
    lo = min(min(val_min), min(test_sel)) / 1.2
    hi = max(max(val_min), max(test_sel)) * 1.2
    ax.scatter(val_min, test_sel, s=8, label="one draw")
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="test = validation")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    for axis in (ax.xaxis, ax.yaxis):  # labels at 1, 2, 5 x 10^k only: all of them would collide
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("validation error of the selected degree")
    ax.set_ylabel("its test error")
    mean_val, mean_test = sum(val_min) / len(val_min), sum(test_sel) / len(test_sel)
    above = sum(v < t for v, t in zip(val_min, test_sel)) / len(val_min)
    ax.set_title(
        f"{len(val_min)} draws: the selected degree's mean validation error\n"
        f"{mean_val:.3f} {'<' if mean_val < mean_test else '>='} its mean test error {mean_test:.3f} "
        f"({above:.0%} of the points above the diagonal)",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


@lab(
    "evaluation",
    source="EE-559 2.4",
    summary="train/validation/test protocol and k-fold cross-validation to choose a degree",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    gen = torch.Generator().manual_seed(max(ctx.seed, 0))
    degrees = range(cfg.max_degree + 1)

    # One draw, shown in full: the three sets and what each is used for.
    train = sample(cfg.n_train, cfg.noise, gen)
    val = sample(cfg.n_val, cfg.noise, gen)
    test = sample(cfg.n_test, cfg.noise, gen)
    chosen = protocol(train, val, test, degrees)
    # The same protocol with a different test set must choose the same degree.
    other_test = sample(cfg.n_test, 10 * cfg.noise, gen)
    test_blind = protocol(train, val, other_test, degrees)["degree"] == chosen["degree"]

    # Cross-validation on the union of train and validation (the test set stays apart).
    pool = (torch.cat([train[0], val[0]]), torch.cat([train[1], val[1]]))
    folds = kfold_indices(len(pool[0]), cfg.folds, gen)
    not_once, overlap = fold_misuse(folds, len(pool[0]))
    cv_errors = cross_validation_errors(pool, degrees, cfg.folds, folds=folds)
    cv_degree = min(degrees, key=cv_errors.__getitem__)
    cv_test = test_error(cv_degree, pool, test)

    # The test errors of every degree, for the figure only: choosing by them would be cheating.
    test_errors = [test_error(d, train, test) for d in degrees]
    for d in degrees:
        ctx.log(degree=d, val_mse=chosen["val_errors"][d], cv_mse=cv_errors[d], test_mse=test_errors[d])

    # Selection is a minimum over noisy estimates: measured over many draws, the winner's
    # validation error underestimates its test error.
    val_min, test_sel = [], []
    for _ in range(cfg.repeats):
        r = protocol(
            sample(cfg.n_train, cfg.noise, gen),
            sample(cfg.n_val, cfg.noise, gen),
            sample(cfg.n_test, cfg.noise, gen),
            degrees,
        )
        val_min.append(r["val_error"])
        test_sel.append(r["test_error"])
    mean_val = sum(val_min) / len(val_min)
    mean_test = sum(test_sel) / len(test_sel)
    optimistic = sum(v < t for v, t in zip(val_min, test_sel)) / len(val_min)

    ctx.save_figure(
        _figure(
            list(degrees),
            chosen["val_errors"],
            cv_errors,
            test_errors,
            chosen["degree"],
            cv_degree,
            (val_min, test_sel),
        ),
        "selection",
    )
    ctx.print(
        f"validation picks degree {chosen['degree']} (val {chosen['val_error']:.4f}, "
        f"test {chosen['test_error']:.4f}); {cfg.folds}-fold CV picks {cv_degree} "
        f"(test {cv_test:.4f})"
    )
    line = (
        f"validation selects degree {chosen['degree']} (test MSE {chosen['test_error']:.3f}), "
        f"{cfg.folds}-fold CV selects {cv_degree} (test MSE {cv_test:.3f}); over {cfg.repeats} "
        f"draws the selected validation MSE {mean_val:.3f} {'<' if mean_val < mean_test else '>='} "
        f"its test MSE {mean_test:.3f}"
    )
    return Result(
        line,
        metrics={
            "val_degree": chosen["degree"],
            "val_error": chosen["val_error"],
            "val_test_error": chosen["test_error"],
            "cv_degree": cv_degree,
            "cv_test_error": cv_test,
            "cv_errors": cv_errors,
            "val_errors": chosen["val_errors"],
            "test_errors": test_errors,
            "mean_selected_val_error": mean_val,
            "mean_selected_test_error": mean_test,
            "fraction_optimistic": optimistic,
            "noise_mse": cfg.noise**2,
            "selection_ignores_test": test_blind,
            "cv_samples": len(pool[0]),
            "cv_not_validated_once": not_once,
            "cv_train_val_overlap": overlap,
        },
    )


def check(result: Result) -> list[Verdict]:
    """The protocol's rules, measured: proper folds, a selection blind to the test set, and
    the optimism of the winner's validation error (why the test set stays out)."""
    m = result.metrics
    return [
        verdict("selection-set samples not validated exactly once by the folds", m["cv_not_validated_once"], "==", 0),
        verdict("samples trained on in their own validation fold", m["cv_train_val_overlap"], "==", 0),
        verdict("same degree selected with an altered test set (1 = yes)", m["selection_ignores_test"], "==", 1),
        verdict(
            "mean validation MSE of the selected degree, below its mean test MSE",
            m["mean_selected_val_error"],
            "<",
            m["mean_selected_test_error"],
        ),
    ]


# -- exercises (`dlc exercise evaluation`, then `dlc check evaluation`) ----------------------


def _cv_cases(g: torch.Generator) -> list[tuple]:
    out = []
    for n, k, top in ((20, 4, 3), (13, 3, 2), (8, 8, 1)):  # the last: leave-one-out
        data = sample(n, 0.2, g)
        out.append((data, range(top + 1), kfold_indices(n, k, g)))
    return out


TASKS = [
    Task(
        "kfold_indices",
        hint="permute 0..n-1 with torch.randperm(n, generator=generator), cut it with tensor_split(k); pair i "
        "validates on fold i and trains on the others, concatenated in order",
        cases=lambda g: [(10, 3, 0), (7, 7, 1), (12, 2, 2), (9, 4, 3)],
        call=lambda f, n, k, seed: f(n, k, torch.Generator().manual_seed(seed)),
    ),
    Task(
        "cross_validation_errors",
        hint="for each (train_idx, val_idx) pair, the validation errors of every degree fitted on the train part; "
        "return their mean over the pairs, degree by degree, as a list of floats",
        cases=_cv_cases,
        call=lambda f, data, degrees, folds: f(data, degrees, len(folds), folds=folds),
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
