"""hyperband lab: the paper's schedule on MNIST, against random search at equal budget."""

import random

import pytest
import torch

from dlc import tune
from dlc.errors import UsageError
from dlc.labs import run_lab
from dlc.labs.hyperband import DEPTHS, LR_RANGE, WIDTHS, build, describe, make_evaluate, sample_config
from dlc.stats import split
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_tiny_run_selects_a_model_that_learns_at_equal_budget(runs_dir):
    result = run_tiny("hyperband", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["test_error"] < 0.5  # chance is 90%
    assert m["budget"] == m["schedule_budget"] == tune.schedule_budget(9, 3)
    for row in m["runs"]:
        # Random search had Hyperband's epochs, spent R = 9 at a time.
        assert row["budget"] - 9 < 9 * row["rs_configs"] <= row["budget"]
        assert row["hb_configs"] > 2 * row["rs_configs"]
        assert row["hb_test_error"] < 0.5 and row["rs_test_error"] < 0.5
    best = m["best_config"]
    assert best["width"] in WIDTHS and best["depth"] in DEPTHS and best["epochs"] <= 9
    assert describe(best) in result.line
    assert len(m["runs"]) == 2


def test_sampled_configs_cover_the_space():
    rng = random.Random(0)
    configs = [sample_config(rng) for _ in range(300)]
    assert {c["width"] for c in configs} == set(WIDTHS)
    assert {c["depth"] for c in configs} == set(DEPTHS)
    lrs = [c["lr"] for c in configs]
    assert LR_RANGE[0] <= min(lrs) and max(lrs) <= LR_RANGE[1]
    # Log-uniform: about as many below the geometric middle as above it.
    middle = (LR_RANGE[0] * LR_RANGE[1]) ** 0.5
    assert 0.4 < sum(lr < middle for lr in lrs) / len(lrs) < 0.6


def test_evaluate_resumes_training_where_it_stopped():
    torch.manual_seed(0)
    x, y = torch.randn(120, 20), torch.randint(0, 3, (120,))
    (tx, ty), val = split(x, y, 0.25, seed=0)
    evaluate = make_evaluate((tx, ty), val, torch.device("cpu"), batch_size=30)
    config = {"width": 8, "depth": 1, "lr": 1e-2}
    loss1, state = evaluate(config, 1, None)
    weights = [p.detach().clone() for p in state["model"].parameters()]
    loss3, state3 = evaluate(config, 3, state)
    assert state3 is state and state["epochs"] == 3
    assert any(not torch.equal(a, b) for a, b in zip(weights, state["model"].parameters()))
    assert loss3 < loss1 * 1.5


def test_divergence_is_a_bad_score_not_a_crash():
    x, y = torch.randn(60, 5) * 1e3, torch.randint(0, 3, (60,))
    evaluate = make_evaluate((x, y), (x, y), torch.device("cpu"), batch_size=30)
    model_lr_huge = {"width": 16, "depth": 2, "lr": 1e12}
    loss, state = evaluate(model_lr_huge, 3, None)
    assert loss == float("inf") and state["diverged"]
    assert build({"width": 4, "depth": 2, "lr": 0.1})[0].sizes == [784, 4, 4, 10]


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("R", 1),
    ("eta", 2),
    ("seeds", 1),
    ("batch_size", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("hyperband", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()


@requires_mnist
@pytest.mark.parametrize("quiet", [False, True])
def test_brackets_show_progress_unless_quiet(quiet, runs_dir, capsys):
    run_lab("hyperband", size="tiny", runs_dir=runs_dir, quiet=quiet, R=3, seeds=1, train_size=100, test_size=20)
    out, err = capsys.readouterr()
    if quiet:
        assert "bracket" not in err and "epoch/s" not in err
    else:
        # one bar over every epoch trained, saying which bracket and rung Hyperband is in
        assert "seed 1/1: Hyperband, bracket s=1, rung 0 (3 configs x 1 epochs)" in err
        assert "seed 1/1: random search" in err
        assert "seed 0: Hyperband" in out  # a line per seed
