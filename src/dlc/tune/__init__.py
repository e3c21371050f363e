"""Hyperparameter search: Hyperband and random search at equal budget.

Both take ``sample_config(rng) -> dict`` and ``evaluate(config, epochs, state) ->
(validation loss, state)``, so they work on any lab's configuration.
"""

from dlc.tune.hyperband import (
    Evaluation,
    SearchResult,
    bracket_schedule,
    format_schedule,
    hyperband,
    hyperband_schedule,
    max_bracket,
    schedule_budget,
)
from dlc.tune.random_search import random_search

__all__ = [
    "Evaluation",
    "SearchResult",
    "bracket_schedule",
    "format_schedule",
    "hyperband",
    "hyperband_schedule",
    "max_bracket",
    "random_search",
    "schedule_budget",
]
