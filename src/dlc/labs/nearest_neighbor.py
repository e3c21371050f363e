"""The nearest-neighbour classifier, random projections and PCA (EE-559 2.1, practical 2).

A 1-nearest-neighbour classifier gives a test image the class of the closest training
image (Euclidean distance). Practical 2 writes it as ``nearest_classification`` (one
sample), counts the errors of a test set with ``compute_nb_errors`` (optionally after
subtracting a mean and projecting on the rows of ``proj``), and compares projections:
none, a random one to 100 dimensions, and PCA onto the 100, 50, 10 and 3 first principal
directions, on MNIST (``--cifar``: CIFAR-10).

The error count uses a vectorised version (all test samples at once, distances from
|a - b|^2 = |a|^2 - 2 a.b + |b|^2 in float64) that must agree with the per-sample
``nearest_classification`` of the practical. The practical's ``PCA`` is
:func:`dlc.stats.pca` (the clustering lab uses it too), under the practical's name here.

Check (``check``): on the test samples compared, the vectorised classifier predicts exactly
what the per-sample brute-force reference predicts (no projection and PCA); the error rate
without projection is far below chance (90%): under half of it on MNIST, under chance on
CIFAR-10, where 1-NN on pixels is known to be poor (about 75%).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlc.errors import DlcError, UsageError
from dlc.exercise import Task
from dlc.labs import Result, Verdict, lab, verdict
from dlc.options import parse_list
from dlc.stats import pca as PCA  # the practical's name for it

CHANCE = 0.9  # ten classes
INPUT_DIMS = {False: 28 * 28, True: 3 * 32 * 32}  # MNIST, CIFAR-10 pixels


@dataclass
class Config:
    cifar: bool = False  # CIFAR-10 instead of MNIST (the practical runs both; one per run here)
    random_dim: int = 100  # dimensions of the random projection (the practical's 100)
    pca_dims: str = "100,50,10,3"  # PCA dimensions to compare, comma-separated (the practical's)
    reference_samples: int = 200  # test samples re-classified one by one by the practical's
    # brute-force nearest_classification, to check the fast search (chosen here)
    train_size: int | None = 1000  # prologue training images (--tiny 500, --full all)
    test_size: int | None = 1000  # prologue test images (--tiny 100, --full all)
    TINY = {"reference_samples": 100}

    def __post_init__(self):
        dims = pca_dims(self.pca_dims)
        if min(dims) < 1:
            raise UsageError(f"nearest-neighbor: --pca_dims must be projection dimensions >= 1, got {self.pca_dims}")
        if self.random_dim < 1:
            raise UsageError(f"--random_dim must be at least 1 (dimensions), got {self.random_dim}")
        if self.reference_samples < 1:
            raise UsageError(
                f"--reference_samples must be at least 1 (the check compares the fast search with "
                f"the brute-force one on that many test samples), got {self.reference_samples}"
            )
        # PCA of N samples of dimension D has min(N, D) directions.
        d = INPUT_DIMS[bool(self.cifar)]
        available = d if self.train_size is None else min(d, self.train_size)
        if max(dims) > available:
            raise UsageError(
                f"nearest-neighbor: --pca_dims asks for {max(dims)} dimensions, but PCA of "
                f"{self.train_size or 'all the'} training samples of dimension {d} has "
                f"{available} directions; ask for fewer dimensions or a larger --train_size"
            )


def pca_dims(text: str) -> list[int]:
    """``--pca_dims`` as a list of integers ("100,50,10,3" -> [100, 50, 10, 3])."""
    return parse_list("pca_dims", text, int, example="100,50,10,3")


# -- practical 2 ----------------------------------------------------------------


def nearest_classification(train_input: torch.Tensor, train_target: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The class of the training sample closest to the single sample ``x`` (brute force).

    ``train_input`` is N x D, ``train_target`` holds the N classes, ``x`` is one sample (D).
    Returns ``train_target`` at the index of the smallest squared Euclidean distance
    |train_input[n] - x|^2, computed in float64 (a 0-d tensor; the first index on ties).
    """
    ### BEGIN SOLUTION
    dist = (train_input.double() - x.double()).pow(2).sum(1)
    return train_target[dist.argmin()]
    ### END SOLUTION


def nearest_indices(train_input: torch.Tensor, test_input: torch.Tensor, max_entries: int = 2**24) -> torch.Tensor:
    """For every test sample, the index of its nearest training sample.

    ``train_input`` is N x D, ``test_input`` M x D; returns M indices into the training set
    (int64). The test samples come in chunks (each chunk's distance matrix stays under
    ``max_entries`` numbers); for a chunk ``test`` (C x D) the C x N matrix of squared
    distances is |t|^2 - 2 t.x + |x|^2, one matrix product, and each row's argmin is the
    nearest training sample. Float64 keeps it exact on integer pixels, so the argmin (the
    first index on ties) equals the one-sample search's.
    """
    train = train_input.double()
    chunk = max(1, max_entries // max(1, len(train)))  # test samples per distance matrix
    out = []  # one tensor of C indices per chunk
    for test in test_input.double().split(chunk):
        ### BEGIN SOLUTION
        dist = test.pow(2).sum(1, keepdim=True) - 2 * test @ train.T + train.pow(2).sum(1)
        out.append(dist.argmin(1))
        ### END SOLUTION
    return torch.cat(out)


def project(x: torch.Tensor, mean: torch.Tensor | None = None, proj: torch.Tensor | None = None):
    """Subtract ``mean`` then map onto the rows of ``proj`` (C x D), as the practical does."""
    if mean is not None:
        x = x - mean
    if proj is not None:
        x = x @ proj.T
    return x


def compute_nb_errors(train_input, train_target, test_input, test_target, mean=None, proj=None) -> int:
    """Number of test samples the 1-NN classifier gets wrong (after the optional projection)."""
    if proj is not None and proj.size(1) != train_input.size(1):
        raise DlcError(
            f"proj must be C x {train_input.size(1)} (one row per output dimension), got {tuple(proj.shape)}"
        )
    train = project(train_input, mean, proj)
    test = project(test_input, mean, proj)
    predicted = train_target[nearest_indices(train, test)]
    return int((predicted != test_target).sum())


# -- the figures ------------------------------------------------------------------


def _errors_figure(rows, n_test, title):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    names = [r[0] for r in rows]
    rates = [100 * r[1] / n_test for r in rows]
    bars = ax.bar(names, rates, color=["tab:gray", "tab:purple"] + ["tab:blue"] * (len(rows) - 2))
    for bar, (_, errs) in zip(bars, rows):
        ax.annotate(
            f"{errs}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8
        )
    ax.axhline(90, color="k", ls=":", lw=1, label="chance (90%)")
    ax.set_ylabel(f"test error % (count of {n_test})")
    ax.set_xlabel("projection of the images before the 1-NN search")
    ax.set_title(title)
    ax.legend()
    plt.setp(ax.get_xticklabels(), rotation=20)
    fig.tight_layout()
    return fig


def _to_images(x: torch.Tensor, cifar: bool) -> torch.Tensor:
    return x.reshape(-1, 3, 32, 32) if cifar else x.reshape(-1, 1, 28, 28)


@lab(
    "nearest-neighbor",
    source="EE-559 2.1, practical 2",
    summary="1-NN on MNIST/CIFAR: no projection, random projection, PCA to 100/50/10/3 dims",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc import prologue, viz

    dims = pca_dims(cfg.pca_dims)

    train_input, train_target, test_input, test_target = prologue.load(
        cifar=cfg.cifar, train_size=cfg.train_size, test_size=cfg.test_size, data_dir=ctx.data_dir
    )
    name = "CIFAR-10" if cfg.cifar else "MNIST"
    n_train, n_test, d = train_input.size(0), test_input.size(0), train_input.size(1)
    ctx.print(f"{name}: {n_train} train, {n_test} test samples of dimension {d}")
    gen = torch.Generator().manual_seed(max(ctx.seed, 0))

    # The configurations of practical 2, each as (name, mean, proj).
    mean, basis = PCA(train_input)
    configs = [
        ("no projection", None, None),
        (f"random {cfg.random_dim}D", None, torch.randn(cfg.random_dim, d, generator=gen)),
    ]
    configs += [(f"PCA {k}D", mean, basis[:k]) for k in dims]
    rows = []
    for label, m, p in configs:
        errors = compute_nb_errors(train_input, train_target, test_input, test_target, m, p)
        rows.append((label, errors))
        ctx.log(projection=label, nb_errors=errors, error_rate=errors / n_test)
        ctx.print(f"{label:>14}: {errors} errors ({100 * errors / n_test:.2f}%)")

    # The vectorised search against the practical's one-sample function, sample by sample.
    k = min(cfg.reference_samples, n_test)
    mismatches = 0
    for _label, m, p in (configs[0], configs[2]):
        # in float64 once, so that each call below does not convert the training set again
        train, test = project(train_input, m, p).double(), project(test_input[:k], m, p)
        fast = train_target[nearest_indices(train, test)]
        slow = torch.stack([nearest_classification(train, train_target, t) for t in test])
        mismatches += int((fast != slow).sum())
    ctx.print(f"vectorised vs brute-force reference on {k} test samples x 2 projections: {mismatches} mismatches")

    # Figures: the error counts; the mean and first principal directions; some neighbours.
    ctx.save_figure(_errors_figure(rows, n_test, f"1-NN on {name} ({n_train} train)"), "errors")
    ctx.save_figure(
        viz.image_grid(
            _to_images(torch.cat([mean[None], basis[:15]]), cfg.cifar),
            nrow=8,
            labels=["mean"] + [f"pc {i + 1}" for i in range(15)],
            title="mean and first principal directions",
        ),
        "pca",
    )
    shown = test_input[:8]
    nearest = nearest_indices(train_input, shown)
    labels = [f"test {int(t)}" for t in test_target[:8]] + [f"NN {int(train_target[i])}" for i in nearest]
    ctx.save_figure(
        viz.image_grid(
            _to_images(torch.cat([shown, train_input[nearest]]), cfg.cifar),
            nrow=8,
            labels=labels,
            title="test samples (top) and their nearest training samples",
        ),
        "neighbours",
    )

    baseline = rows[0][1] / n_test
    best = min(rows, key=lambda r: r[1])
    line = (
        f"{name} 1-NN: {100 * baseline:.1f}% test error without projection (chance {CHANCE:.0%}), "
        + ", ".join(f"{lbl} {100 * e / n_test:.1f}%" for lbl, e in rows[1:])
        + f"; vectorised = brute force on {k} samples ({mismatches} mismatches)"
    )
    return Result(
        line,
        metrics={
            "dataset": name,
            "n_train": n_train,
            "n_test": n_test,
            "nb_errors": {lbl: e for lbl, e in rows},
            "baseline_error": baseline,
            "best": best[0],
            "reference_samples": k,
            "reference_mismatches": mismatches,
        },
    )


def check(result: Result) -> list[Verdict]:
    """Practical 2's points: the fast search is the brute-force one, and 1-NN is far from chance."""
    m = result.metrics
    mnist = m["dataset"] == "MNIST"
    return [
        verdict("test samples compared with the brute-force reference", m["reference_samples"], ">", 0),
        verdict("predictions where the vectorised 1-NN differs from brute force", m["reference_mismatches"], "==", 0),
        verdict(
            f"{m['dataset']} test error without projection below "
            f"{'half of chance' if mnist else 'chance'} ({CHANCE:.0%})",
            m["baseline_error"],
            "<",
            CHANCE / 2 if mnist else CHANCE,
        ),
    ]


# -- exercises (`dlc exercise nearest-neighbor`, then `dlc check nearest-neighbor`) ----------


def _pixels(g: torch.Generator, n: int, m: int, d: int, levels: int) -> tuple:
    """Integer-valued samples (like pixels) in float32: few levels make exact ties."""
    train = torch.randint(0, levels, (n, d), generator=g).float()
    target = torch.randint(0, 10, (n,), generator=g)
    test = torch.randint(0, levels, (m, d), generator=g).float()
    return train, target, test


TASKS = [
    Task(
        "nearest_classification",
        hint="the squared distances from x to every training row (in float64), then the target at their argmin",
        cases=lambda g: [
            (train, target, test[i])
            for levels, (n, d) in ((256, (50, 12)), (3, (30, 4)))
            for train, target, test in [_pixels(g, n, 5, d, levels)]
            for i in range(2)
        ],
    ),
    Task(
        "nearest_indices",
        hint="per chunk, the C x N squared distances |t|^2 - 2 t.x + |x|^2 with one matrix product (test @ train.T), "
        "then the argmin of each row, appended to out",
        cases=lambda g: [
            _pixels(g, 60, 9, 16, 256)[::2],
            _pixels(g, 40, 25, 4, 3)[::2],  # many exact ties: the first index wins
            (*_pixels(g, 30, 11, 5, 3)[::2], 70),  # chunks of 2 test samples
        ],
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
