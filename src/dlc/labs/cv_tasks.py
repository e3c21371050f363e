"""Computer-vision tasks framed as tensors (EE-559 7.1): classification, detection and
segmentation are the same supervised recipe with different targets and losses.

On synthetic shapes (:func:`dlc.data.shapes.shapes`: squares, circles and triangles on a
noisy background), three small convnets are trained briefly, each framing a task as
tensors:

- classification: a 3 x S x S image -> 3 class scores; target a class index; cross-entropy;
- detection, reduced to localisation of the single object of an image: image -> 4 numbers,
  the box's centre and size as fractions of the side; target the true box; L1 loss;
- semantic segmentation: image -> 4 scores per pixel (background and the 3 classes), an
  output of the image's height and width; target the class map; cross-entropy per pixel.

Check, each task against a trivial predictor measured in the same run on the same test
images: the classifier's accuracy beats always predicting the most frequent training
class by 30 points; the box regressor's mean IoU beats predicting the mean training box
by 0.2; the segmenter's mean IoU (over background and the 3 classes) beats labelling
every pixel background by 0.2. ``--epochs 0`` evaluates the untrained nets, and the
check then says they are poor: accuracy below 60%, mean IoUs below 0.5.

The course gives no numbers for this lecture: sizes and the Adam recipe are this lab's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlc.data import toy
from dlc.data.shapes import CLASSES, shapes
from dlc.engine import Supervised, fit, predict, standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.vision import draw
from dlc.vision.boxes import box_iou
from dlc.vision.metrics import class_iou, pixel_accuracy


@dataclass
class Config:
    image_size: int = 32  # side of the synthetic images in pixels (--full: the generator's 64)
    train_images: int = 1000  # training images per task (--tiny 300, --full 5,000)
    test_images: int = 500  # test images per task (--tiny 100, --full 1,000)
    epochs: int = 6  # passes over the training images, for each of the three nets (--tiny 5);
    # 0: no training, the untrained nets are evaluated
    batch_size: int = 16  # images per Adam step
    lr: float = 3e-3  # Adam's learning rate
    TINY = {"train_images": 300, "test_images": 100, "epochs": 5}
    FULL = {"image_size": 64, "train_images": 5000, "test_images": 1000, "epochs": 15}

    def __post_init__(self):
        if self.image_size < 16 or self.image_size % 8:
            raise UsageError(
                f"--image_size must be a multiple of 8 of at least 16 pixels (the nets divide it by 8), "
                f"got {self.image_size}"
            )
        for name in ("train_images", "test_images", "batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.epochs < 0:
            raise UsageError(f"--epochs must be at least 0, got {self.epochs}")
        if not self.lr > 0:
            raise UsageError(f"--lr must be positive, got {self.lr}")


def conv(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU; stride 2 halves the height and width."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, dilation, dilation=dilation, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


def classifier() -> nn.Module:
    """N x 3 x S x S -> N x 3 class scores: two strided convolutions (S/4 x S/4), one more,
    then the maximum of each channel over the image (a shape is found wherever it is)."""
    return nn.Sequential(
        conv(3, 16, 2),
        conv(16, 32, 2),
        conv(32, 32),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(32, len(CLASSES)),
    )


def box_regressor(image_size: int) -> nn.Module:
    """N x 3 x S x S -> N x 4 box numbers: (centre x, centre y, width, height) / S after a
    sigmoid (see :func:`to_boxes`). Three strided convolutions, then the whole S/8 x S/8
    map flattened into a linear layer: unlike a pooled one, it keeps where things are."""
    return nn.Sequential(
        conv(3, 16, 2), conv(16, 32, 2), conv(32, 32, 2), nn.Flatten(), nn.Linear(32 * (image_size // 8) ** 2, 4)
    )


class Segmenter(nn.Module):
    """N x 3 x S x S -> N x 4 x S x S scores per pixel (background + 3 classes): down by 4
    with strided convolutions, a dilated convolution to see whole shapes, a 1x1 convolution
    to class scores, and bilinear upsampling back to S x S (lab ``segmentation``: better)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(conv(3, 16, 2), conv(16, 32, 2), conv(32, 32), conv(32, 32, dilation=2))
        self.scores = nn.Conv2d(32, 1 + len(CLASSES), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x S x S images -> N x 4 x S x S scores: the encoder, the 1x1 scores, then
        bilinear interpolation (``align_corners=False``) back to the input's height and width."""
        ### BEGIN SOLUTION
        coarse = self.scores(self.encoder(x))  # N x 4 x S/4 x S/4
        return F.interpolate(coarse, size=x.shape[-2:], mode="bilinear", align_corners=False)
        ### END SOLUTION


def box_numbers(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel boxes (x0, y0, x1, y1), N x 4 -> the regression target, N x 4: (centre x,
    centre y, width, height) as fractions of the image's side ``size``."""
    ### BEGIN SOLUTION
    xy = (boxes[:, :2] + boxes[:, 2:]) / 2
    return torch.cat([xy, boxes[:, 2:] - boxes[:, :2]], 1) / size
    ### END SOLUTION


def to_boxes(output: torch.Tensor, size: int) -> torch.Tensor:
    """The regressor's raw output (N x 4) -> pixel boxes (x0, y0, x1, y1), N x 4: the
    sigmoid of the output is (centre x, centre y, width, height) / ``size``, so the boxes
    are always valid (positive width and height)."""
    ### BEGIN SOLUTION
    c = torch.sigmoid(output) * size
    return torch.cat([c[:, :2] - c[:, 2:] / 2, c[:, :2] + c[:, 2:] / 2], 1)
    ### END SOLUTION


def box_loss(size: int):
    """L1 loss between the predicted and true (cx, cy, w, h) / size."""
    return lambda output, target: F.l1_loss(torch.sigmoid(output), target)


def train(model, loss, metric, train_data, test_data, cfg: Config, ctx, name: str) -> list[dict]:
    """Adam on mini-batches; the test loss shown per epoch as a curve (nothing selected on it)."""
    step = Supervised(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), loss=loss, metric=metric)
    if not cfg.epochs:
        step.to(ctx.device)
        return []
    callbacks = standard_callbacks(ctx, name, epoch_lines=False, checkpoints=False)
    return fit(
        step,
        train_data,
        ctx,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        val=test_data,
        val_name="test",
        callbacks=callbacks,
        name=name,
    )


def seeds(seed: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(train, test) seeds of the single-object sets, then of the multi-object ones."""
    if seed < 0:
        return toy.data_seeds(-1), toy.data_seeds(-1)
    return toy.data_seeds(seed), toy.data_seeds(seed + 1000)


@lab(
    "cv-tasks",
    source="EE-559 7.1",
    summary="classification, box regression and segmentation as tensors on synthetic shapes, vs trivial baselines",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    S, dev = cfg.image_size, ctx.device
    (tr1, te1), (tr2, te2) = seeds(ctx.seed)
    # One object per image for classification and localisation; 1 to 3 for segmentation.
    single_train, single_test = (
        shapes(n, S, (1, 1), seed=s) for n, s in ((cfg.train_images, tr1), (cfg.test_images, te1))
    )
    multi_train, multi_test = (
        shapes(n, S, (1, 3), seed=s) for n, s in ((cfg.train_images, tr2), (cfg.test_images, te2))
    )

    # -- classification: image -> class scores; target a class index; cross-entropy ------
    x_train, y_train = single_train.images, single_train.labels[:, 0]
    x_test, y_test = single_test.images, single_test.labels[:, 0]
    net_c = classifier()
    history_c = train(net_c, "cross_entropy", "accuracy", (x_train, y_train), (x_test, y_test), cfg, ctx, "classifier")
    predicted_c = predict(net_c, x_test.to(dev)).argmax(1).cpu()
    accuracy = float((predicted_c == y_test).double().mean())
    majority = int(y_train.bincount(minlength=len(CLASSES)).argmax())  # the trivial classifier
    majority_accuracy = float((y_test == majority).double().mean())

    # -- localisation: image -> (cx, cy, w, h) / S; target the true box; L1 --------------
    b_train = box_numbers(single_train.boxes[:, 0], S)
    b_test = box_numbers(single_test.boxes[:, 0], S)
    net_b = box_regressor(S)
    history_b = train(net_b, box_loss(S), None, (x_train, b_train), (x_test, b_test), cfg, ctx, "box-regressor")
    true_boxes = single_test.boxes[:, 0]
    predicted_b = to_boxes(predict(net_b, x_test.to(dev)).cpu(), S)
    iou = box_iou(predicted_b, true_boxes).diagonal()
    mean_box = single_train.boxes[:, 0].mean(0, keepdim=True)  # the trivial localiser
    iou_mean_box = box_iou(mean_box, true_boxes)[0]

    # -- segmentation: image -> 4 scores per pixel; target the class map; cross-entropy --
    m_train, m_test = multi_train.masks, multi_test.masks
    net_s = Segmenter()
    history_s = train(
        net_s, "cross_entropy", None, (multi_train.images, m_train), (multi_test.images, m_test), cfg, ctx, "segmenter"
    )
    predicted_s = predict(net_s, multi_test.images.to(dev)).argmax(1).cpu()
    k = 1 + len(CLASSES)
    seg_iou = class_iou(predicted_s, m_test, k)
    background = torch.zeros_like(m_test)  # the trivial segmenter: every pixel background
    bg_iou = class_iou(background, m_test, k)
    # classes absent from both maps (NaN) count as 0 for the all-background predictor: the
    # mean is over the same 4 classes for both
    seg_miou, bg_miou = float(seg_iou.nan_to_num(0).mean()), float(bg_iou.nan_to_num(0).mean())

    ctx.write_text("tensors.txt", tensors_table(cfg))
    ctx.save_figure(classification_figure(single_test, predicted_c, accuracy, majority_accuracy), "classification")
    ctx.save_figure(
        detection_figure(single_test, predicted_b, iou, float(iou.mean()), float(iou_mean_box.mean())), "detection"
    )
    ctx.save_figure(segmentation_figure(multi_test, predicted_s, seg_miou, bg_miou), "segmentation")

    metrics = {
        "epochs": len(history_c),
        "image_size": S,
        "train_images": cfg.train_images,
        "test_images": cfg.test_images,
        "accuracy": accuracy,
        "majority_accuracy": majority_accuracy,
        "box_iou": float(iou.mean()),
        "box_iou_at_0.5": float((iou >= 0.5).double().mean()),
        "mean_box_iou": float(iou_mean_box.mean()),
        "seg_mean_iou": seg_miou,
        "seg_class_iou": seg_iou.nan_to_num(0).tolist(),
        "seg_pixel_accuracy": pixel_accuracy(predicted_s, m_test),
        "background_mean_iou": bg_miou,
        "background_pixel_accuracy": pixel_accuracy(background, m_test),
        "train_loss": {
            "classifier": history_c[-1]["train_loss"] if history_c else None,
            "box_regressor": history_b[-1]["train_loss"] if history_b else None,
            "segmenter": history_s[-1]["train_loss"] if history_s else None,
        },
    }
    m = metrics
    what = f"{len(history_c)} epochs" if history_c else "untrained nets (--epochs 0)"
    line = (
        f"classification accuracy {m['accuracy']:.1%} vs majority class {m['majority_accuracy']:.1%}; "
        f"box IoU {m['box_iou']:.2f} vs mean box {m['mean_box_iou']:.2f}; "
        f"segmentation mean IoU {m['seg_mean_iou']:.2f} vs all-background {m['background_mean_iou']:.2f}; {what}"
    )
    return Result(line, metrics=metrics)


def tensors_table(cfg: Config) -> str:
    """Each task's tensors: input, target, output, loss (what the lecture's slide lists)."""
    S, n, k = cfg.image_size, cfg.batch_size, len(CLASSES)
    rows = [
        ("task", "input", "target", "output", "loss"),
        ("classification", f"{n}x3x{S}x{S} float", f"{n} int64 (class)", f"{n}x{k} scores", "cross-entropy"),
        ("localisation", f"{n}x3x{S}x{S} float", f"{n}x4 float (cx,cy,w,h)/S", f"{n}x4", "L1"),
        (
            "segmentation",
            f"{n}x3x{S}x{S} float",
            f"{n}x{S}x{S} int64 (class map)",
            f"{n}x{k + 1}x{S}x{S} scores",
            "cross-entropy per pixel",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def classification_figure(test, predicted, accuracy, majority_accuracy, n=16):
    from matplotlib.patches import Patch

    fig, axes = draw.grid(
        2,
        n // 2,
        title=f"classification: image -> class (true -> predicted); accuracy {accuracy:.1%}, "
        f"majority class {majority_accuracy:.1%}",
    )
    for i, ax in enumerate(axes.flat):
        t, p = int(test.labels[i, 0]), int(predicted[i])
        draw.show_image(ax, test.images[i])
        ax.set_title(f"{CLASSES[t]}\n-> {CLASSES[p]}", fontsize=7, color="black" if t == p else "red")
    handles = [Patch(fc="black", label="right"), Patch(fc="red", label="wrong")]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    return fig


def detection_figure(test, predicted, iou, mean_iou, mean_box_iou, n=16):
    fig, axes = draw.grid(
        2,
        n // 2,
        title=f"localisation: image -> box; mean IoU {mean_iou:.2f} (predicting the mean box: {mean_box_iou:.2f})",
    )
    for i, ax in enumerate(axes.flat):
        draw.show_image(ax, test.images[i], title=f"IoU {float(iou[i]):.2f}")
        label = test.labels[i, :1]
        draw.draw_boxes(ax, test.boxes[i, :1], label, CLASSES, text=False)
        draw.draw_boxes(ax, predicted[i : i + 1], label, CLASSES, linestyle="--", text=False)
    extra = [draw.line_handle("true box"), draw.line_handle("predicted box", "--")]
    draw.class_legend(fig, CLASSES, boxes=True, extra=extra)
    return fig


def segmentation_figure(test, predicted, miou, bg_miou, n=8):
    fig, axes = draw.grid(
        3,
        n,
        title=f"segmentation: image -> class per pixel; mean IoU {miou:.2f} (all background: {bg_miou:.2f})",
    )
    for i in range(n):
        draw.show_image(axes[0, i], test.images[i])
        draw.show_mask(axes[1, i], test.masks[i])
        draw.show_mask(axes[2, i], predicted[i])
    for row, name in enumerate(("image", "true mask", "predicted")):
        axes[row, 0].set_ylabel(name, fontsize=8)
    draw.class_legend(fig, CLASSES)
    return fig


def check(result: Result) -> list:
    """Each framing, trained briefly, beats its trivial predictor on the same test images."""
    m = result.metrics
    if m["epochs"] == 0:
        return [
            verdict("untrained classifier's accuracy, near chance (1/3)", m["accuracy"], "<", 0.6),
            verdict("untrained box regressor's mean IoU", m["box_iou"], "<", 0.5),
            verdict("untrained segmenter's mean IoU", m["seg_mean_iou"], "<", 0.5),
        ]
    return [
        verdict("accuracy minus the majority class's", m["accuracy"] - m["majority_accuracy"], ">", 0.3),
        verdict("box IoU minus the mean box's", m["box_iou"] - m["mean_box_iou"], ">", 0.2),
        verdict("mean IoU minus all-background's", m["seg_mean_iou"] - m["background_mean_iou"], ">", 0.2),
    ]


# -- exercises (`dlc exercise cv-tasks`, then `dlc check cv-tasks`) ------------------------


def _pixel_boxes(g: torch.Generator, n: int, size: int) -> torch.Tensor:
    """n valid boxes (x0, y0, x1, y1) inside a size x size image, in float64."""
    corner = torch.rand(n, 2, generator=g, dtype=torch.float64) * size * 0.6
    extent = (torch.rand(n, 2, generator=g, dtype=torch.float64) * 0.35 + 0.05) * size
    return torch.cat([corner, corner + extent], 1)


TASKS = [
    Task(
        "box_numbers",
        hint="the centre is the mean of the two corners, the size their difference; divide all four by size",
        cases=lambda g: [(_pixel_boxes(g, 5, 32), 32), (_pixel_boxes(g, 1, 64), 64)],
    ),
    Task(
        "to_boxes",
        hint="sigmoid(output) * size gives (cx, cy, w, h) in pixels; the corners are centre -/+ half the size",
        cases=lambda g: [
            (torch.randn(6, 4, generator=g, dtype=torch.float64), 32),
            (3 * torch.randn(2, 4, generator=g, dtype=torch.float64), 64),
        ],
        grad=True,
    ),
    Task(
        "Segmenter",
        hint="scores of the encoder's S/4 x S/4 maps, then F.interpolate to x's height and width "
        "(mode='bilinear', align_corners=False)",
        cases=lambda g: [
            (torch.randn(2, 3, 16, 16, generator=g, dtype=torch.float64),),
            (torch.randn(3, 3, 24, 24, generator=g, dtype=torch.float64),),
        ],
        build=lambda cls: cls(),
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
