"""dlc.tune: the schedule of Li et al. (2018), the budget it spends, and that it searches well."""

import math
import random
from collections import Counter

import pytest

from dlc.errors import DlcError
from dlc.tune import (
    bracket_schedule,
    format_schedule,
    hyperband,
    hyperband_schedule,
    max_bracket,
    random_search,
    schedule_budget,
)

# Table 1 of Li et al. (2018), R = 81, eta = 3: (n_i, r_i) per bracket s.
PAPER_TABLE = {
    4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    3: [(34, 3), (11, 9), (3, 27), (1, 81)],
    2: [(15, 9), (5, 27), (1, 81)],
    1: [(8, 27), (2, 81)],
    0: [(5, 81)],
}


def test_schedule_is_the_papers_table():
    assert hyperband_schedule(81, 3) == PAPER_TABLE
    assert list(hyperband_schedule(81, 3)) == [4, 3, 2, 1, 0]  # the order they run in
    table = format_schedule(81, 3)
    assert "34" in table and table.count("\n") == 2 + 5


@pytest.mark.parametrize(
    "R, eta, s_max", [(1, 3, 0), (2, 3, 0), (3, 3, 1), (80, 3, 3), (81, 3, 4), (243, 3, 5), (8, 2, 3), (1000, 10, 3)]
)
def test_max_bracket_is_floor_log(R, eta, s_max):
    # 243 = 3^5 is where math.log(243, 3) = 4.999... would give the wrong floor.
    assert max_bracket(R, eta) == s_max


@pytest.mark.parametrize("R, eta", [(81, 3), (27, 3), (16, 2), (100, 3), (9, 3), (10, 4)])
def test_every_bracket_follows_the_formula(R, eta):
    s_max = max_bracket(R, eta)
    for s, rungs in hyperband_schedule(R, eta).items():
        n = math.ceil((s_max + 1) / (s + 1) * eta**s - 1e-9)
        assert len(rungs) == s + 1
        for i, (n_i, r_i) in enumerate(rungs):
            assert n_i == math.floor(n * eta**-i + 1e-9)
            assert r_i == max(1, math.floor(R * eta ** (i - s) + 0.5))  # half rounds up
        assert rungs[-1][1] == R  # every bracket ends at the full resource


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(DlcError, match="R"):
        bracket_schedule(0, 3)
    with pytest.raises(DlcError, match="eta"):
        hyperband_schedule(81, 1)
    with pytest.raises(DlcError, match="bracket"):
        bracket_schedule(81, 3, s=5)


class Recorder:
    """An evaluate callback whose state is the number of epochs the configuration has had."""

    def __init__(self):
        self.calls = []
        self.epochs_trained = 0

    def __call__(self, config, resource, state):
        done = 0 if state is None else state
        assert resource > done
        self.epochs_trained += resource - done
        self.calls.append((config["id"], resource, state))
        # A loss that falls with training, different per configuration.
        return config["quality"] + 1.0 / resource, resource


def sample_ids():
    counter = iter(range(10**6))

    def sample(rng):
        return {"id": next(counter), "quality": rng.random()}

    return sample


@pytest.mark.parametrize("resume", [True, False])
def test_budget_accounting_matches_the_schedule(resume):
    rec = Recorder()
    result = hyperband(sample_ids(), rec, R=81, eta=3, rng=0, resume=resume)
    assert result.budget == schedule_budget(81, 3, resume) == rec.epochs_trained
    # Each (bracket, rung) evaluated n_i configurations at r_i epochs.
    per_rung = Counter((e.bracket, e.rung, e.resource) for e in result.evaluations)
    expected = {(s, i, r): n for s, rungs in PAPER_TABLE.items() for i, (n, r) in enumerate(rungs)}
    assert per_rung == expected
    assert result.n_configs == sum(rungs[0][0] for rungs in PAPER_TABLE.values()) == 143
    if resume:
        # A promoted configuration resumes from the state its previous rung returned.
        last = {}
        for cid, resource, state in rec.calls:
            assert state == last.get(cid)
            last[cid] = resource
    else:
        assert all(state is None for _, _, state in rec.calls)


def test_rungs_promote_the_best_fraction():
    result = hyperband(sample_ids(), Recorder(), R=27, eta=3, rng=1)
    by_rung = {}
    for e in result.evaluations:
        by_rung.setdefault((e.bracket, e.rung), []).append(e)
    for (s, i), evs in by_rung.items():
        if (s, i + 1) not in by_rung:
            continue
        ranked = sorted(evs, key=lambda e: e.loss)
        promoted = {e.trial for e in by_rung[(s, i + 1)]}
        assert promoted == {e.trial for e in ranked[: len(evs) // 3]}
    assert result.best_loss == min(e.loss for e in result.evaluations)


def test_random_search_spends_the_budget_in_full_trainings():
    rec = Recorder()
    budget = schedule_budget(81, 3)
    result = random_search(sample_ids(), rec, R=81, budget=budget, rng=0)
    assert all(e.resource == 81 and e.cost == 81 for e in result.evaluations)
    assert budget - 81 < result.budget == rec.epochs_trained <= budget
    assert result.best_loss == min(e.loss for e in result.evaluations)
    with pytest.raises(DlcError, match="budget"):
        random_search(sample_ids(), rec, R=81, budget=80)


def test_diverged_runs_rank_last():
    def evaluate(config, resource, state):
        return (math.nan if config["lr"] > 0.5 else config["lr"]), None

    result = hyperband(lambda rng: {"lr": rng.random()}, evaluate, R=9, eta=3, rng=0)
    assert result.best_config["lr"] <= 0.5 and math.isfinite(result.best_loss)


def test_best_state_is_a_copy_taken_when_the_best_loss_was_seen():
    # The state is a list the callback extends in place when it resumes; the loss gets
    # worse with training, so the best is seen at the first rung and must not change.
    def evaluate(config, resource, state):
        state = state if state is not None else []
        state.extend(range(len(state), resource))
        return config["q"] + resource, state

    result = hyperband(lambda rng: {"q": rng.random()}, evaluate, R=9, eta=3, rng=0)
    assert result.best_resource == 1 and result.best_state == [0]


# -- does it search well? ---------------------------------------------------------

# A synthetic problem with a known best configuration among 10 x 10 x 5 = 500 choices.
# Validation loss after r epochs = distance to the best + a learning-curve term 1/r +
# evaluation noise that shrinks with training; all configurations share the curve, so a
# short run ranks them roughly (not exactly) like a long one.
BEST = {"a": 7, "b": 2, "c": 1}


def final_loss(cfg):
    return ((cfg["a"] - 7) / 9) ** 2 + ((cfg["b"] - 2) / 9) ** 2 + 0.05 * abs(cfg["c"] - 1)


def sample(rng):
    return {"a": rng.randrange(10), "b": rng.randrange(10), "c": rng.randrange(5)}


def noisy_objective(seed):
    noise = random.Random(seed)

    def evaluate(cfg, resource, state):
        return final_loss(cfg) + 1.0 / resource + noise.gauss(0, 0.05) / resource**0.5, None

    return evaluate


def test_hyperband_beats_random_search_at_equal_budget():
    hb_hits = rs_hits = 0
    hb_regret = rs_regret = 0.0
    seeds = range(200)
    for seed in seeds:
        hb = hyperband(sample, noisy_objective(seed), R=81, eta=3, rng=seed)
        rs = random_search(sample, noisy_objective(seed), R=81, budget=hb.budget, rng=10_000 + seed)
        assert rs.budget <= hb.budget
        hb_hits += hb.best_config == BEST
        rs_hits += rs.best_config == BEST
        hb_regret += final_loss(hb.best_config) / len(seeds)
        rs_regret += final_loss(rs.best_config) / len(seeds)
    # Hyperband looks at 143 configurations for the price of 19 full trainings.
    assert hb_hits > 3 * rs_hits and hb_hits >= 20  # measured: 50 vs 8 of 200
    assert hb_regret < 0.5 * rs_regret
