"""Figures the labs share: curves, decision regions, image grids.

Every function returns a matplotlib Figure (Agg backend, never shown); a lab saves it
with ``ctx.save_figure(fig, name)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from dlc.errors import InvalidArgument

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch


def curves(
    series: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "epoch",
    ylabel: str = "",
    title: str = "",
    logy: bool = False,
    marks: Mapping[str, float] | None = None,
    x: Sequence[float] | None = None,
):
    """Line plot of named series sharing one x axis; ``marks`` draws labelled vertical lines."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in series.items():
        xs = x if x is not None else np.arange(1, len(ys) + 1)
        ax.plot(xs[: len(ys)], ys, label=name)
    for label, at in (marks or {}).items():
        ax.axvline(at, color="k", linestyle="--", linewidth=1)
        ax.annotate(label, (at, 0.95), xycoords=("data", "axes fraction"), ha="left")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if series:
        ax.legend()
    ax.grid(alpha=0.3)
    return fig


def label_regions(fig, names: Sequence[str], xlabel: str = "x1", ylabel: str = "x2", cmap: str = "coolwarm"):
    """Axis names and a legend for a :func:`decision_regions` figure: for each class (in
    order, the k-th colour along ``cmap``) its points (solid) and its predicted region (pale)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ax = fig.axes[0]
    colours = plt.get_cmap(cmap)
    handles = []
    for k, name in enumerate(names):
        colour = colours(k / max(len(names) - 1, 1))
        handles.append(Line2D([], [], ls="", marker="o", ms=4, color=colour, label=f"test point, {name}"))
        handles.append(Patch(fc=colour, alpha=0.3, label=f"predicted {name}"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, frameon=False)
    return fig


def decision_regions(
    predict: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    title: str = "",
    resolution: int = 200,
    margin: float = 0.1,
    classes: Sequence[float] | None = None,
    cmap: str = "coolwarm",
    ax=None,
):
    """Colour the plane by ``predict`` (N x 2 points -> N labels), with the points on top.

    Labels are class indices 0..K-1, or else the values listed in ``classes``, e.g.
    ``(-1, 1)`` for a perceptron's signs; either way the k-th class takes the k-th colour
    along ``cmap``, in the regions and in the points alike. With ``ax`` the regions are
    drawn into that panel of a larger figure (whose Figure is returned).
    """
    x = x.detach().cpu().float()
    y = y.detach().cpu()
    lo, hi = x.min(0).values, x.max(0).values
    pad = (hi - lo) * margin
    gx = torch.linspace(float(lo[0] - pad[0]), float(hi[0] + pad[0]), resolution)
    gy = torch.linspace(float(lo[1] - pad[1]), float(hi[1] + pad[1]), resolution)
    xx, yy = torch.meshgrid(gx, gy, indexing="xy")
    grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    with torch.no_grad():
        z = predict(grid).detach().cpu().reshape(resolution, resolution)
    if classes is not None:
        z, y = _class_indices(z, classes), _class_indices(y, classes)
        k = len(classes)
    else:
        k = int(max(z.max(), y.max())) + 1
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(xx.numpy(), yy.numpy(), z.numpy(), alpha=0.3, cmap=cmap, levels=np.arange(k + 1) - 0.5)
    ax.scatter(
        x[:, 0].numpy(), x[:, 1].numpy(), c=y.numpy(), s=6, cmap=cmap, vmin=0, vmax=max(k - 1, 1), edgecolors="none"
    )
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax.figure


def _class_indices(labels: torch.Tensor, classes: Sequence[float]) -> torch.Tensor:
    """Each label's position in ``classes`` (labels must all be among them)."""
    match = labels.double().unsqueeze(-1) == torch.tensor(classes, dtype=torch.float64)
    if not match.any(-1).all():
        raise InvalidArgument(f"labels {labels.unique().tolist()} are not all among classes {list(classes)}")
    return match.to(torch.int64).argmax(-1)


def image_grid(
    images: torch.Tensor, *, nrow: int = 8, title: str = "", labels: Sequence[str] | None = None, cmap: str = "gray"
):
    """Show N x H x W or N x C x H x W images in a grid, each scaled to its own range."""
    imgs = images.detach().cpu().float()
    if imgs.dim() == 3:
        imgs = imgs.unsqueeze(1)
    n = imgs.shape[0]
    ncol = min(nrow, n)
    nrows = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrows, ncol, figsize=(1.2 * ncol, 1.2 * nrows + (0.3 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        im = imgs[i]
        im = (im - im.min()) / (im.max() - im.min() + 1e-12)
        if im.shape[0] == 1:
            ax.imshow(im[0].numpy(), cmap=cmap)
        else:
            ax.imshow(im.permute(1, 2, 0).numpy())
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def scatter2d(points: torch.Tensor, labels: torch.Tensor | None = None, *, title: str = ""):
    """A 2-D embedding coloured by label."""
    p = points.detach().cpu().float().numpy()
    fig, ax = plt.subplots(figsize=(5, 5))
    sc = ax.scatter(p[:, 0], p[:, 1], s=5, c=None if labels is None else labels.detach().cpu().numpy(), cmap="tab10")
    if labels is not None:
        fig.colorbar(sc, ax=ax)
    if title:
        ax.set_title(title)
    return fig


def image_rows(
    rows: Sequence[tuple[str, torch.Tensor]],
    title: str,
    col_labels: Sequence[str] | None = None,
    shape: tuple[int, int] = (28, 28),
    left: float = 0.16,
):
    """Rows of grey images (values shown on a fixed 0..1 scale, each reshaped to
    ``shape``), with a label left of each row and optional column titles: originals,
    then what each model makes of them."""
    if not rows:
        raise InvalidArgument("image_rows needs at least one row")
    ncol = max(len(imgs) for _, imgs in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(0.9 * ncol + 1.6, 0.95 * len(rows) + 0.7), squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        for c in range(ncol):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(imgs):
                ax.imshow(imgs[c].detach().cpu().reshape(shape).clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
            if r == 0 and col_labels and c < len(col_labels):
                ax.set_title(col_labels[c], fontsize=8)
    fig.suptitle(title)
    fig.subplots_adjust(left=left, wspace=0.05, hspace=0.08)
    return fig
