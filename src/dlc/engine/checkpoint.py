"""Checkpoint files: written atomically, read back safely, with every random state.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads
with ``torch.load(weights_only=True)``: loading a checkpoint never runs pickled code.
It is written to a temporary file in the same folder and renamed over the old one
(``os.replace`` is atomic), so a run killed while saving leaves the previous checkpoint
intact, never half a file.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlc.errors import DlcError
from dlc.io import write_atomic


def save(obj: dict, path: str | Path) -> Path:
    """Write ``obj`` to ``path`` atomically: killing the process at any moment leaves
    either the old or the new file. (No fsync: surviving a power cut is not the aim.)"""
    return write_atomic(path, lambda f: torch.save(obj, f))


def load(path: str | Path, map_location: Any = "cpu") -> dict:
    """Read a checkpoint written by :func:`save`, without executing any pickled code."""
    path = Path(path)
    if not path.is_file():
        raise DlcError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise DlcError(
            f"cannot read the checkpoint {path} ({type(e).__name__}: {e}); "
            f"it may be damaged: delete it to start that part again"
        ) from e


# -- random states ------------------------------------------------------------------
# numpy's state holds an ndarray, Python's a tuple of ints: both are converted to
# tensors and lists so that the checkpoint stays loadable with weights_only=True.


def rng_state() -> dict:
    """The random states of torch (CPU and CUDA), NumPy and Python."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def find(run_dir: str | Path) -> list[Path]:
    """The resumable ('last') checkpoints of a run folder."""
    d = Path(run_dir) / "checkpoints"
    return sorted(d.glob("*last*.pt")) if d.is_dir() else []


def resume_log_position(run_dir: str | Path) -> int:
    """How many metrics records the latest checkpoint of a run folder had seen (0: none)."""
    return max((int(load(p).get("log_position", 0)) for p in find(run_dir)), default=0)
