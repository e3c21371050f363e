"""early-stopping: stops before the end, restores the best epoch, and that regularises."""

import pytest
import torch

from dlc.errors import DlcError, UsageError
from dlc.labs import run_lab
from dlc.labs.early_stopping import corrupt
from dlc.stats import split
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_tiny_run_stops_early_and_restores_the_best_epoch(runs_dir):
    result = run_tiny("early-stopping", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["stopped_epoch"] < m["max_epochs"]
    assert m["stopped_epoch"] - m["best_epoch"] == 10  # the patience
    # The weights put back are the best epoch's: re-evaluated, they give its validation loss.
    assert m["restored_val_loss"] == pytest.approx(m["best_val_loss"], rel=1e-6, abs=1e-7)
    # The validation loss did turn up: trained to the end, it is well above its minimum.
    assert m["final_val_loss_without_stopping"] > 1.2 * m["best_val_loss"]
    # Both runs started alike (same weights, same batches) until the stop.
    assert m["same_start"]
    # Regularisation: the early-stopped model classifies the (clean) test set better.
    assert m["test_error"] < m["test_error_without_stopping"]


def test_split_is_a_seeded_partition():
    x, y = torch.arange(50.0).view(50, 1), torch.arange(50)
    (tx, ty), (vx, vy) = split(x, y, 0.2, seed=3)
    assert len(vx) == 10 and len(tx) == 40
    assert sorted(torch.cat([ty, vy]).tolist()) == list(range(50))
    assert torch.equal(split(x, y, 0.2, seed=3)[1][1], vy)
    with pytest.raises(DlcError, match="val_fraction"):
        split(x, y, 1.5, seed=0)


def test_corrupt_redraws_about_the_given_fraction():
    y = torch.arange(10).repeat(1000)
    noisy = corrupt(y, 0.4, seed=0)
    # A redrawn label keeps its value 1 time in 10: about 0.4 * 0.9 = 36% change.
    assert 0.33 < (noisy != y).float().mean().item() < 0.39
    assert torch.equal(corrupt(y, 0.0, seed=0), y)
    with pytest.raises(DlcError, match="label_noise"):
        corrupt(y, 1.5, seed=0)


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("hidden", 1),
    ("max_epochs", 1),
    ("patience", 1),
    ("batch_size", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("early-stopping", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()


def test_the_figure_marks_best_and_stop_in_its_legend():
    from dlc.labs.early_stopping import Config, stopping_figure

    curves = {
        "train loss": [2.0 / (k + 1) for k in range(30)],
        "validation loss": [1.5 + abs(k - 6) / 10 for k in range(30)],
    }
    fig = stopping_figure(curves, best=7, stopped=9, cfg=Config())  # marks two epochs apart
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "best validation loss (epoch 7)" in labels and "early stop (epoch 9)" in labels
    assert not ax.texts  # no labels beside the marks, where close marks overlapped
    assert ax.get_title() and ax.get_xlabel() == "epoch" and ax.get_ylabel()


@requires_mnist
@pytest.mark.parametrize("quiet", [False, True])
def test_both_trainings_show_progress_unless_quiet(quiet, runs_dir, capsys):
    run_lab("early-stopping", runs_dir=runs_dir, quiet=quiet, max_epochs=3, hidden=8, train_size=100, test_size=20)
    err = capsys.readouterr().err
    if quiet:
        assert "epoch" not in err
    else:
        assert "early epoch" in err and "no-stopping epoch 3/3" in err
