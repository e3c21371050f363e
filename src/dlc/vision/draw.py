"""Drawing the targets and predictions of the vision tasks: images with boxes (class and
score) or with a class mask laid over them, in one colour per class.

Every function draws into a matplotlib Axes; the image covers ``[0, W] x [0, H]`` so that a
box ``(x0, y0, x1, y1)`` with exclusive x1, y1 sits exactly on the pixels it covers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

# one colour per class (class k is COLOURS[k]); the background is not coloured
COLOURS = ("#ff3b30", "#00c7ff", "#ffd60a", "#bf5af2", "#34c759")


def show_image(ax, image: torch.Tensor, title: str = "") -> None:
    """A 3 x H x W (values in [0, 1]) or H x W image, without axes."""
    im = image.detach().cpu().float()
    h, w = im.shape[-2:]
    if im.dim() == 3:
        ax.imshow(im.permute(1, 2, 0).clamp(0, 1).numpy(), extent=(0, w, h, 0), interpolation="nearest")
    else:
        ax.imshow(im.numpy(), cmap="gray", extent=(0, w, h, 0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def draw_boxes(
    ax,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    classes: Sequence[str],
    scores: torch.Tensor | None = None,
    linestyle: str = "-",
    text: bool = True,
) -> None:
    """Boxes (N x 4) in their class's colour, with the class name (and score) above each."""
    for k, (box, label) in enumerate(zip(boxes.tolist(), labels.tolist())):
        if label < 0:
            continue
        x0, y0, x1, y1 = box
        colour = COLOURS[label % len(COLOURS)]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=colour, lw=1.5, ls=linestyle))
        if text:
            name = classes[label] if scores is None else f"{classes[label]} {float(scores[k]):.2f}"
            ax.text(
                x0,
                y0,
                name,
                color="black",
                fontsize=6,
                va="bottom",
                ha="left",
                bbox={"fc": colour, "ec": "none", "pad": 0.5, "alpha": 0.85},
                clip_on=True,
            )


def mask_rgb(mask: torch.Tensor) -> np.ndarray:
    """An H x W class map (0 background, 1 + k class k) as an H x W x 3 image: black
    background, class k in ``COLOURS[k]``."""
    from matplotlib.colors import to_rgb

    palette = np.array([(0.0, 0.0, 0.0)] + [to_rgb(c) for c in COLOURS])
    return palette[mask.detach().cpu().numpy() % len(palette)]


def show_mask(ax, mask: torch.Tensor, title: str = "") -> None:
    """A class map in the class colours (black background), without axes."""
    h, w = mask.shape
    ax.imshow(mask_rgb(mask), extent=(0, w, h, 0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def overlay_mask(ax, image: torch.Tensor, mask: torch.Tensor, title: str = "", alpha: float = 0.55) -> None:
    """The image with its class map laid over it (background left as it is)."""
    show_image(ax, image, title)
    h, w = mask.shape
    rgba = np.concatenate([mask_rgb(mask), alpha * (mask.detach().cpu().numpy()[..., None] > 0)], -1)
    ax.imshow(rgba, extent=(0, w, h, 0), interpolation="nearest")


def class_legend(fig, classes: Sequence[str], *, boxes: bool = False, extra: Sequence = (), ncol: int | None = None):
    """A legend at the bottom of the figure: one entry per class (a box outline or a
    filled patch), then any ``extra`` handles."""
    if boxes:
        handles = [Patch(fc="none", ec=COLOURS[k], lw=1.5, label=c) for k, c in enumerate(classes)]
    else:
        handles = [Patch(fc=COLOURS[k], label=c) for k, c in enumerate(classes)]
    handles += list(extra)
    fig.legend(handles=handles, loc="lower center", ncol=ncol or len(handles), fontsize=8, frameon=False)
    return fig


def line_handle(label: str, linestyle: str = "-", colour: str = "gray") -> Line2D:
    """A legend entry for a line style (e.g. true boxes solid, predicted dashed)."""
    return Line2D([], [], color=colour, ls=linestyle, lw=1.5, label=label)


def grid(rows: int, cols: int, cell: float = 1.5, title: str = "", bottom: float = 0.4):
    """A figure of rows x cols image panels (cell inches each) with room for a title and
    a legend at the bottom; returns (fig, axes as a 2-D array)."""
    from dlc.viz import plt  # pyplot with the Agg backend

    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols, cell * rows + 0.4 + bottom), squeeze=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, bottom / (cell * rows + 0.4 + bottom), 1, 1 - 0.4 / (cell * rows + 0.4 + bottom)))
    return fig, axes
