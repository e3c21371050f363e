"""Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh and Talwalkar, JMLR 2018).

Hyperband asks two things of the problem: a way to draw a random configuration
(``sample_config(rng) -> dict``) and a way to train a configuration with a given
amount of *resource* and report its validation loss (``evaluate``). Here the
resource is a number of training epochs.

It hedges over one unknown: how early can a bad configuration be recognised?
Each *bracket* ``s`` spends about the same budget ``(s_max + 1) R`` differently:

- ``s = s_max`` draws many configurations, trains each for ``R / eta^s_max`` epochs,
  keeps the best ``1/eta`` of them, trains those ``eta`` times longer, and so on
  (successive halving): aggressive early stopping;
- ``s = 0`` draws a few configurations and trains each for the full ``R``: plain
  random search.

With ``s_max = floor(log_eta R)``, bracket ``s`` starts ``n = ceil((s_max+1)/(s+1) eta^s)``
configurations at ``r = R eta^-s`` epochs; its rung ``i`` evaluates
``n_i = floor(n eta^-i)`` of them at ``r_i = r eta^i`` epochs. For ``R = 81, eta = 3``
this is Table 1 of the paper (the EDHEC slide's copy of that table rounds some
counts differently; the numbers here follow the formula, as the paper's table does).

Resuming or retraining
----------------------
``evaluate(config, resource, state) -> (loss, state)`` is told the *total* number of
epochs the configuration must have been trained for when it returns. When a
configuration is promoted to the next rung, Hyperband hands back the ``state`` that
the previous call returned (``resume=True``, the default), so the callback can
continue training from ``r_{i-1}`` to ``r_i`` epochs instead of starting again:
training by epochs is naturally resumable, a resumed run with a constant learning
rate is the same computation as a fresh one of ``r_i`` epochs, and it saves the
``r_{i-1}`` epochs already paid for. With ``resume=False`` every call gets
``state=None`` and trains from scratch, as the paper's analysis assumes (use it when
the training depends on its total length, e.g. a schedule annealed to ``r_i``).
The budget counts what is actually trained: ``r_i - r_{i-1}`` per promoted
configuration when resuming, ``r_i`` otherwise.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from dlc.errors import DlcError

SampleConfig = Callable[[random.Random], dict]
Evaluate = Callable[[dict, int, Any], "tuple[float, Any]"]


# -- the schedule -----------------------------------------------------------------


def _check(R: int, eta: int) -> None:
    if isinstance(R, bool) or not isinstance(R, int) or R < 1:
        raise DlcError(f"Hyperband's maximum resource R must be a positive integer (epochs), got {R!r}")
    if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
        raise DlcError(f"Hyperband's eta must be an integer >= 2 (the paper uses 3), got {eta!r}")


def max_bracket(R: int, eta: int = 3) -> int:
    """``s_max = floor(log_eta R)``, computed with integers (no floating-point log)."""
    _check(R, eta)
    s = 0
    while eta ** (s + 1) <= R:
        s += 1
    return s


def bracket_schedule(R: int, eta: int = 3, s: int | None = None) -> list[tuple[int, int]]:
    """The successive-halving rungs ``[(n_0, r_0), ..., (n_s, r_s)]`` of bracket ``s``.

    ``r_i = R eta^(i-s)`` is rounded to whole epochs (at least 1) when ``R`` is not a
    power of ``eta``; for powers of ``eta`` it is exact.
    """
    s_max = max_bracket(R, eta)
    s = s_max if s is None else s
    if not 0 <= s <= s_max:
        raise DlcError(f"bracket s must be in 0..{s_max} for R={R}, eta={eta}, got {s}")
    n = -(-((s_max + 1) * eta**s) // (s + 1))  # ceil((s_max+1)/(s+1) * eta^s)
    rungs = []
    for i in range(s + 1):
        n_i = n // eta**i  # floor(n eta^-i)
        r_i = max(1, math.floor(Fraction(R * eta**i, eta**s) + Fraction(1, 2)))
        rungs.append((n_i, r_i))
    return rungs


def hyperband_schedule(R: int, eta: int = 3) -> dict[int, list[tuple[int, int]]]:
    """Every bracket's rungs, from ``s_max`` down to 0 (the order Hyperband runs them)."""
    return {s: bracket_schedule(R, eta, s) for s in range(max_bracket(R, eta), -1, -1)}


def schedule_budget(R: int, eta: int = 3, resume: bool = True) -> int:
    """Epochs Hyperband trains in total, as :func:`hyperband` counts them."""
    total = 0
    for rungs in hyperband_schedule(R, eta).values():
        previous = 0
        for n_i, r_i in rungs:
            total += n_i * (r_i - previous if resume else r_i)
            previous = r_i
    return total


def format_schedule(R: int, eta: int = 3) -> str:
    """The schedule as the paper's table: one row per rung i, (n_i, r_i) per bracket s."""
    schedule = hyperband_schedule(R, eta)
    brackets = list(schedule)
    head = "  i | " + " | ".join(f"s={s:<2d}  n_i   r_i" for s in brackets)
    lines = [f"Hyperband schedule, R={R}, eta={eta}", head, "-" * len(head)]
    for i in range(max(brackets) + 1):
        cells = []
        for s in brackets:
            rungs = schedule[s]
            cells.append(f"{'':5}{rungs[i][0]:4d} {rungs[i][1]:5d}" if i < len(rungs) else " " * 15)
        lines.append(f"{i:3d} | " + " | ".join(cells))
    return "\n".join(lines)


# -- the search -------------------------------------------------------------------


@dataclass
class Evaluation:
    """One call of ``evaluate``: which configuration, where in the search, what it cost."""

    trial: int  # configuration number, in the order they were drawn
    config: dict
    bracket: int  # s (-1 for random search)
    rung: int  # i
    resource: int  # total epochs the configuration has been trained for
    loss: float
    cost: int  # epochs this call trained


@dataclass
class SearchResult:
    """The winner (the smallest loss seen, as in the paper's line 11) and the full record."""

    best_config: dict
    best_loss: float
    best_resource: int
    best_trial: int
    best_state: Any
    evaluations: list[Evaluation] = field(default_factory=list)

    @property
    def budget(self) -> int:
        """Epochs trained in total."""
        return sum(e.cost for e in self.evaluations)

    @property
    def n_configs(self) -> int:
        return len({e.trial for e in self.evaluations})


def _as_rng(rng: random.Random | int | None) -> random.Random:
    return rng if isinstance(rng, random.Random) else random.Random(rng)


def _key(loss: float) -> float:
    """Sort key: a diverged run (NaN or inf loss) ranks last."""
    return loss if math.isfinite(loss) else math.inf


class _Tracker:
    """Records evaluations and keeps the best one; shared by Hyperband and random search."""

    def __init__(self, evaluate: Evaluate, keep_best_state: bool):
        self.evaluate, self.keep_best_state = evaluate, keep_best_state
        self.evaluations: list[Evaluation] = []
        self.best: tuple[float, Evaluation, Any] | None = None

    def __call__(
        self, trial: int, config: dict, bracket: int, rung: int, resource: int, state: Any, done: int
    ) -> tuple[float, Any]:
        loss, state = self.evaluate(config, resource, state)
        loss = float(loss)
        ev = Evaluation(trial, config, bracket, rung, resource, loss, resource - done)
        self.evaluations.append(ev)
        if self.best is None or _key(loss) < _key(self.best[0]):
            # Copy: a promoted configuration's state is trained further in place.
            kept = copy.deepcopy(state) if self.keep_best_state else None
            self.best = (loss, ev, kept)
        return loss, state

    def result(self) -> SearchResult:
        if self.best is None:
            raise DlcError(
                "the search evaluated no configuration: the budget is smaller "
                "than one full training (R epochs); raise the budget or lower R"
            )
        loss, ev, state = self.best
        return SearchResult(ev.config, loss, ev.resource, ev.trial, state, self.evaluations)


def hyperband(
    sample_config: SampleConfig,
    evaluate: Evaluate,
    R: int,
    eta: int = 3,
    *,
    rng: random.Random | int | None = None,
    resume: bool = True,
    keep_best_state: bool = True,
) -> SearchResult:
    """Run Hyperband (Algorithm 1 of Li et al. 2018) and return the best configuration.

    Args:
        sample_config: ``rng -> config dict``, one random configuration per call.
        evaluate: ``(config, resource, state) -> (validation loss, state)``; ``resource``
            is the total number of epochs the configuration must have been trained for;
            ``state`` is None for a fresh configuration, else (``resume=True``) what the
            previous call for this configuration returned.
        R: the most epochs any configuration is trained for.
        eta: the halving rate: each rung keeps the best ``1/eta`` and trains ``eta`` times longer.
        rng: a ``random.Random`` or a seed, handed to ``sample_config``.
        resume: continue promoted configurations from their state (True) or retrain them.
        keep_best_state: deep-copy the state that produced the best loss into the result.
    """
    rng = _as_rng(rng)
    track = _Tracker(evaluate, keep_best_state)
    trial = 0
    for s, rungs in hyperband_schedule(R, eta).items():
        # Each live entry: (trial id, config, state, epochs already trained).
        live = []
        for _ in range(rungs[0][0]):
            live.append((trial, sample_config(rng), None, 0))
            trial += 1
        for i, (n_i, r_i) in enumerate(rungs):
            scored = []
            for t, config, state, done in live:
                start, start_done = (state, done) if resume else (None, 0)
                loss, state = track(t, config, s, i, r_i, start, start_done)
                scored.append((_key(loss), t, config, state, r_i))
            keep = n_i // eta  # top_k with k = floor(n_i / eta)
            scored.sort(key=lambda x: (x[0], x[1]))
            # Retraining needs no state: drop it rather than hold every model in memory.
            live = [(t, c, st if resume else None, r) for _, t, c, st, r in scored[:keep]]
    return track.result()
