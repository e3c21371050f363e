"""Deep fully-connected networks for the "going deeper" labs (EE-559 6.1-6.4).

    deep_mlp(1, 8, 6, 1)                                   # 1 -> 8 -> ... (6 hidden) -> 1, ReLU
    deep_mlp(784, 100, 10, 10, activation="sigmoid")       # a 10-hidden-layer sigmoid MLP
    deep_mlp(784, 100, 10, 10, batchnorm=True)             # Linear -> BatchNorm1d -> ReLU
    deep_mlp(784, 500, 2, 10, dropout=0.5)                 # Linear -> ReLU -> Dropout(0.5)

is a plain ``nn.Sequential``, so that ``model[i]`` is a layer a student can look at.
Beside it, what those labs measure on such a network:

- :func:`linear_layers`: its Linear layers, input to output;
- :func:`gradient_norms`: the norm of each Linear layer's weight gradient (6.2);
- :func:`activation_patterns`, :func:`count_pieces`: on a 1-D input, where the on/off
  pattern of the ReLUs changes, i.e. how many linear pieces the network's function has (6.1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dlc.errors import DlcError
from dlc.models.mlp import ACTIVATIONS

# the rectifiers of lecture 6.2 beside the classic saturating functions
DEEP_ACTIVATIONS = {**ACTIVATIONS, "elu": nn.ELU}


def deep_mlp(
    n_in: int,
    width: int,
    depth: int,
    n_out: int,
    activation: str = "relu",
    batchnorm: bool = False,
    dropout: float = 0.0,
) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units: ``[Linear -> (BatchNorm1d) -> act ->
    (Dropout)] x depth -> Linear``.

    batchnorm: a BatchNorm1d between each hidden Linear and its activation (Ioffe and
    Szegedy's place); the Linear keeps its bias (redundant with BN's shift, but then the
    plain and the BN nets differ only by the BN layers). dropout: the probability of
    zeroing a hidden unit during training (0: no Dropout layer).
    """
    for name, value, least in (("n_in", n_in, 1), ("width", width, 1), ("depth", depth, 1), ("n_out", n_out, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise DlcError(f"deep_mlp: {name} must be an integer >= {least}, got {value!r}")
    if activation not in DEEP_ACTIVATIONS:
        raise DlcError(f"deep_mlp: unknown activation {activation!r}; choose one of {sorted(DEEP_ACTIVATIONS)}")
    if not 0.0 <= dropout < 1.0:
        raise DlcError(f"deep_mlp: dropout must be in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    fan_in = n_in
    for _ in range(depth):
        layers.append(nn.Linear(fan_in, width))
        if batchnorm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(DEEP_ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        fan_in = width
    layers.append(nn.Linear(fan_in, n_out))
    return nn.Sequential(*layers)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's Linear layers in the order of ``model.modules()`` (input to output)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def gradient_norms(model: nn.Module) -> list[float]:
    """The L2 norm of each Linear layer's weight gradient (after a ``backward``), input
    layer first; a layer without a gradient yet counts 0."""
    return [0.0 if m.weight.grad is None else m.weight.grad.norm().item() for m in linear_layers(model)]


@torch.no_grad()
def activation_patterns(model: nn.Sequential, x: Tensor) -> Tensor:
    """For inputs ``x`` (N x D), which hidden ReLU units are on: an N x (units) bool tensor.

    Only for a Sequential of Linear and ReLU layers (a piecewise-linear network): inside
    one region of the input where the pattern does not change, the network is affine.
    """
    patterns = []
    h = x
    for layer in model:
        if not isinstance(layer, (nn.Linear, nn.ReLU)):
            raise DlcError(f"activation_patterns needs Linear and ReLU layers only, got {type(layer).__name__}")
        h = layer(h)
        if isinstance(layer, nn.ReLU):
            patterns.append(h > 0)
    if not patterns:
        return torch.zeros(len(x), 0, dtype=torch.bool, device=x.device)
    return torch.cat(patterns, 1)


def count_pieces(model: nn.Sequential, x: Tensor) -> int:
    """The number of linear pieces of a ReLU network on the sorted 1-D grid ``x`` (N x 1):
    one more than the number of grid steps where the activation pattern changes.

    This counts the pieces the grid resolves: two kinks closer than the grid step count as
    one. Two adjacent pieces with the same slope (a unit switching that does not bend the
    output) still count as two: it is the number of affine regions, an upper bound on the
    visible corners.
    """
    if x.dim() != 2 or x.shape[1] != 1:
        raise DlcError(f"count_pieces needs a grid of shape (N, 1), got {tuple(x.shape)}")
    if len(x) > 1 and not bool((x[1:] > x[:-1]).all()):
        raise DlcError("count_pieces needs a strictly increasing grid")
    p = activation_patterns(model, x)
    if len(x) < 2:
        return 1
    return int((p[1:] != p[:-1]).any(1).sum()) + 1
