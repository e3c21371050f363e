"""Basic clustering and embeddings (EE-559 2.5): k-means and PCA, from tensor operations.

K-means (Lloyd's algorithm) alternates two steps that can only lower the objective
sum_n |x_n - c_{k(n)}|^2: assign every sample to its nearest centroid, then move every
centroid to the mean of its samples. It is run on 2-D Gaussian blobs, where the clusters
can be seen, and on MNIST images, where the centroids are average digits.

PCA (:func:`dlc.stats.pca`, practical 2's) gives an embedding: the coordinates of the
centred images on the two first principal directions, where the classes, never shown to PCA,
already form visible groups.

k = 10 on MNIST (one cluster per class) and the blobs are chosen here; the data are the
prologue's MNIST training images (``train_size`` of them; no test set is needed).

Check (``check``): the k-means objective never increases, half-step after half-step, on
both data sets; and the MNIST clusters agree with the classes better than random clusters
do, by at least 20 points of purity (the fraction of samples whose class is the most common
class of their cluster).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlc.data import toy
from dlc.errors import DlcError, UsageError
from dlc.exercise import Task
from dlc.labs import Result, Verdict, lab, verdict
from dlc.stats import pca

PURITY_GAIN = 0.2  # the check: purity above random clusters' by at least this


@dataclass
class Config:
    k: int = 10  # clusters on MNIST (as many as classes; at least 1)
    iterations: int = 50  # most Lloyd iterations; stops earlier when no sample changes cluster (at least 1)
    toy_k: int = 4  # clusters (and Gaussian blobs) in the 2-D example (at least 1)
    toy_n: int = 600  # points of the 2-D example (at least toy_k)
    train_size: int | None = 1000  # MNIST training images clustered (--tiny 500, --full all 60,000)
    TINY = {"iterations": 20}

    def __post_init__(self):
        if self.iterations < 1:
            raise UsageError(f"--iterations must be at least 1, got {self.iterations}")
        if self.toy_k < 1:
            raise UsageError(f"--toy_k must be at least 1, got {self.toy_k}")
        if self.toy_n < self.toy_k:
            raise UsageError(f"--toy_n must be at least {self.toy_k} (toy_k: a point per cluster), got {self.toy_n}")
        if self.k < 1:
            raise UsageError(f"--k must be at least 1, got {self.k}")
        if self.train_size is not None and self.k > self.train_size:
            raise UsageError(f"clustering: need 1 <= k <= train_size (got k={self.k}, train_size={self.train_size})")


# -- k-means -----------------------------------------------------------------------


def squared_distances(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """N x K squared distances (float64, clamped at 0 against round-off)."""
    x, c = x.double(), c.double()
    return (x.pow(2).sum(1, keepdim=True) - 2 * x @ c.T + c.pow(2).sum(1)).clamp_min(0)


def objective(x: torch.Tensor, centroids: torch.Tensor, assign: torch.Tensor) -> float:
    """Mean squared distance of each sample to the centroid of its cluster."""
    return float((x.double() - centroids.double()[assign]).pow(2).sum(1).mean())


def kmeans(x: torch.Tensor, k: int, iterations: int, generator: torch.Generator):
    """Lloyd's algorithm from k distinct samples drawn at random as initial centroids.

    Returns the centroids, the assignment, and the objective after every half-step
    (``history``: a list of (iteration, step, value) with step 'assign' or 'update').
    A cluster left empty keeps its centroid, which keeps the objective from increasing.
    """
    if not 1 <= k <= len(x):
        raise DlcError(f"k-means needs 1 <= k <= number of samples (got k={k}, n={len(x)})")
    x = x.double()
    centroids = x[torch.randperm(len(x), generator=generator)[:k]].clone()
    assign = None
    history = []
    for it in range(1, iterations + 1):
        new_assign = assign_step(x, centroids)
        history.append((it, "assign", objective(x, centroids, new_assign)))
        if assign is not None and torch.equal(new_assign, assign):
            break
        assign = new_assign
        centroids = update_step(x, assign, centroids)
        history.append((it, "update", objective(x, centroids, assign)))
    return centroids, new_assign, history


def assign_step(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Lloyd's first half-step: each sample's nearest centroid.

    ``x`` is N x D, ``centroids`` K x D (float64). Returns the N cluster indices (int64),
    the argmin over k of |x_n - c_k|^2 (``squared_distances`` gives the N x K matrix; the
    first index on ties).
    """
    return squared_distances(x, centroids).argmin(1)  # SOLUTION


def update_step(x: torch.Tensor, assign: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Lloyd's second half-step: every centroid moves to the mean of its samples.

    ``x`` is N x D, ``assign`` the N cluster indices in 0..K-1, ``centroids`` the K x D
    current centroids. Returns new K x D centroids (float64, a new tensor: ``centroids`` is
    left as it was); a cluster with no sample keeps its centroid.
    """
    k = len(centroids)
    ### BEGIN SOLUTION
    counts = torch.bincount(assign, minlength=k).double()
    sums = torch.zeros_like(centroids).index_add_(0, assign, x)
    nonempty = counts > 0
    moved = centroids.clone()
    moved[nonempty] = sums[nonempty] / counts[nonempty, None]
    return moved
    ### END SOLUTION


def increases(values: list[float], rtol: float = 1e-12) -> int:
    """How many times a value rises above the one before (beyond round-off)."""
    return sum(b > a + rtol * abs(a) for a, b in zip(values, values[1:]))


def is_non_increasing(values: list[float], rtol: float = 1e-12) -> bool:
    return increases(values, rtol) == 0


def purity(assign: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Fraction of samples whose label is the majority label of their cluster."""
    table = torch.zeros(k, int(labels.max()) + 1)
    table.index_put_((assign, labels), torch.ones(len(labels)), accumulate=True)
    return float(table.max(1).values.sum() / len(labels))


# -- figures ------------------------------------------------------------------------


def _objective_figure(histories):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(5 * len(histories), 3.6))
    for ax, (title, history) in zip(axes, histories.items()):
        values = [v for _, _, v in history]
        steps = [i + 1 for i in range(len(values))]
        ax.plot(steps, values, "-", color="gray", lw=1)
        for kind, marker in (("assign", "o"), ("update", "s")):
            pts = [(s, v) for s, (_, st, v) in zip(steps, history) if st == kind]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker, ms=4, label=f"after {kind}")
        ax.set_xlabel("half-step")
        ax.set_ylabel("mean squared distance to centroid")
        ax.set_title(title)
        ax.legend()
    fig.suptitle("the k-means objective after each half-step: it never increases")
    fig.tight_layout()
    return fig


def _toy_figure(x, assign, centroids):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for k in range(len(centroids)):
        mine = assign == k
        ax.scatter(x[mine, 0].numpy(), x[mine, 1].numpy(), color=f"C{k % 10}", s=6, label=f"cluster {k}")
    ax.scatter(centroids[:, 0].numpy(), centroids[:, 1].numpy(), c="k", marker="x", s=80, label="centroids")
    ax.set_title(f"k-means on 2-D blobs, k = {len(centroids)}")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def _embedding_figure(z, labels, assign):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    panels = (
        (axes[0], labels, "coloured by class", "digit class"),
        (axes[1], assign, "coloured by k-means cluster", "k-means cluster"),
    )
    for ax, c, title, what in panels:
        n = int(c.max()) + 1
        sc = ax.scatter(
            z[:, 0].numpy(), z[:, 1].numpy(), c=c.numpy(), cmap="tab10", vmin=-0.5, vmax=max(n, 10) - 0.5, s=5
        )
        ax.set_title(f"MNIST on its two first principal directions, {title}", fontsize=9)
        ax.set_xlabel("coordinate on principal direction 1")
        ax.set_ylabel("coordinate on principal direction 2")
        bar = fig.colorbar(sc, ax=ax, ticks=range(min(n, 10)))
        bar.set_label(what)
    fig.tight_layout()
    return fig


@lab(
    "clustering",
    source="EE-559 2.5",
    summary="k-means on blobs and MNIST; a 2-D PCA embedding of MNIST coloured by class",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    from dlc import prologue, viz

    seed = max(ctx.seed, 0)
    gen = torch.Generator().manual_seed(seed)

    # 2-D blobs: the clusters can be checked by eye.
    bx, _ = toy.blobs(cfg.toy_n, centers=cfg.toy_k, std=1.0, seed=seed)
    toy_c, toy_assign, toy_hist = kmeans(bx, cfg.toy_k, cfg.iterations, gen)
    ctx.save_figure(_toy_figure(bx, toy_assign, toy_c.float()), "kmeans_blobs")

    # MNIST (the prologue's training images; one test image is read and ignored): centroids
    # are average digits.
    x, y, _, _ = prologue.load(train_size=cfg.train_size, test_size=1, data_dir=ctx.data_dir)
    x = x / 255
    centroids, assign, hist = kmeans(x, cfg.k, cfg.iterations, gen)
    for it, step, value in hist:
        ctx.log(data="mnist", iteration=it, step=step, objective=value)
    for it, step, value in toy_hist:
        ctx.log(data="blobs", iteration=it, step=step, objective=value)
    found = purity(assign, y, cfg.k)
    random_purity = purity(torch.randint(cfg.k, (len(y),), generator=gen), y, cfg.k)
    mnist_values = [v for _, _, v in hist]
    toy_values = [v for _, _, v in toy_hist]
    rises = increases(mnist_values) + increases(toy_values)
    monotone = rises == 0

    ctx.save_figure(_objective_figure({"blobs": toy_hist, "MNIST": hist}), "objective")
    sizes = torch.bincount(assign, minlength=cfg.k)
    ctx.save_figure(
        viz.image_grid(
            centroids.float().view(-1, 1, 28, 28),
            nrow=min(cfg.k, 10),
            labels=[f"{int(c)} samples" for c in sizes],
            title="k-means centroids on MNIST",
        ),
        "centroids",
    )
    mean, basis = pca(x)
    z = (x - mean) @ basis[:2].T
    ctx.save_figure(_embedding_figure(z, y, assign), "embedding")

    ctx.print(f"blobs: {len(toy_hist)} half-steps, objective {toy_values[0]:.3f} -> {toy_values[-1]:.3f}")
    ctx.print(
        f"MNIST: {len(hist)} half-steps, objective {mnist_values[0]:.2f} -> {mnist_values[-1]:.2f}; "
        f"purity {found:.1%} (random clusters {random_purity:.1%})"
    )
    line = (
        f"k-means objective {'never increases' if monotone else 'INCREASED'} "
        f"(MNIST {mnist_values[0]:.1f} -> {mnist_values[-1]:.1f} in {len(hist)} half-steps); "
        f"{cfg.k} clusters have purity {found:.1%} vs {random_purity:.1%} for random ones"
    )
    return Result(
        line,
        metrics={
            "monotone": monotone,
            "objective_increases": rises,
            "mnist_objective": mnist_values,
            "blobs_objective": toy_values,
            "purity": found,
            "random_purity": random_purity,
            "n_samples": len(y),
        },
    )


def check(result: Result) -> list[Verdict]:
    """Lloyd's algorithm only lowers its objective; its MNIST clusters follow the classes."""
    m = result.metrics
    return [
        verdict("half-steps where the k-means objective rose (blobs and MNIST)", m["objective_increases"], "==", 0),
        verdict(
            f"MNIST cluster purity, vs random clusters' + {PURITY_GAIN:.0%}",
            m["purity"],
            ">",
            m["random_purity"] + PURITY_GAIN,
        ),
    ]


# -- exercises (`dlc exercise clustering`, then `dlc check clustering`) ----------------------


def _blobs(g: torch.Generator, n: int, k: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n float64 points around k random centres, and k centroids drawn among the points."""
    centres = 4 * torch.randn(k, d, generator=g, dtype=torch.float64)
    x = centres[torch.randint(0, k, (n,), generator=g)] + torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, x[torch.randperm(n, generator=g)[:k]].clone()


def _update_cases(g: torch.Generator) -> list[tuple]:
    x, c = _blobs(g, 40, 3, 2)
    x2, c2 = _blobs(g, 30, 5, 3)
    x3 = torch.randn(12, 4, generator=g, dtype=torch.float64)
    c3 = torch.randn(4, 4, generator=g, dtype=torch.float64)
    empty = torch.tensor([0, 0, 2, 2, 2, 0, 2, 0, 0, 2, 2, 0])  # clusters 1 and 3 have no sample
    return [(x, assign_step(x, c), c), (x2, assign_step(x2, c2), c2), (x3, empty, c3)]


TASKS = [
    Task(
        "assign_step",
        hint="the index of the nearest centroid for each sample: the argmin of each row of the N x K squared distances",
        cases=lambda g: [_blobs(g, 40, 3, 2), _blobs(g, 30, 5, 3), (torch.zeros(3, 2, dtype=torch.float64),) * 2],
    ),
    Task(
        "update_step",
        hint="each centroid becomes the mean of the samples assigned to it (bincount for the counts, index_add_ "
        "for the sums); a centroid with no sample stays where it was",
        cases=_update_cases,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
