"""Normalising flows built from affine coupling layers (RealNVP, Dinh et al. 2017; EE-559 9.4).

A flow is an invertible map ``f`` from the data ``x`` to a latent ``z = f(x)`` whose
density is a standard normal. The change of variables gives the data's density::

    log p(x) = log N(f(x); 0, I) + log |det J_f(x)|

An affine coupling layer keeps the coordinates where the binary mask ``b`` is 1 and
moves the others by an affine map whose scale and shift depend only on the kept ones::

    y = b * x + (1 - b) * (x * exp(s(b * x)) + t(b * x))

Its Jacobian is triangular (after a permutation), with ``exp(s)`` on the diagonal where
``b`` is 0 and 1 where it is 1, so ``log |det J| = sum((1 - b) * s(b * x))``: no
determinant is ever computed, yet ``s`` and ``t`` can be any networks. The inverse is as
cheap: ``x = b * y + (1 - b) * (y - t(b * y)) * exp(-s(b * y))`` (``b * y = b * x``).

Shapes: a flow works on ``N x D`` (vectors) or any ``N x ...`` layout its masks
broadcast to; every layer returns ``(y, logdet)`` with ``logdet`` of shape ``N``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from dlc.errors import InvalidArgument

LOG_2PI = math.log(2 * math.pi)


class MLP2(nn.Module):
    """The networks ``s`` and ``t`` of a coupling layer on vectors: one MLP with two
    outputs of size ``dim`` each. ``s`` goes through a tanh, so each layer scales by at
    most e in either direction (the flow is deep; this keeps the first steps tame)."""

    def __init__(self, dim: int, hidden: int, layers: int = 2):
        super().__init__()
        mods: list[nn.Module] = []
        width = dim
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        mods.append(nn.Linear(width, 2 * dim))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x).chunk(2, dim=1)
        return torch.tanh(s), t


class ConvST(nn.Module):
    """The networks ``s`` and ``t`` of a coupling layer on ``N x C x H x W`` images: a small
    convnet (``kernel`` x ``kernel`` convolution to ``hidden`` channels, ReLU, 3 x 3 convolution
    to ``2 C``) that also sees the mask, so it knows which pixels it is given. Weights are
    shared over positions, as in RealNVP, which generalises far better than an MLP on a
    thousand images."""

    def __init__(self, mask: torch.Tensor, channels: int = 1, hidden: int = 16, kernel: int = 5):
        super().__init__()
        self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.get_default_dtype()).expand(1, channels, -1, -1))
        self.net = nn.Sequential(
            nn.Conv2d(2 * channels, hidden, kernel, padding=kernel // 2),
            nn.ReLU(),
            nn.Conv2d(hidden, 2 * channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(torch.cat([x, self.mask.expand_as(x)], 1)).chunk(2, dim=1)
        return torch.tanh(s), t


class AffineCoupling(nn.Module):
    """``y = b x + (1 - b)(x exp(s(b x)) + t(b x))``; ``st`` maps ``b x`` to ``(s, t)``,
    each the shape of ``x``; ``mask`` (0/1, broadcast to one sample's shape) is ``b``."""

    def __init__(self, mask: torch.Tensor, st: nn.Module):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.get_default_dtype())
        if not ((mask == 0) | (mask == 1)).all():
            raise InvalidArgument("a coupling mask holds only 0s and 1s")
        if mask.all() or not mask.any():
            raise InvalidArgument("a coupling mask must keep some coordinates and move the others (mixed 0s and 1s)")
        self.register_buffer("mask", mask.unsqueeze(0))
        self.st = st

    def _st(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.st(kept)
        moved = 1 - self.mask
        return s * moved, t * moved  # s = t = 0 where b = 1: those coordinates pass unchanged

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._st(self.mask * x)
        y = x * torch.exp(s) + t
        return y, s.flatten(1).sum(1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        s, t = self._st(self.mask * y)
        return (y - t) * torch.exp(-s)


class ElementwiseAffine(nn.Module):
    """``y = (x - shift) / scale`` per coordinate, fixed (buffers): e.g. a standardisation
    by the training set's mean and standard deviation. ``log |det J| = -sum(log scale)``."""

    def __init__(self, shift: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        if shift.shape != scale.shape:
            raise InvalidArgument(f"shift {tuple(shift.shape)} and scale {tuple(scale.shape)} differ in shape")
        if not (scale > 0).all():
            raise InvalidArgument("every scale must be positive")
        self.register_buffer("shift", shift.unsqueeze(0).clone())
        self.register_buffer("scale", scale.unsqueeze(0).clone())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = (x - self.shift) / self.scale
        return y, (-self.scale.log().flatten(1).sum(1)).expand(len(x))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.scale + self.shift


class Flow(nn.Module):
    """A stack of invertible layers with a standard-normal base density.

    ``forward(x) -> (z, logdet)``; ``inverse(z) -> x``; ``log_prob(x)`` in nats per sample;
    ``sample(n)`` draws ``z ~ N(0, I)`` (scaled by ``temperature``) and inverts it.
    """

    def __init__(self, layers: Sequence[nn.Module], shape: Sequence[int]):
        super().__init__()
        if not layers:
            raise InvalidArgument("a flow needs at least one layer")
        self.layers = nn.ModuleList(layers)
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = torch.zeros(len(x), dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z, logdet = self(x)
        z = z.flatten(1)
        return -0.5 * (z.pow(2).sum(1) + z.shape[1] * LOG_2PI) + logdet

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        p = next(self.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
        z = torch.randn((n, *self.shape), generator=generator).to(device) * temperature
        return self.inverse(z)


def alternating_masks(dim: int, count: int) -> list[torch.Tensor]:
    """Masks for vectors of size ``dim``: the first half kept, then the second, alternately
    (for ``dim = 2``: keep x1 and move x2, then the reverse)."""
    if dim < 2:
        raise InvalidArgument(f"a coupling needs at least 2 coordinates, got dim={dim}")
    first = (torch.arange(dim) < dim // 2).float()
    return [first if k % 2 == 0 else 1 - first for k in range(count)]


def image_masks(height: int, width: int, count: int) -> list[torch.Tensor]:
    """Masks for ``1 x height x width`` images, as in RealNVP: a checkerboard, its
    complement, then the top half and the bottom half (so that distant pixels meet
    sooner), and around again; each pair of layers moves every pixel once."""
    i = torch.arange(height).unsqueeze(1)
    j = torch.arange(width).unsqueeze(0)
    board = ((i + j) % 2 == 0).float()
    top = (i < height // 2).float().expand(height, width)
    cycle = [board, 1 - board, top, 1 - top]
    return [cycle[k % 4].unsqueeze(0) for k in range(count)]


def coupling_flow(dim: int, layers: int, hidden: int, masks: Sequence[torch.Tensor] | None = None) -> Flow:
    """A RealNVP-style flow on ``N x dim`` vectors: ``layers`` affine couplings whose
    ``s, t`` are MLPs with two hidden layers of ``hidden`` units; masks alternate halves
    unless given."""
    if layers < 1 or hidden < 1:
        raise InvalidArgument(f"layers and hidden must be >= 1, got {layers} and {hidden}")
    masks = list(masks) if masks is not None else alternating_masks(dim, layers)
    if len(masks) != layers:
        raise InvalidArgument(f"{layers} layers need {layers} masks, got {len(masks)}")
    return Flow([AffineCoupling(m, MLP2(dim, hidden)) for m in masks], (dim,))


def conv_flow(height: int, width: int, layers: int, hidden: int, kernel: int = 5) -> Flow:
    """A RealNVP-style flow on ``N x 1 x height x width`` images: ``layers`` affine couplings
    with the masks of :func:`image_masks` and the convnets of :class:`ConvST`."""
    if layers < 1 or hidden < 1:
        raise InvalidArgument(f"layers and hidden must be >= 1, got {layers} and {hidden}")
    masks = image_masks(height, width, layers)
    return Flow([AffineCoupling(m, ConvST(m, 1, hidden, kernel)) for m in masks], (1, height, width))


def brute_force_logdet(flow: Flow, x: torch.Tensor) -> torch.Tensor:
    """``log |det J_f(x_i)|`` for each row of ``x`` (``N x D``), from the full Jacobian
    that autograd builds (D backward passes) and ``slogdet``: the check of ``forward``'s
    logdet. Use float64."""
    out = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda v: flow(v.unsqueeze(0))[0].flatten(), xi, vectorize=True)
        out.append(torch.linalg.slogdet(jac.reshape(xi.numel(), xi.numel()))[1])
    return torch.stack(out)
