"""Looking at parameters (EE-559 8.1): the first layer's filters of a trained convnet,
shown as images, beside the same filters before training.

A first-layer filter is a small image (here 5 x 5, one per output channel of the first
lecture's :class:`~dlc.models.convnets.LectureConvNet`, 32 of them), and its response is
its correlation with each patch of the input: a filter that responds to strokes and
edges looks like a stroke or an edge. At initialisation the weights are independent
random numbers: noise, with no spatial structure. Training on MNIST writes structure
into them: neighbouring weights become alike (blobs and oriented bars).

The number that shows it: a filter's *spatial smoothness*, the correlation between
horizontally or vertically neighbouring weights of the filter (its mean removed),
``sum_{neighbours i~j} w_i w_j / (#pairs * mean_i w_i^2)``: about 0 for white noise (a
little below, from removing the mean), 1 for a constant image, negative for a
checkerboard. It is measured on each filter before and after training, and on what
training added to it (trained minus initial weights).

Check, in the same run: the network learns (test error below half the untrained one's);
the trained filters' mean smoothness exceeds the initial filters' by at least 0.05; and
what training added is smooth (mean smoothness of the change above 0.3, where noise gives
about 0). ``--epochs 0`` trains nothing: the check then says the initial filters have no
spatial structure (mean smoothness within 0.15 of 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.convnets import LectureConvNet
from dlc.models.trained import train_mnist_convnet


@dataclass
class Config:
    epochs: int = 5  # epochs of SGD on MNIST (0: no training, the initial filters are measured)
    lr: float = 0.1  # SGD step size (the lecture's 0.1)
    batch_size: int = 20  # images per SGD step (smaller than the lecture's 100: more steps in few epochs)
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)
    FULL = {"epochs": 10}
    THREADS = 1


def smoothness(filters: torch.Tensor) -> torch.Tensor:
    """Per filter (F x C x H x W, or F x H x W), the correlation between horizontally and
    vertically neighbouring weights, each filter's mean removed: ~0 for noise, 1 for a constant.

    With w a filter minus its mean (over all its C x H x W weights), it is the mean of
    ``w_i w_j`` over the pairs of neighbours (i, j) (same channel, next column or next row)
    divided by the mean of ``w_i^2`` (clamped below at 1e-30). Returns F values, float64."""
    w = filters.reshape(filters.shape[0], -1, *filters.shape[-2:]).double()  # F x C x H x W
    ### BEGIN SOLUTION
    w = w - w.mean((1, 2, 3), keepdim=True)
    pairs = (w[..., :, 1:] * w[..., :, :-1]).sum((1, 2, 3)) + (w[..., 1:, :] * w[..., :-1, :]).sum((1, 2, 3))
    count = w.shape[1] * (w.shape[2] * (w.shape[3] - 1) + (w.shape[2] - 1) * w.shape[3])
    return (pairs / count) / w.pow(2).mean((1, 2, 3)).clamp_min(1e-30)
    ### END SOLUTION


def filter_figure(panels: dict[str, torch.Tensor], scores: dict[str, torch.Tensor], title: str):
    """Each panel: the filters (F x H x W) in a grid, one shared symmetric colour scale
    (red positive, blue negative), so that noise and structure compare at a glance."""
    import matplotlib.pyplot as plt

    from dlc import viz  # noqa: F401  (the Agg backend)

    cols = 8
    fig = plt.figure(figsize=(3.8 * len(panels), 2.3))
    subfigs = fig.subfigures(1, len(panels))
    for sub, (name, w) in zip(subfigs, panels.items()):
        rows = (len(w) + cols - 1) // cols
        axes = sub.subplots(rows, cols, gridspec_kw={"wspace": 0.06, "hspace": 0.06})
        scale = float(w.abs().max())
        for i, ax in enumerate(axes.flat):
            ax.set_xticks([])
            ax.set_yticks([])
            if i >= len(w):
                ax.axis("off")
                continue
            im = ax.imshow(w[i].cpu().numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale)
        sub.suptitle(f"{name}\nmean smoothness {float(scores[name].mean()):+.2f}", fontsize=10)
        sub.colorbar(im, ax=axes, shrink=0.8, label="weight")
    fig.suptitle(title, y=1.1)
    return fig


def smoothness_figure(before: torch.Tensor, after: torch.Tensor, change: torch.Tensor):
    import matplotlib.pyplot as plt

    from dlc import viz  # noqa: F401

    fig, ax = plt.subplots(figsize=(6, 3.8))
    bins = torch.linspace(-1, 1, 41).numpy()
    for values, name, colour in ((before, "before training", "C7"), (after, "after training", "C0"),
                                 (change, "the change (after - before)", "C3")):  # fmt: skip
        ax.hist(values.cpu().numpy(), bins=bins, alpha=0.55, color=colour, label=f"{name} (mean {values.mean():+.2f})")
    ax.axvline(0, color="k", linewidth=0.8)
    ax.set_xlabel("spatial smoothness of a filter (neighbouring-weight correlation)")
    ax.set_ylabel("number of filters")
    ax.set_title("first-layer filters: training makes them smooth")
    ax.legend(fontsize=8, loc="upper left")
    return fig


@lab(
    "parameters",
    source="EE-559 8.1",
    summary="first-layer filters of the MNIST convnet as images, before and after training; their smoothness",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    model = LectureConvNet()
    initial = model.conv1.weight.detach().clone()
    net = train_mnist_convnet(
        ctx,
        train_size=cfg.train_size,
        test_size=cfg.test_size,
        epochs=cfg.epochs,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        model=model,
    )
    trained = model.conv1.weight.detach().cpu()
    change = trained - initial
    s_before, s_after = smoothness(initial), smoothness(trained)
    moved = bool(change.abs().max() > 0)
    s_change = smoothness(change) if moved else torch.zeros_like(s_before)

    panels = {"before training": initial[:, 0], "after training": trained[:, 0]}
    scores = {"before training": s_before, "after training": s_after}
    if moved:
        panels["what training added"], scores["what training added"] = change[:, 0], s_change
    ctx.save_figure(
        filter_figure(panels, scores, f"the 32 first-layer 5x5 filters of the MNIST convnet ({cfg.epochs} epochs)"),
        "filters",
    )
    ctx.save_figure(smoothness_figure(s_before, s_after, s_change), "smoothness")

    line = (
        f"first-layer filters' mean smoothness {s_before.mean():+.2f} before training -> {s_after.mean():+.2f} "
        f"after ({cfg.epochs} epochs; what training added: {s_change.mean():+.2f}); "
        f"test error {net.untrained_test_error:.1%} -> {net.test_error:.1%}"
    )
    return Result(
        line,
        metrics={
            "epochs": cfg.epochs,
            "smoothness_before": float(s_before.mean()),
            "smoothness_after": float(s_after.mean()),
            "smoothness_change": float(s_change.mean()),
            "relative_change": float(change.norm() / initial.norm()),
            "test_error": net.test_error,
            "untrained_test_error": net.untrained_test_error,
            "n_filters": len(initial),
        },
    )


def check(result: Result) -> list:
    m = result.metrics
    if m["epochs"] == 0:
        return [
            verdict("untrained filters: |mean smoothness| (noise: about 0)", abs(m["smoothness_before"]), "<", 0.15)
        ]
    return [
        verdict("test error below half the untrained net's", m["test_error"], "<", 0.5 * m["untrained_test_error"]),
        verdict("filters' mean smoothness after training, above before + 0.05", m["smoothness_after"], ">",
                m["smoothness_before"] + 0.05),
        verdict("mean smoothness of what training added (noise: about 0)", m["smoothness_change"], ">", 0.3),
    ]  # fmt: skip


# -- exercises (`dlc exercise parameters`, then `dlc check parameters`) ------------------------


def _filters(g: torch.Generator) -> list[tuple]:
    """Noise, smooth ramps and a checkerboard, in both layouts."""
    i, j = torch.meshgrid(torch.arange(5.0), torch.arange(4.0), indexing="ij")
    ramps = torch.stack([i + 0.5 * j, i * j, (i - 2) ** 2]).double().unsqueeze(1)  # 3 x 1 x 5 x 4
    board = ((i + j) % 2 * 2 - 1).double()[None]  # 1 x 5 x 4
    return [
        (torch.randn(6, 2, 5, 5, generator=g, dtype=torch.float64),),
        (ramps + 0.1 * torch.randn(ramps.shape, generator=g, dtype=torch.float64),),
        (board,),
    ]


TASKS = [
    Task(
        "smoothness",
        hint="remove each filter's mean; add up the products of horizontally neighbouring weights and of "
        "vertically neighbouring ones, divide by the number of such pairs, then by the mean squared weight",
        cases=_filters,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
