"""Data augmentation on batches of image tensors (N x C x H x W), on any device.

Each function draws one random transformation per image from torch's random generator
(or ``generator``), so a seeded run augments the same way each time, and the engine's
checkpoints (which save the generator's state) resume it exactly. They are written for
whole batches: a per-image Python loop would cost more than the forward pass of a
small net.

>>> step = Supervised(model, opt, augment=lambda x: flip_crop(x, padding=4))
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dlc.errors import InvalidArgument


def _check_images(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise InvalidArgument(f"augmentation takes a batch of images N x C x H x W, got shape {tuple(x.shape)}")


def random_flip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``."""
    _check_images(x)
    flip = torch.rand(len(x), generator=generator, device=generator.device if generator else "cpu") < p
    flip = flip.to(x.device).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(3), x)


def random_crop(
    x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None, mode: str = "reflect"
) -> torch.Tensor:
    """Pad each image by ``padding`` pixels and take a random crop of its original size:
    a translation by up to ``padding`` pixels in each direction."""
    _check_images(x)
    if padding < 0:
        raise InvalidArgument(f"padding must be >= 0, got {padding}")
    if padding == 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4, mode=mode)
    dev = generator.device if generator else "cpu"
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev).to(x.device)
    # One gather for the whole batch: row and column indices per image.
    rows = (dy.view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1).expand(n, c, h, w + 2 * padding)
    out = padded.gather(2, rows)
    cols = (dx.view(n, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w).expand(n, c, h, w)
    return out.gather(3, cols)


def random_rotation(x: torch.Tensor, degrees: float = 10.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate each image about its centre by an angle drawn uniformly in
    [-degrees, degrees] (bilinear; the corners brought in are filled with the border)."""
    _check_images(x)
    if not (math.isfinite(degrees) and degrees >= 0):
        raise InvalidArgument(f"degrees must be a finite number >= 0, got {degrees}")
    dev = generator.device if generator else "cpu"
    angle = (torch.rand(len(x), generator=generator, device=dev) * 2 - 1).to(x.device) * math.radians(degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def flip_crop(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """The standard CIFAR-10 augmentation: a random left-right flip, then a random
    translation by up to ``padding`` pixels."""
    return random_crop(random_flip(x, generator=generator), padding, generator=generator)


def random_erase(
    x: torch.Tensor,
    size: int,
    p: float = 0.5,
    value: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Cutout / random erasing: with probability ``p``, set a ``size`` x ``size`` square of
    each image (all channels) to ``value``; the square's centre is drawn anywhere in the
    image, so it may hang over the border and cover less. The network cannot lean on any
    one part of the object (a collar, a heel): each part is sometimes missing.

    For normalised images ``value`` 0 is the data's mean."""
    _check_images(x)
    if size < 0:
        raise InvalidArgument(f"size must be >= 0 pixels, got {size}")
    if not 0 <= p <= 1:
        raise InvalidArgument(f"p must be a probability in [0, 1], got {p}")
    if size == 0 or p == 0:
        return x
    n, _, h, w = x.shape
    dev = generator.device if generator else "cpu"
    cy = torch.randint(0, h, (n,), generator=generator, device=dev).to(x.device).view(n, 1, 1, 1)
    cx = torch.randint(0, w, (n,), generator=generator, device=dev).to(x.device).view(n, 1, 1, 1)
    erase = (torch.rand(n, generator=generator, device=dev) < p).to(x.device).view(n, 1, 1, 1)
    top, left = cy - size // 2, cx - size // 2
    rows = torch.arange(h, device=x.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, 1, w)
    inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size) & erase
    return x.masked_fill(inside, value)
