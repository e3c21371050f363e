"""ESCAPE T2: an MLP separates the core from the ring; a linear model cannot."""

import pytest
import torch

from dlc.errors import DlcError, UsageError
from dlc.labs import run_lab
from dlc.labs.binary_mlp import make_model, probabilities
from tests.labs.helpers import assert_checks, run_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return run_tiny("binary-mlp", tmp_path_factory.mktemp("runs"))


def test_mlp_is_near_perfect_where_a_linear_model_is_near_chance(tiny):
    m = tiny.metrics
    assert m["test_accuracy"] >= 0.95, tiny.line
    assert m["linear_test_accuracy"] <= 0.70, tiny.line
    assert m["test_accuracy"] - m["linear_test_accuracy"] >= 0.3
    # The sigmoid outputs are confident in the right class, not just on the right side.
    assert m["mean_true_class_probability"] > 0.9
    assert_checks(tiny)
    # No checkpoints for fits of one-step epochs.
    assert not (tiny.run_dir / "checkpoints").exists()


def test_run_folder_has_both_decision_regions_and_curves(tiny):
    for name in ("regions-mlp", "regions-linear", "mlp-curves", "linear-curves"):
        assert (tiny.run_dir / f"{name}.png").is_file(), name


def test_hidden_sizes_are_options(runs_dir):
    # The exercise: smaller hidden layers. 4 and 2 units still separate the rings.
    r = run_tiny("binary-mlp", runs_dir, hidden1=4, hidden2=2)
    assert r.metrics["hidden"] == [4, 2]
    assert r.metrics["test_accuracy"] >= 0.9, r.line


def test_model_shapes_and_the_linear_baseline():
    mlp = make_model((16, 8))
    sizes = [(l.in_features, l.out_features) for l in mlp.layers if isinstance(l, torch.nn.Linear)]
    assert sizes == [(2, 16), (16, 8), (8, 1)]
    assert any(isinstance(l, torch.nn.LeakyReLU) for l in mlp.layers)
    linear = make_model(())
    assert len(linear.layers) == 1 and isinstance(linear.layers[0], torch.nn.Linear)


def test_probabilities_are_the_sigmoid_of_the_logits():
    logits = torch.tensor([[-50.0], [0.0], [3.0]])
    p = probabilities(logits)
    assert p.shape == (3,)
    torch.testing.assert_close(p, torch.tensor([0.0, 0.5, 1 / (1 + torch.exp(torch.tensor(-3.0)).item())]))


def test_hidden_size_zero_is_refused(runs_dir):
    with pytest.raises(DlcError, match="hidden"):
        run_lab("binary-mlp", size="tiny", runs_dir=runs_dir, quiet=True, hidden2=0)


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("hidden1", 1),
    ("hidden2", 1),
    ("epochs", 1),
    ("n_train", 2),
    ("n_test", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("binary-mlp", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()


def test_region_figures_name_their_axes_and_colours():
    from dlc import viz

    x = torch.randn(50, 2)
    y = (x.norm(dim=1) > 1).long()
    fig = viz.label_regions(
        viz.decision_regions(lambda p: (p.norm(dim=1) > 1).long(), x, y, title="t"), ("core", "ring")
    )
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x1" and ax.get_ylabel() == "x2"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["test point, core", "predicted core", "test point, ring", "predicted ring"]
