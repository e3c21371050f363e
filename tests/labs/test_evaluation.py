import pytest
import torch

from dlc.errors import DlcError, UsageError
from dlc.labs import evaluation as E
from dlc.labs import run_lab
from dlc.labs.evaluation import sample
from tests.labs.helpers import assert_checks, run_tiny


def test_lab_selects_on_validation(runs_dir):
    result = run_tiny("evaluation", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["selection_ignores_test"]
    assert m["cv_samples"] == 60 and m["cv_not_validated_once"] == 0 and m["cv_train_val_overlap"] == 0
    assert 0 < m["val_degree"] < 10 and 0 < m["cv_degree"] < 10
    # the selected degree beats both extremes on the untouched test set
    assert m["val_test_error"] < m["test_errors"][0] and m["val_test_error"] < m["test_errors"][-1]
    assert m["cv_test_error"] < m["test_errors"][0]
    assert m["val_errors"][m["val_degree"]] == min(m["val_errors"])


@pytest.mark.parametrize("n,k", [(10, 2), (60, 5), (61, 5), (7, 7)])
def test_folds_partition_the_data(n, k):
    folds = E.kfold_indices(n, k, torch.Generator().manual_seed(0))
    assert len(folds) == k
    val = torch.cat([v for _, v in folds])
    assert sorted(val.tolist()) == list(range(n))  # each sample validated exactly once
    sizes = [len(v) for _, v in folds]
    assert max(sizes) - min(sizes) <= 1
    for train, v in folds:
        assert not set(train.tolist()) & set(v.tolist())  # never trained on in its own fold
        assert len(train) + len(v) == n


def test_selection_ignores_the_test_set():
    g = torch.Generator().manual_seed(4)
    train, val = sample(30, 0.2, g), sample(30, 0.2, g)
    degrees = range(11)
    a = E.protocol(train, val, sample(500, 0.2, g), degrees)
    x, y = sample(500, 0.2, g)
    b = E.protocol(train, val, (x, -5 * y + 3), degrees)  # a wildly different test set
    assert a["degree"] == b["degree"]
    assert torch.allclose(torch.tensor(a["val_errors"]), torch.tensor(b["val_errors"]), rtol=1e-12)
    assert a["test_error"] != b["test_error"]  # while the reported score moves
    # ...and changing the validation set can change the choice
    choices = {E.protocol(train, sample(30, 0.2, g), (x, y), degrees)["degree"] for _ in range(20)}
    assert len(choices) > 1


def test_bad_fold_count_is_refused():
    with pytest.raises(DlcError, match="2 <= k"):
        E.kfold_indices(5, 1)


def test_fold_misuse_counts_what_breaks_a_partition():
    n = 12
    assert E.fold_misuse(E.kfold_indices(n, 4, torch.Generator().manual_seed(0)), n) == (0, 0)
    a, b = torch.arange(6), torch.arange(6, 12)
    # b validated twice and a never (12 samples not exactly once); b trained on in its own fold (6)
    assert E.fold_misuse([(a, b), (b, b)], n) == (12, 6)


def test_too_many_folds_are_refused_before_the_run(runs_dir):

    with pytest.raises(UsageError, match="folds"):
        run_lab("evaluation", size="tiny", runs_dir=runs_dir, quiet=True, folds=61)
    assert not runs_dir.exists()


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("max_degree", 1),
    ("n_train", 12),
    ("n_val", 12),
    ("n_test", 1),
    ("folds", 2),
    ("repeats", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("evaluation", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()


def _overlapping_labels(fig) -> list[tuple[str, str]]:
    """Pairs of visible tick labels of one axis whose drawn boxes intersect."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    clashes = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text()]
            boxes = [t.get_window_extent(renderer) for t in labels]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    if boxes[i].overlaps(boxes[j]):
                        clashes.append((labels[i].get_text(), labels[j].get_text()))
    return clashes


def test_the_selection_figure_has_no_overlapping_tick_labels():
    # the optimism panel's range (selected validation and test errors between ~0.02 and ~0.8)
    # used to label every minor tick of its log axes, one on top of the other
    g = torch.Generator().manual_seed(0)
    val = (0.02 + 0.08 * torch.rand(200, generator=g)).tolist()
    test = (0.04 + 0.06 * torch.rand(200, generator=g)).tolist() + [0.8]
    fig = E._figure(list(range(11)), [1.0] * 11, [1.0] * 11, [1.0] * 11, 5, 4, (val + [0.06], test))
    assert _overlapping_labels(fig) == []
    left, right = fig.axes
    assert left.get_title() and right.get_title() and right.get_xlabel() and right.get_ylabel()
    assert {"selected on validation: 5", "selected by cross-validation: 4"} <= {
        t.get_text() for t in left.get_legend().get_texts()
    }
