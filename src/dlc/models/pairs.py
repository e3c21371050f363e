"""Convnets for mini-project 1: is the first of two 14 x 14 digits <= the second?

An input is a pair of digits stacked as two channels, ``(N, 2, 14, 14)``. Three ideas
are compared:

- :class:`PairConvNet`, the plain baseline: one convnet that sees both digits as the
  two channels of one image (~70,000 parameters, the size the project statement names)
  and outputs the two logits of "first <= second".
- :class:`DigitPairNet` with ``share=True``: *weight sharing*. The same digit network
  reads each digit on its own (a siamese network), and a small comparison network
  decides from the two digit outputs. Both digits are the same kind of object, so one
  set of weights can learn from 2N digit images instead of N pairs.
- The same with *auxiliary losses*: the digit network's 10 outputs are also trained to
  classify each digit (the data come with the digit classes), a signal far richer
  than one bit per pair. The loss is in :func:`pair_loss`.

``DigitPairNet(share=False)`` has two separate digit networks, to measure the auxiliary
loss without the sharing. Every model returns ``(pair_logits (N, 2), digit_logits)``
where ``digit_logits`` is ``(N, 2, 10)``, or None for the baseline, which has no
per-digit output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlc.errors import DlcError


def _check_pairs(x: Tensor) -> None:
    if x.dim() != 4 or tuple(x.shape[1:]) != (2, 14, 14):
        raise DlcError(
            f"digit-pair models expect inputs of shape (N, 2, 14, 14), "
            f"got {tuple(x.shape)}; use dlc.prologue.generate_pair_sets"
        )


def _features(in_channels: int) -> nn.Sequential:
    """14 x 14 -> conv 5x5 -> 10 x 10 -> max-pool 2 -> 5 x 5 -> conv 3x3 -> 3 x 3 -> 288 features.

    Few multiply-adds for its ~70,000 parameters (most sit in the first fully-connected
    layer): the project's point is to compare ideas over many rounds, so a training
    must take seconds on a CPU.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, kernel_size=5),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3),
        nn.ReLU(),
        nn.Flatten(),
    )


def _channels_last(model: nn.Module) -> nn.Module:
    # Small convolutions run 1.4-1.8x faster on CPU (oneDNN) with channels-last tensors;
    # the results are the same, only the memory layout differs.
    return model.to(memory_format=torch.channels_last)


class PairConvNet(nn.Module):
    """The baseline: both digits as the two channels of one image -> 2 logits.

    conv 2->16 (5x5) -> pool -> conv 16->32 (3x3) -> fc 288->hidden -> fc hidden->2;
    69,478 parameters with ``hidden=220``.
    """

    def __init__(self, hidden: int = 220):
        super().__init__()
        self.features = _features(2)
        self.classifier = nn.Sequential(nn.Linear(288, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        _channels_last(self)

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        _check_pairs(x)
        x = x.contiguous(memory_format=torch.channels_last)
        return self.classifier(self.features(x)), None


class DigitNet(nn.Module):
    """One 1 x 14 x 14 digit -> 10 digit logits (the same trunk as the baseline)."""

    def __init__(self, hidden: int = 220):
        super().__init__()
        self.features = _features(1)
        self.classifier = nn.Sequential(nn.Linear(288, hidden), nn.ReLU(), nn.Linear(hidden, 10))
        _channels_last(self)

    def forward(self, x: Tensor) -> Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        return self.classifier(self.features(x))


class DigitPairNet(nn.Module):
    """Each digit through a digit network, then a comparison of the two 10-vectors.

    ``share=True``: one digit network for both digits (weight sharing); run once on the
    2N digits of the batch. ``share=False``: one network per position.
    """

    def __init__(self, share: bool = True, hidden: int = 220, compare_hidden: int = 64):
        super().__init__()
        self.share = share
        self.first = DigitNet(hidden)
        self.second = self.first if share else DigitNet(hidden)
        self.compare = nn.Sequential(nn.Linear(20, compare_hidden), nn.ReLU(), nn.Linear(compare_hidden, 2))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        _check_pairs(x)
        n = x.shape[0]
        if self.share:
            digits = self.first(x.reshape(2 * n, 1, 14, 14)).view(n, 2, 10)
        else:
            digits = torch.stack((self.first(x[:, :1]), self.second(x[:, 1:])), dim=1)
        # The comparison sees the digit networks' outputs as the auxiliary loss shapes them.
        return self.compare(digits.flatten(1)), digits


def pair_loss(
    outputs: tuple[Tensor, Tensor | None], target: Tensor, classes: Tensor | None = None, aux_weight: float = 0.0
) -> Tensor:
    """Cross-entropy on "first <= second", plus ``aux_weight`` x the digit cross-entropy.

    ``classes`` (N x 2) are the two digits' classes; needed when ``aux_weight > 0``.
    """
    pair_logits, digit_logits = outputs
    loss = F.cross_entropy(pair_logits, target)
    if aux_weight:
        if digit_logits is None or classes is None:
            raise DlcError(
                "an auxiliary digit loss needs a model with digit outputs (DigitPairNet) and the digit classes"
            )
        loss = loss + aux_weight * F.cross_entropy(digit_logits.reshape(-1, 10), classes.reshape(-1))
    return loss


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, each shared tensor counted once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
