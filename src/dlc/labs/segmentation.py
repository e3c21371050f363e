"""Semantic segmentation with a small U-Net (EE-559 7.4): a fully-convolutional
encoder-decoder whose skip connections bring back the detail the encoder pooled away.

On synthetic shapes (:func:`dlc.data.shapes.shapes`), each pixel is to be labelled
background, square, circle or triangle. The net: an encoder of 3x3 convolutions and 2x2
max-pooling (S -> S/2 -> S/4), a decoder of 2x2 transposed convolutions (S/4 -> S/2 -> S),
and, U-Net style, the encoder's feature maps of each resolution concatenated to the
decoder's before its convolution; a 1x1 convolution gives 4 scores per pixel; per-pixel
cross-entropy; Adam. The same net without the skip connections (its decoder sees only
the upsampled coarse maps) is trained with the same recipe in the same run.

Check, on the test images of the same run: the U-Net's pixel accuracy above 0.95 and its
mean IoU (over background and the 3 classes) above 0.8, at least 0.5 above labelling
every pixel background (whose pixel accuracy is already about 0.8: accuracy flatters); and
the U-Net gets fewer than half as many pixels wrong as the net without skip connections
(whose errors gather along the edges and corners the pooling blurred; with longer
training its mean IoU comes close, but its error rate stays several times higher). ``--epochs 0`` evaluates the
untrained nets, and the check says their mean IoU is below 0.5.

The course gives no numbers for this lecture: sizes and the Adam recipe are this lab's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlc.data import toy
from dlc.data.shapes import CLASSES, shapes
from dlc.engine import Supervised, fit, predict, standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.vision import draw
from dlc.vision.metrics import pixel_accuracy

NAMES = ("background", *CLASSES)


@dataclass
class Config:
    image_size: int = 32  # side of the synthetic images in pixels, a multiple of 4 (--full: 64)
    width: int = 8  # channels of the first encoder level (then 2x, 4x)
    train_images: int = 600  # training images (--tiny 300, --full 5,000)
    test_images: int = 300  # test images (--tiny 100, --full 1,000)
    epochs: int = 8  # passes over the training images, for each net (also at --tiny); 0: untrained nets
    batch_size: int = 16  # images per Adam step
    lr: float = 3e-3  # Adam's learning rate
    TINY = {"train_images": 300, "test_images": 100}
    FULL = {"image_size": 64, "train_images": 5000, "test_images": 1000, "epochs": 15}

    def __post_init__(self):
        if self.image_size < 8 or self.image_size % 4:
            raise UsageError(f"--image_size must be a multiple of 4 of at least 8 pixels, got {self.image_size}")
        for name in ("width", "train_images", "test_images", "batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.epochs < 0:
            raise UsageError(f"--epochs must be at least 0, got {self.epochs}")
        if not self.lr > 0:
            raise UsageError(f"--lr must be positive, got {self.lr}")


def conv(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 convolution (size kept), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class UNet(nn.Module):
    """N x 3 x S x S -> N x 4 x S x S class scores per pixel.

    Encoder: conv (S, c), pool + conv (S/2, 2c), pool + 2 convs (S/4, 4c). Decoder: a
    transposed convolution doubles the size (S/2, 2c), concatenated with the encoder's
    S/2 maps (``skip=True``), conv; again to S (c), concatenated with the S maps, conv;
    1x1 conv to the scores. ``skip=False``: the same decoder without the concatenations.
    """

    def __init__(self, width: int = 8, skip: bool = True, classes: int = len(NAMES)):
        super().__init__()
        c, self.skip = width, skip
        self.enc1 = conv(3, c)
        self.enc2 = nn.Sequential(nn.MaxPool2d(2), conv(c, 2 * c))
        self.bottom = nn.Sequential(nn.MaxPool2d(2), conv(2 * c, 4 * c), conv(4 * c, 4 * c))
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = conv(4 * c if skip else 2 * c, 2 * c)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec1 = conv(2 * c if skip else c, c)
        self.scores = nn.Conv2d(c, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x S x S -> N x classes x S x S: enc1 (S), enc2 (S/2), bottom then up2 (S/4 ->
        S/2), dec2 of [that, enc2's maps] concatenated on the channels (or of it alone
        without ``skip``), up1 (S), dec1 of [that, enc1's maps] (or of it alone), scores."""
        ### BEGIN SOLUTION
        e1 = self.enc1(x)  # S
        e2 = self.enc2(e1)  # S/2
        h = self.up2(self.bottom(e2))  # S/4 -> S/2
        h = self.dec2(torch.cat([h, e2], 1) if self.skip else h)
        h = self.up1(h)  # S/2 -> S
        h = self.dec1(torch.cat([h, e1], 1) if self.skip else h)
        return self.scores(h)
        ### END SOLUTION


def train_and_score(model, train, test, cfg: Config, ctx, name: str) -> dict:
    """Adam with per-pixel cross-entropy; pixel accuracy and IoU per class on the test set."""
    if cfg.epochs:
        step = Supervised(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), loss="cross_entropy", metric=None)
        callbacks = standard_callbacks(ctx, name, epoch_lines=False, checkpoints=False)
        history = fit(
            step,
            (train.images, train.masks),
            ctx,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            val=(test.images, test.masks),
            val_name="test",
            callbacks=callbacks,
            name=name,
        )
    else:
        model.to(ctx.device)
        history = []
    predicted = predict(model, test.images.to(ctx.device)).argmax(1).cpu()
    return scores(predicted, test.masks) | {"predicted": predicted, "epochs": len(history)}


def iou_per_class(predicted: torch.Tensor, masks: torch.Tensor, classes: int) -> torch.Tensor:
    """Intersection over union of each class k between two class maps of the same shape
    (int64): |predicted = k and mask = k| / |predicted = k or mask = k|, over all pixels.
    Returns a float64 tensor of ``classes`` values, NaN for a class absent from both maps."""
    iou = torch.full((classes,), float("nan"), dtype=torch.float64)
    ### BEGIN SOLUTION
    for k in range(classes):
        p, t = predicted == k, masks == k
        union = int((p | t).sum())
        if union:
            iou[k] = int((p & t).sum()) / union
    ### END SOLUTION
    return iou


def scores(predicted: torch.Tensor, masks: torch.Tensor) -> dict:
    """Pixel accuracy, IoU per class and their mean over the 4 classes (a class absent from
    both maps, which only an all-background guess allows, counts as 0)."""
    iou = iou_per_class(predicted, masks, len(NAMES)).nan_to_num(0)
    return {"pixel_accuracy": pixel_accuracy(predicted, masks), "iou": iou.tolist(), "mean_iou": float(iou.mean())}


@lab(
    "segmentation",
    source="EE-559 7.4",
    summary="a small U-Net on synthetic shapes: pixel accuracy and mean IoU vs no skip connections and all-background",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    S = cfg.image_size
    train_seed, test_seed = toy.data_seeds(ctx.seed)
    train = shapes(cfg.train_images, S, (1, 3), seed=train_seed)
    test = shapes(cfg.test_images, S, (1, 3), seed=test_seed)

    # Both nets start by predicting the training set's class frequencies (the score biases
    # set to their logarithms): mostly background, which steadies the first steps.
    prior = train.masks.flatten().bincount(minlength=len(NAMES)).double().add(1).log().float()
    nets = {}
    for skip in (True, False):
        nets[skip] = UNet(cfg.width, skip=skip)
        with torch.no_grad():
            nets[skip].scores.bias.copy_(prior - prior.logsumexp(0))
    unet = train_and_score(nets[True], train, test, cfg, ctx, "unet")
    plain = train_and_score(nets[False], train, test, cfg, ctx, "no-skip")
    background = scores(torch.zeros_like(test.masks), test.masks)  # every pixel background

    ctx.save_figure(masks_figure(test, unet, plain), "masks")
    ctx.save_figure(iou_figure(unet, plain, background), "iou_per_class")

    m = {
        "epochs": unet["epochs"],
        "image_size": S,
        "train_images": cfg.train_images,
        "test_images": cfg.test_images,
        "pixel_accuracy": unet["pixel_accuracy"],
        "pixel_error": 1 - unet["pixel_accuracy"],
        "no_skip_pixel_error": 1 - plain["pixel_accuracy"],
        "mean_iou": unet["mean_iou"],
        "iou": dict(zip(NAMES, unet["iou"])),
        "no_skip_pixel_accuracy": plain["pixel_accuracy"],
        "no_skip_mean_iou": plain["mean_iou"],
        "no_skip_iou": dict(zip(NAMES, plain["iou"])),
        "background_pixel_accuracy": background["pixel_accuracy"],
        "background_mean_iou": background["mean_iou"],
        "parameters": sum(p.numel() for p in UNet(cfg.width).parameters()),
        "no_skip_parameters": sum(p.numel() for p in UNet(cfg.width, skip=False).parameters()),
    }
    what = f"{m['epochs']} epochs" if m["epochs"] else "untrained nets (--epochs 0)"
    line = (
        f"U-Net pixel accuracy {m['pixel_accuracy']:.1%}, mean IoU {m['mean_iou']:.2f}; without skip connections "
        f"{m['no_skip_pixel_accuracy']:.1%}, {m['no_skip_mean_iou']:.2f}; all-background "
        f"{m['background_pixel_accuracy']:.1%}, {m['background_mean_iou']:.2f}; {what}"
    )
    return Result(line, metrics=m)


def masks_figure(test, unet, plain, n: int = 8):
    fig, axes = draw.grid(
        4,
        n,
        title=f"segmentation of test images: U-Net mean IoU {unet['mean_iou']:.2f}, "
        f"without skip connections {plain['mean_iou']:.2f}",
    )
    for i in range(n):
        draw.show_image(axes[0, i], test.images[i])
        draw.show_mask(axes[1, i], test.masks[i])
        draw.show_mask(axes[2, i], unet["predicted"][i])
        draw.show_mask(axes[3, i], plain["predicted"][i])
    for row, name in enumerate(("image", "true mask", "U-Net", "no skips")):
        axes[row, 0].set_ylabel(name, fontsize=8)
    draw.class_legend(fig, CLASSES)
    return fig


def iou_figure(unet, plain, background):
    from dlc.viz import plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x = torch.arange(len(NAMES)).float()
    for k, (label, r) in enumerate((("U-Net", unet), ("no skip connections", plain), ("all background", background))):
        ax.bar(x + (k - 1) * 0.27, r["iou"], 0.27, label=f"{label} (mean {r['mean_iou']:.2f})")
    ax.set_xticks(x.tolist(), NAMES)
    ax.set_xlabel("class")
    ax.set_ylabel("IoU on the test images")
    ax.set_ylim(0, 1.05)
    ax.set_title("intersection over union per class")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8, frameon=False)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def check(result: Result) -> list:
    """The U-Net labels the pixels well, far better than all-background and than itself
    without skip connections."""
    m = result.metrics
    error_ratio = m["pixel_error"] / max(m["no_skip_pixel_error"], 1e-12)
    if m["epochs"] == 0:
        return [verdict("untrained U-Net's mean IoU", m["mean_iou"], "<", 0.5)]
    return [
        verdict("U-Net pixel accuracy", m["pixel_accuracy"], ">", 0.95),
        verdict("U-Net mean IoU", m["mean_iou"], ">", 0.8),
        verdict("mean IoU minus all-background's", m["mean_iou"] - m["background_mean_iou"], ">", 0.5),
        verdict("U-Net's wrong pixels / the no-skip net's", error_ratio, "<", 0.5),
    ]


# -- exercises (`dlc exercise segmentation`, then `dlc check segmentation`) ----------------


def _map_cases(g: torch.Generator) -> list[tuple]:
    masks = torch.randint(0, 4, (3, 8, 8), generator=g)
    noisy = torch.where(torch.rand(3, 8, 8, generator=g) < 0.3, torch.randint(0, 4, (3, 8, 8), generator=g), masks)
    two = torch.randint(0, 2, (2, 5, 6), generator=g)  # classes 2 and 3 absent from both: NaN
    return [(noisy, masks, 4), (1 - two, two, 4), (masks, masks, 5)]


TASKS = [
    Task(
        "UNet",
        hint="keep enc1's and enc2's outputs; when self.skip, concatenate each transposed convolution's output with "
        "the encoder's maps of the same size, in that order (torch.cat on dim 1), before the decoder's convolution",
        cases=lambda g: [
            (torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64),),
            (torch.randn(1, 3, 12, 12, generator=g, dtype=torch.float64),),
        ],
        build=lambda cls: cls(4),
        grad=True,
    ),
    Task(
        "iou_per_class",
        hint="for each class k: the pixels where both maps say k, over the pixels where either says k; NaN when "
        "neither map has k",
        cases=_map_cases,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
