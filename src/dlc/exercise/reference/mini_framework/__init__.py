"""Mini-project 2 as a student's package: the framework's modules under the project's names.

dlc's framework is :mod:`dlc.scratch.modules` (modules with ``forward``, ``backward`` and
``param()``, no autograd); this package hands it in::

    dlc check mini-framework src/dlc/exercise/reference/mini_framework
"""

from dlc.scratch.modules import (
    SGD,
    Conv2d,
    Linear,
    LossMSE,
    NearestUpsampling,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    Upsampling,
)

__all__ = [
    "Linear",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "Sequential",
    "LossMSE",
    "SGD",
    "Conv2d",
    "NearestUpsampling",
    "Upsampling",
]
