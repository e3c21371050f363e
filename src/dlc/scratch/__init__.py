"""A deep-learning framework from scratch, on torch tensors without torch.autograd.

Two layers, both checked against PyTorch in the tests:

- :mod:`dlc.scratch.modules`: the mini-project's design, modules with an explicit
  ``forward``, ``backward`` and ``param()`` (no tape at all);
- :class:`Tensor` (a tape-based autograd, micrograd on tensors), with
  :mod:`dlc.scratch.functional`, :mod:`dlc.scratch.nn` and :mod:`dlc.scratch.optim`
  on top, shaped like their torch namesakes.
"""

from dlc.scratch import functional, nn, optim
from dlc.scratch.tensor import (
    DeviceError,
    GradError,
    ShapeError,
    Tensor,
    cat,
    format_tape,
    is_grad_enabled,
    no_grad,
    stack,
    tensor,
    unbroadcast,
)

__all__ = [
    "Tensor",
    "tensor",
    "cat",
    "stack",
    "no_grad",
    "is_grad_enabled",
    "format_tape",
    "unbroadcast",
    "ShapeError",
    "DeviceError",
    "GradError",
    "functional",
    "nn",
    "optim",
]
