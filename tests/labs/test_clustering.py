import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import clustering as K
from dlc.labs import run_lab
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_objective_decreases_and_clusters_follow_classes(runs_dir):
    result = run_tiny("clustering", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["n_samples"] == 500
    assert m["monotone"] and m["objective_increases"] == 0
    for values in (m["mnist_objective"], m["blobs_objective"]):
        assert all(b <= a * (1 + 1e-12) for a, b in zip(values, values[1:]))
        assert values[-1] < 0.8 * values[0]
    assert m["purity"] > m["random_purity"] + 0.2


def test_kmeans_is_monotone_and_finds_separated_blobs():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = torch.arange(3).repeat_interleave(50)
    x = centres[labels] + 0.5 * torch.randn(150, 2, generator=g)
    c, assign, hist = K.kmeans(x, 3, 100, g)
    assert K.is_non_increasing([v for _, _, v in hist])
    assert K.purity(assign, labels, 3) == 1.0
    assert hist[-1][1] == "assign" and len(hist) < 200  # stopped when nothing moved
    assert torch.allclose(c.float()[assign], centres[labels], atol=0.5)


def test_kmeans_survives_empty_clusters():
    x = torch.zeros(10, 2)
    x[5:] = 1.0  # two distinct points, repeated: k=4 leaves empties
    c, assign, hist = K.kmeans(x, 4, 10, torch.Generator().manual_seed(0))
    assert K.is_non_increasing([v for _, _, v in hist]) and hist[-1][2] < 1e-12


def test_purity_of_random_clusters_is_low():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(10, (5000,), generator=g)
    assert K.purity(torch.randint(10, (5000,), generator=g), labels, 10) < 0.2
    assert K.purity(labels, labels, 10) == 1.0


def test_increases_counts_the_rises():
    assert K.increases([3.0, 2.0, 2.0, 1.0]) == 0 and K.is_non_increasing([3.0, 2.0, 2.0])
    assert K.increases([3.0, 2.0, 2.5, 1.0, 1.5]) == 2
    assert K.increases([1.0, 1.0 + 1e-15]) == 0  # round-off is not a rise


def test_more_clusters_than_samples_is_refused(runs_dir):

    with pytest.raises(UsageError, match="k <= train_size"):
        run_lab("clustering", size="tiny", runs_dir=runs_dir, quiet=True, k=501)
    assert not runs_dir.exists()


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("k", 1),
    ("iterations", 1),
    ("toy_k", 1),
    ("toy_n", 4),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("clustering", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
