"""Synthetic shapes: seeded images of squares, circles and triangles, with everything
the computer-vision tasks of EE-559 chapter 7 need as targets.

>>> s = shapes(100, size=64, objects=(1, 3), seed=0)
>>> s.images.shape, s.masks.shape, s.boxes.shape, s.labels.shape
(torch.Size([100, 3, 64, 64]), torch.Size([100, 64, 64]), torch.Size([100, 3, 4]), torch.Size([100, 3]))

Each image has a noisy background of a random dark colour and between ``objects[0]`` and
``objects[1]`` filled shapes of random size, position and bright colour, placed so that
their boxes do not overlap. The class of a shape is its geometry, never its colour, so
a model must look at the outline. Per image:

- ``labels``: the class of each object (``CLASSES[k]``), -1 in the unused slots;
- ``boxes``: each object's tight box ``(x0, y0, x1, y1)`` in pixels (x1, y1 exclusive:
  the box covers columns x0 .. x1 - 1), zeros in the unused slots;
- ``masks``: the class of each pixel, 0 for background and ``1 + k`` for class k (the
  semantic segmentation target); ``instances`` numbers the objects instead (1, 2, ...);
- ``counts``: how many objects the image holds.

The same seed gives the same set; the global random state is not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlc.errors import InvalidArgument

CLASSES = ("square", "circle", "triangle")


@dataclass
class Shapes:
    images: torch.Tensor  # float32 N x 3 x H x W, values in [0, 1]
    masks: torch.Tensor  # int64 N x H x W: 0 background, 1 + class
    instances: torch.Tensor  # int64 N x H x W: 0 background, 1 + object slot
    boxes: torch.Tensor  # float32 N x K x 4 (x0, y0, x1, y1), zeros where no object
    labels: torch.Tensor  # int64 N x K, -1 where no object
    counts: torch.Tensor  # int64 N

    classes = CLASSES

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> Shapes:
        """A subset (an index, slice or index tensor), as a Shapes of its own."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Shapes(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


def _disjoint(box: tuple[float, ...], others: list[tuple[float, ...]], gap: float) -> bool:
    x0, y0, x1, y1 = box
    return all(x1 + gap <= a0 or a1 + gap <= x0 or y1 + gap <= b0 or b1 + gap <= y0 for a0, b0, a1, b1 in others)


def shapes(
    n: int,
    size: int = 64,
    objects: tuple[int, int] = (1, 3),
    scale: tuple[float, float] = (0.12, 0.25),
    noise: float = 0.05,
    seed: int = 0,
) -> Shapes:
    """``n`` images of ``size`` x ``size`` pixels, each with ``objects[0]`` to ``objects[1]``
    shapes of half-size ``scale`` (fractions of the side), Gaussian pixel noise of std ``noise``."""
    lo, hi = objects
    if n < 0 or size < 8:
        raise InvalidArgument(f"shapes: need n >= 0 and size >= 8, got n={n}, size={size}")
    if not 0 <= lo <= hi or hi < 1:
        raise InvalidArgument(f"shapes: objects must be (min, max) with 0 <= min <= max and max >= 1, got {objects}")
    if not 0 < scale[0] <= scale[1] < 0.5:
        raise InvalidArgument(f"shapes: scale must be (min, max) with 0 < min <= max < 0.5, got {scale}")
    if not noise >= 0:
        raise InvalidArgument(f"shapes: noise must be >= 0, got {noise}")
    g = torch.Generator().manual_seed(seed)
    tries = 30
    # Every random number is drawn up front, as whole tensors; the Python loop below only
    # decides which candidate shapes fit (their boxes must not overlap) and is cheap.
    wanted = torch.randint(lo, hi + 1, (n,), generator=g).tolist()
    kinds = torch.randint(0, len(CLASSES), (n, tries), generator=g)
    radii = (scale[0] + (scale[1] - scale[0]) * torch.rand(n, tries, generator=g)) * size
    centres = torch.rand(n, tries, 2, generator=g) * (size - 2 * radii.unsqueeze(2)) + radii.unsqueeze(2)
    colours = 0.55 + 0.45 * torch.rand(n, tries, 3, generator=g)
    background = torch.rand(n, 3, 1, 1, generator=g) * 0.35
    pixel_noise = noise * torch.randn(n, 3, size, size, generator=g)

    chosen: list[tuple[int, int, int]] = []  # (image, slot, candidate)
    counts = torch.zeros(n, dtype=torch.int64)
    boxes_as_lists, radii_l, centres_l = [], radii.tolist(), centres.tolist()
    for i in range(n):
        placed: list[tuple[float, ...]] = []
        for t in range(tries):
            if len(placed) == wanted[i]:
                break
            r, (cx, cy) = radii_l[i][t], centres_l[i][t]
            box = (cx - r, cy - r, cx + r, cy + r)
            if _disjoint(box, placed, gap=2.0):
                chosen.append((i, len(placed), t))
                placed.append(box)
        counts[i] = len(placed)
        boxes_as_lists.append(placed)

    masks = torch.zeros(n, size, size, dtype=torch.int64)
    instances = torch.zeros_like(masks)
    boxes = torch.zeros(n, hi, 4)
    labels = torch.full((n, hi), -1, dtype=torch.int64)
    images = background.expand(n, 3, size, size).clone()
    if chosen:
        img, slot, cand = (torch.tensor(c) for c in zip(*chosen))
        kind, r = kinds[img, cand], radii[img, cand].view(-1, 1, 1)
        cx, cy = centres[img, cand, 0].view(-1, 1, 1), centres[img, cand, 1].view(-1, 1, 1)
        coords = torch.arange(size, dtype=torch.float32) + 0.5  # pixel centres
        dx, dy = coords.view(1, 1, -1) - cx, coords.view(1, -1, 1) - cy
        square = (dx.abs() <= r) & (dy.abs() <= r)
        circle = dx * dx + dy * dy <= r * r
        triangle = (dy <= r) & (dx.abs() <= (dy + r) / 2)  # apex up, base of width 2r
        inside = torch.where(kind.view(-1, 1, 1) == 0, square, torch.where(kind.view(-1, 1, 1) == 1, circle, triangle))
        # One pass per slot: a slot holds at most one object of each image.
        for k in range(hi):
            at = slot == k
            i, m = img[at], inside[at]
            masks[i] = torch.where(m, (kind[at] + 1).view(-1, 1, 1), masks[i])
            instances[i] = torch.where(m, k + 1, instances[i])
            images[i] = torch.where(m.unsqueeze(1), colours[i, cand[at]].view(-1, 3, 1, 1), images[i])
        rows, cols = inside.any(2), inside.any(1)  # which rows / columns each object touches
        first = lambda m: m.float().argmax(1)
        last = lambda m: m.shape[1] - 1 - m.flip(1).float().argmax(1)
        boxes[img, slot] = torch.stack([first(cols), first(rows), last(cols) + 1, last(rows) + 1], 1).float()
        labels[img, slot] = kind
    return Shapes((images + pixel_noise).clamp_(0, 1), masks, instances, boxes, labels, counts)
