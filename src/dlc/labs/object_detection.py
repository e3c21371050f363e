"""A small one-stage detector (EE-559 7.3): a YOLO-style grid on synthetic shapes, with
non-maximum suppression, scored by mean average precision.

The image (S x S pixels) is cut into cells of 8 x 8 pixels. A fully-convolutional net maps
it to an S/8 x S/8 grid of 8 numbers per cell: an objectness logit (does an object's
centre fall in this cell?), 3 class scores, and the box: the centre's offset within the
cell and the width and height as fractions of the image (through a sigmoid). The loss
is the binary cross-entropy of objectness over every cell, plus, on the cells that hold a
centre, the cross-entropy of the class and 5 x the L1 distance of the box numbers. At
test time every cell proposes a box scored by P(object) x P(class); boxes under
``min_score`` are dropped, and non-maximum suppression within each class removes those
that overlap a better one by more than ``nms_iou`` (neighbouring cells often see the
same shape). On :func:`dlc.data.shapes.shapes` the boxes never overlap, so no two
centres fall in one cell.

Check, measured on the test images of the same run: mAP@0.5 (average precision at IoU
0.5, averaged over the 3 classes) above 0.6 and at least 0.4 above the untrained
detector's; the mean IoU of the matched boxes above 0.6. ``--epochs 0`` evaluates the
untrained detector only, and the check says its mAP@0.5 is below 0.2.

The course gives no numbers for this lecture: sizes and the Adam recipe are this lab's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlc.data import toy
from dlc.data.shapes import CLASSES, shapes
from dlc.engine import Step, fit, predict, standard_callbacks
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.vision import draw
from dlc.vision.boxes import Detections, batched_nms, mean_average_precision

CELL = 8  # pixels per grid cell (the net's total stride)
K = len(CLASSES)


@dataclass
class Config:
    image_size: int = 32  # side of the synthetic images in pixels, a multiple of 8 (--full: 64)
    objects: int = 3  # at most this many shapes per image (at least 1)
    train_images: int = 1000  # training images (--tiny 300, --full 5,000)
    test_images: int = 300  # test images (--tiny 100, --full 1,000)
    epochs: int = 10  # passes over the training images (--tiny 6); 0: the untrained detector only
    batch_size: int = 16  # images per Adam step
    lr: float = 3e-3  # Adam's learning rate
    min_score: float = 0.05  # boxes scored below this are dropped before NMS
    nms_iou: float = 0.5  # NMS drops a box overlapping a better one of its class by more than this
    TINY = {"train_images": 300, "test_images": 100, "epochs": 6}
    FULL = {"image_size": 64, "train_images": 5000, "test_images": 1000, "epochs": 15}

    def __post_init__(self):
        if self.image_size < 16 or self.image_size % CELL:
            raise UsageError(f"--image_size must be a multiple of {CELL} of at least 16 pixels, got {self.image_size}")
        for name in ("objects", "train_images", "test_images", "batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.epochs < 0:
            raise UsageError(f"--epochs must be at least 0, got {self.epochs}")
        if not self.lr > 0:
            raise UsageError(f"--lr must be positive, got {self.lr}")
        for name in ("min_score", "nms_iou"):
            if not 0 <= getattr(self, name) <= 1:
                raise UsageError(f"--{name} must be between 0 and 1, got {getattr(self, name)}")


def conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU; stride 2 halves the height and width."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class GridDetector(nn.Module):
    """N x 3 x S x S -> N x (1 + K + 4) x S/8 x S/8: per cell, objectness, class scores, box.

    Three strided convolutions bring the image to one position per cell; two more let each
    cell see about 47 pixels around it, enough for a whole shape.
    """

    def __init__(self, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            conv(3, 16, 2),
            conv(16, width, 2),
            conv(width, 2 * width, 2),
            conv(2 * width, 2 * width),
            conv(2 * width, 2 * width),
        )
        self.head = nn.Conv2d(2 * width, 1 + K + 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def grid_targets(boxes: torch.Tensor, labels: torch.Tensor, image_size: int) -> torch.Tensor:
    """The net's target from the true objects: ``boxes`` N x M x 4 pixel boxes (x0, y0, x1,
    y1) and ``labels`` N x M classes (-1: no object in that slot) -> N x 6 x G x G (G = S/8).

    An object belongs to the cell holding its box's centre (cx, cy): column
    floor(cx / 8), row floor(cy / 8), at most G - 1. That cell gets [1, class, cx / 8 -
    column, cy / 8 - row, width / S, height / S]: objectness, class, the centre's offset in
    the cell (0 to 1) and the size as fractions of the image. Every other cell keeps
    [0, -1, 0, 0, 0, 0]."""
    n, g = len(boxes), image_size // CELL
    target = torch.zeros(n, 6, g, g)
    target[:, 1] = -1
    ### BEGIN SOLUTION
    image, slot = torch.nonzero(labels >= 0, as_tuple=True)
    b = boxes[image, slot]
    centre = (b[:, :2] + b[:, 2:]) / 2 / CELL  # in cells
    col, row = centre[:, 0].long().clamp(max=g - 1), centre[:, 1].long().clamp(max=g - 1)
    values = torch.stack(
        [
            torch.ones(len(b)),
            labels[image, slot].float(),
            centre[:, 0] - col,
            centre[:, 1] - row,
            (b[:, 2] - b[:, 0]) / image_size,
            (b[:, 3] - b[:, 1]) / image_size,
        ],
        1,
    )
    target[image, :, row, col] = values.to(target.dtype)
    ### END SOLUTION
    return target


def detection_loss(output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """The loss of the net's ``output`` (N x (1 + K + 4) x G x G: objectness logit, K class
    scores, 4 box numbers before their sigmoid) against :func:`grid_targets`' ``target``
    (N x 6 x G x G): the binary cross-entropy of objectness (with logits) over every cell,
    plus, over the cells that hold an object only, the cross-entropy of the class scores and
    5 x the L1 distance between the sigmoid of the box numbers and the target's 4 (means
    over those cells; both 0 in a batch without any object). Returns a dict: ``loss`` (to
    minimise) and its parts ``objectness_loss``, ``class_loss``, ``box_loss`` (detached)."""
    ### BEGIN SOLUTION
    objectness = F.binary_cross_entropy_with_logits(output[:, 0], target[:, 0])
    on = target[:, 0] > 0  # N x G x G: the cells holding a centre
    cells = output.permute(0, 2, 3, 1)[on]  # P x (1 + K + 4)
    truth = target.permute(0, 2, 3, 1)[on]  # P x 6
    if len(cells):
        classes = F.cross_entropy(cells[:, 1 : 1 + K], truth[:, 1].long())
        box = F.l1_loss(torch.sigmoid(cells[:, 1 + K :]), truth[:, 2:])
    else:  # a batch without any object: no class or box to learn
        classes = box = output.sum() * 0
    loss = objectness + classes + 5 * box
    ### END SOLUTION
    return {
        "loss": loss,
        "objectness_loss": objectness.detach(),
        "class_loss": classes.detach(),
        "box_loss": box.detach(),
    }


def decode_grid(output: torch.Tensor, image_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every cell's proposal from the net's ``output`` (N x (1 + K + 4) x G x G): the box
    whose centre is (column + sigmoid(box x), row + sigmoid(box y)) x 8 pixels and whose
    width and height are sigmoid(box w, box h) x S, as (x0, y0, x1, y1) clamped to [0, S];
    its class, the most probable under the softmax of the class scores; and its score,
    P(object) x P(that class), with P(object) the sigmoid of the objectness logit.
    Returns ``(boxes, labels, scores)``: N x G x G x 4, N x G x G (int64), N x G x G."""
    g = output.shape[-1]
    rows, cols = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")  # G x G, each cell's row, column
    ### BEGIN SOLUTION
    p_object = torch.sigmoid(output[:, 0])
    p_class, labels = F.softmax(output[:, 1 : 1 + K], 1).max(1)
    scores = p_object * p_class  # N x G x G
    numbers = torch.sigmoid(output[:, 1 + K :])  # N x 4 x G x G
    cx = (cols.to(output) + numbers[:, 0]) * CELL
    cy = (rows.to(output) + numbers[:, 1]) * CELL
    w, h = numbers[:, 2] * image_size, numbers[:, 3] * image_size
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1).clamp(0, image_size)
    ### END SOLUTION
    return boxes, labels, scores


@torch.no_grad()
def decode(output: torch.Tensor, image_size: int, min_score: float, nms_iou: float) -> list[Detections]:
    """Net output -> per image, the boxes kept by per-class NMS, with classes and scores."""
    boxes, label, score = decode_grid(output, image_size)
    found = []
    for i in range(len(output)):
        s, b, c = score[i].reshape(-1), boxes[i].reshape(-1, 4), label[i].reshape(-1)
        keep = s >= min_score
        s, b, c = s[keep], b[keep], c[keep]
        if nms_iou < 1:
            kept = batched_nms(b, s, c, nms_iou)
            s, b, c = s[kept], b[kept], c[kept]
        found.append(Detections(b.cpu(), c.cpu(), s.cpu()))
    return found


class DetectionStep(Step):
    """Forward, the detection loss, backward, Adam step; the loss's parts are logged."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        self.model, self.optimizer = model, optimizer

    def __call__(self, batch):
        images, target = batch
        scores = detection_loss(self.model(images), target)
        self.optimizer.zero_grad(set_to_none=True)
        scores["loss"].backward()
        self.optimizer.step()
        scores["loss"] = scores["loss"].detach()
        return scores

    def evaluate(self, batch):
        images, target = batch
        return detection_loss(self.model(images), target)


def score(model, test, cfg: Config, device, nms_iou: float | None = None) -> dict:
    """mAP@0.5, the matched boxes' IoU, and the detections, on the test images."""
    output = predict(model, test.images.to(device)).cpu()
    found = decode(output, cfg.image_size, cfg.min_score, cfg.nms_iou if nms_iou is None else nms_iou)
    truths = [Detections(b[l >= 0], l[l >= 0]) for b, l in zip(test.boxes, test.labels)]
    result = mean_average_precision(found, truths, K, iou_threshold=0.5)
    result["detections"] = found
    return result


@lab(
    "object-detection",
    source="EE-559 7.3",
    summary="a YOLO-style grid detector on synthetic shapes with NMS: mAP@0.5 and IoU vs the untrained detector",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    S = cfg.image_size
    train_seed, test_seed = toy.data_seeds(ctx.seed)
    train = shapes(cfg.train_images, S, (1, cfg.objects), seed=train_seed)
    test = shapes(cfg.test_images, S, (1, cfg.objects), seed=test_seed)
    train_target = grid_targets(train.boxes, train.labels, S)
    test_target = grid_targets(test.boxes, test.labels, S)

    model = GridDetector().to(ctx.device)
    untrained = score(model, test, cfg, ctx.device)
    history = []
    if cfg.epochs:
        step = DetectionStep(model, torch.optim.Adam(model.parameters(), lr=cfg.lr))
        history = fit(
            step,
            (train.images, train_target),
            ctx,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            val=(test.images, test_target),
            val_name="test",
            callbacks=standard_callbacks(ctx, epoch_lines=False, checkpoints=False),
        )
    trained = score(model, test, cfg, ctx.device)
    no_nms = score(model, test, cfg, ctx.device, nms_iou=1.0)  # every cell's box above min_score

    ctx.save_figure(detections_figure(test, trained, untrained, cfg), "detections")
    ctx.save_figure(precision_figure(trained, no_nms), "ap_per_class")

    m = {
        "epochs": len(history),
        "image_size": S,
        "train_images": cfg.train_images,
        "test_images": cfg.test_images,
        "map50": trained["map"],
        "ap50": dict(zip(CLASSES, trained["ap"])),
        "matched_iou": trained["matched_iou"],
        "n_true": trained["n_true"],
        "n_matched": trained["n_matched"],
        "n_detections": trained["n_pred"],
        "untrained_map50": untrained["map"],
        "untrained_matched_iou": untrained["matched_iou"],
        "no_nms_map50": no_nms["map"],
        "no_nms_detections": no_nms["n_pred"],
        "train_loss": history[-1]["train_loss"] if history else None,
    }
    if history:
        line = (
            f"mAP@0.5 {m['map50']:.2f} (untrained {m['untrained_map50']:.2f}), matched boxes' IoU "
            f"{m['matched_iou']:.2f}; {m['n_matched']}/{m['n_true']} test shapes found; NMS kept "
            f"{m['n_detections']} of {m['no_nms_detections']} boxes (mAP without it {m['no_nms_map50']:.2f}); "
            f"{len(history)} epochs"
        )
    else:
        line = f"no training (--epochs 0): the untrained detector's mAP@0.5 is {m['map50']:.2f}"
    return Result(line, metrics=m)


def detections_figure(test, trained, untrained, cfg: Config, n: int = 12, min_shown: float = 0.5):
    """Test images with the detector's boxes (score >= 0.5; class and score) and the true
    boxes (dotted)."""
    cols = n // 2
    fig, axes = draw.grid(
        2,
        cols,
        cell=2.0,
        title=f"detections with score >= {min_shown} (solid, class and score) and true boxes (dotted); "
        f"mAP@0.5 {trained['map']:.2f}, untrained {untrained['map']:.2f}",
    )
    for i, ax in enumerate(axes.flat):
        d = trained["detections"][i]
        draw.show_image(ax, test.images[i])
        draw.draw_boxes(ax, test.boxes[i], test.labels[i], CLASSES, linestyle=":", text=False)
        shown = d.scores >= min_shown
        draw.draw_boxes(ax, d.boxes[shown], d.labels[shown], CLASSES, scores=d.scores[shown])
    extra = [draw.line_handle("detection"), draw.line_handle("true box", ":")]
    draw.class_legend(fig, CLASSES, boxes=True, extra=extra)
    return fig


def precision_figure(trained, no_nms):
    """AP@0.5 per class, with and without NMS."""
    from dlc.viz import plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = torch.arange(K).float()
    ax.bar(x - 0.2, [a if a == a else 0 for a in trained["ap"]], 0.4, label=f"with NMS ({trained['n_pred']} boxes)")
    ax.bar(x + 0.2, [a if a == a else 0 for a in no_nms["ap"]], 0.4, label=f"without NMS ({no_nms['n_pred']} boxes)")
    ax.set_xticks(x.tolist(), CLASSES)
    ax.set_xlabel("class")
    ax.set_ylabel("average precision at IoU 0.5")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"AP@0.5 per class: mAP {trained['map']:.2f} with NMS, {no_nms['map']:.2f} without")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def check(result: Result) -> list:
    """The trained detector finds the shapes (mAP@0.5, IoU), far better than untrained."""
    m = result.metrics
    if m["epochs"] == 0:
        return [verdict("untrained detector's mAP@0.5", m["map50"], "<", 0.2)]
    return [
        verdict("mAP@0.5", m["map50"], ">", 0.6),
        verdict("mAP@0.5 minus the untrained detector's", m["map50"] - m["untrained_map50"], ">", 0.4),
        verdict("mean IoU of the matched boxes", m["matched_iou"], ">", 0.6),
    ]


# -- exercises (`dlc exercise object-detection`, then `dlc check object-detection`) --------


def _objects(g: torch.Generator, n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The true boxes and labels of ``n`` synthetic images (boxes in float64)."""
    d = shapes(n, size, (1, 3), seed=int(torch.randint(2**31, (1,), generator=g)))
    return d.boxes.double(), d.labels


def _target_cases(g: torch.Generator) -> list[tuple]:
    edge = torch.tensor([[[0.0, 0.0, 16.0, 16.0], [20.0, 24.0, 32.0, 32.0]]], dtype=torch.float64)
    return [
        (*_objects(g, 4, 32), 32),
        (*_objects(g, 2, 48), 48),
        (edge, torch.tensor([[1, 2]]), 32),  # a centre on a cell's corner, a box touching the image's corner
    ]


def _loss_cases(g: torch.Generator) -> list[tuple]:
    out = []
    for n, size, empty in ((3, 32, False), (2, 24, False), (2, 16, True)):
        boxes, labels = _objects(g, n, size)
        if empty:
            labels = torch.full_like(labels, -1)  # no object in the batch
        target = grid_targets(boxes, labels, size).double()
        out.append((torch.randn(n, 1 + K + 4, size // CELL, size // CELL, generator=g, dtype=torch.float64), target))
    return out


TASKS = [
    Task(
        "grid_targets",
        hint="for each true object (label >= 0): its centre in cells, (corners' mean) / 8; the integer parts "
        "(clamped to G - 1) give the cell's column and row; write [1, class, offsets, width / S, height / S] there",
        cases=_target_cases,
    ),
    Task(
        "detection_loss",
        hint="objectness: F.binary_cross_entropy_with_logits over every cell; on the object cells (target[:, 0] "
        "> 0) F.cross_entropy of the class scores and 5 x F.l1_loss of sigmoid(box numbers); 0 for those two "
        "when no cell holds an object",
        cases=_loss_cases,
        grad=True,
    ),
    Task(
        "decode_grid",
        hint="score = sigmoid(objectness) x the largest softmax class probability; centre = (column or row + "
        "sigmoid of the offset) x 8, size = sigmoid x S; corners = centre -/+ size / 2, clamped to [0, S]",
        cases=lambda g: [
            (torch.randn(2, 1 + K + 4, 4, 4, generator=g, dtype=torch.float64), 32),
            (3 * torch.randn(1, 1 + K + 4, 2, 2, generator=g, dtype=torch.float64), 16),
        ],
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
