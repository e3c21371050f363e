"""The engine: run contexts, the training loop and its steps, callbacks, processes.

Names are imported on first use, so that ``dlc runs`` (which only reads run folders)
starts without loading torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "RunContext": "dlc.engine.context",
    "pick_device": "dlc.engine.context",
    "seed_everything": "dlc.engine.context",
    "fit": "dlc.engine.loop",
    "evaluate": "dlc.engine.loop",
    "predict": "dlc.engine.loop",
    "Step": "dlc.engine.steps",
    "Supervised": "dlc.engine.steps",
    "Callback": "dlc.engine.callbacks",
    "standard_callbacks": "dlc.engine.callbacks",
    "EarlyStopping": "dlc.engine.callbacks",
    "LRSchedule": "dlc.engine.callbacks",
    "TimeLimit": "dlc.engine.callbacks",
    "Checkpoint": "dlc.engine.callbacks",
    "MetricsLogger": "dlc.engine.callbacks",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'dlc.engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
