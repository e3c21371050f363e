"""ESCAPE T3: an MLP learns which quadrant a point is in, far above chance."""

import pytest
import torch

from dlc.errors import DlcError, UsageError
from dlc.labs import run_lab
from dlc.labs.multiclass_mlp import majority_accuracy, make_model
from tests.labs.helpers import assert_checks, run_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return run_tiny("multiclass-mlp", tmp_path_factory.mktemp("runs"))


def test_accuracy_is_well_above_chance(tiny):
    m = tiny.metrics
    assert 0.15 < m["chance_accuracy"] < 0.35  # four near-balanced classes
    assert m["test_accuracy"] >= 0.8, tiny.line
    assert m["test_accuracy"] >= m["chance_accuracy"] + 0.5
    # The cross-entropy fell well below its start (log 4 = 1.39 for uniform guesses).
    assert m["final_train_loss"] < 0.6 * m["first_train_loss"]
    assert (tiny.run_dir / "regions.png").is_file()
    assert_checks(tiny)
    # No checkpoints for fits of one-step epochs.
    assert not (tiny.run_dir / "checkpoints").exists()


def test_model_outputs_four_logits():
    model = make_model(100, 50)
    sizes = [(l.in_features, l.out_features) for l in model.layers if isinstance(l, torch.nn.Linear)]
    assert sizes == [(2, 100), (100, 50), (50, 4)]
    assert isinstance(model.layers[-1], torch.nn.Linear)  # no output activation
    assert model(torch.randn(5, 2)).shape == (5, 4)


def test_majority_accuracy_is_the_constant_guess():
    train = torch.tensor([0, 1, 1, 2, 1, 3])
    test = torch.tensor([1, 1, 0, 2])
    assert majority_accuracy(train, test) == 0.5


def test_hidden_size_zero_is_refused(runs_dir):
    with pytest.raises(DlcError, match="hidden"):
        run_lab("multiclass-mlp", size="tiny", runs_dir=runs_dir, quiet=True, hidden1=0)


# Every count option at 0 is refused before the run, with the minimum it needs.
ZERO_COUNTS = [
    ("epochs", 1),
    ("hidden1", 1),
    ("hidden2", 1),
    ("n_train", 2),
    ("n_test", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("multiclass-mlp", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
