"""Small pieces several labs share. Not a lab: the catalogue skips modules named ``_*``."""

from __future__ import annotations

import torch

from dlc.engine.callbacks import ProgressBar
from dlc.errors import DlcError


def check_val_fraction(val_fraction: float) -> None:
    """Refuse a validation fraction that leaves nothing to train or to validate on."""
    if not 0 < val_fraction < 1:
        raise DlcError(f"val_fraction must be between 0 and 1 (e.g. 0.2), got {val_fraction}")


def split(x: torch.Tensor, y: torch.Tensor, val_fraction: float, seed: int):
    """A seeded random (train, validation) split of one set: ((x, y), (x_val, y_val))."""
    check_val_fraction(val_fraction)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed)).to(x.device)
    n_val = max(1, int(len(x) * val_fraction))
    return (x[order[n_val:]], y[order[n_val:]]), (x[order[:n_val]], y[order[:n_val]])


def quiet_bar(ctx) -> list:
    """The callbacks for a progress bar without a line per epoch, for fits whose epochs
    are single full-batch steps (none when the run is quiet)."""
    return [] if ctx.quiet else [ProgressBar(epoch_lines=False)]
