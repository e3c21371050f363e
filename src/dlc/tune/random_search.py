"""Random search (Bergstra and Bengio 2012), the baseline Hyperband is measured against.

Draw configurations at random and train each for the full ``R`` epochs, as many as
the budget pays for. Hyperband's bracket ``s = 0`` is exactly this; the other brackets
spend the same money on many more configurations, stopped early.
"""

from __future__ import annotations

import random

from dlc.errors import DlcError
from dlc.tune.hyperband import Evaluate, SampleConfig, SearchResult, _as_rng, _Tracker


def random_search(
    sample_config: SampleConfig,
    evaluate: Evaluate,
    R: int,
    budget: int,
    *,
    rng: random.Random | int | None = None,
    keep_best_state: bool = True,
) -> SearchResult:
    """Random search at a given budget: fresh configurations, each trained ``R`` epochs,
    as many as ``budget`` (epochs in total) pays for in full.

    Give it ``hyperband(...).budget`` (or :func:`schedule_budget`) to compare the two at
    equal cost.
    """
    if isinstance(R, bool) or not isinstance(R, int) or R < 1:
        raise DlcError(f"random search's resource R must be a positive integer, got {R!r}")
    rng = _as_rng(rng)
    track = _Tracker(evaluate, keep_best_state)
    for trial in range(int(budget) // R):
        track(trial, sample_config(rng), -1, 0, R, None, 0)
    return track.result()
