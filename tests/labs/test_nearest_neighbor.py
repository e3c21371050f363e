import pytest
import torch

from dlc import stats
from dlc.errors import DlcError, UsageError
from dlc.labs import nearest_neighbor as NN
from dlc.labs import run_lab
from tests.conftest import requires_cifar, requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


def brute_force(train, target, test):
    """Every distance in a Python loop: the slowest possible reference."""
    out = []
    for t in test.double():
        best, best_d = None, float("inf")
        for i, s in enumerate(train.double()):
            d = float(((s - t) ** 2).sum())
            if d < best_d:
                best, best_d = i, d
        out.append(int(target[best]))
    return torch.tensor(out)


@requires_mnist
def test_lab_matches_reference_and_beats_chance(runs_dir):
    result = run_tiny("nearest-neighbor", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["n_train"] == 500 and m["n_test"] == 100
    assert m["reference_mismatches"] == 0 and m["reference_samples"] == 100
    assert m["baseline_error"] < 0.3  # chance is 0.9
    errors = m["nb_errors"]
    assert errors["PCA 3D"] > errors["PCA 50D"]  # 3 directions lose most of the information
    assert set(errors) == {"no projection", "random 100D", "PCA 100D", "PCA 50D", "PCA 10D", "PCA 3D"}


@requires_cifar
def test_lab_runs_on_cifar(runs_dir):
    result = run_tiny("nearest-neighbor", runs_dir, cifar=True, reference_samples=20)
    assert_checks(result)
    m = result.metrics
    assert m["dataset"] == "CIFAR-10" and m["reference_mismatches"] == 0
    assert m["baseline_error"] < 0.85


@requires_mnist
def test_vectorised_equals_python_loop_on_mnist_pixels():
    from dlc import prologue

    train, target, test, _ = prologue.load(train_size=500, test_size=100)
    train, target, test = train[:300], target[:300], test[:15]
    fast = target[NN.nearest_indices(train, test)]
    assert torch.equal(fast, brute_force(train, target, test))
    one = torch.stack([NN.nearest_classification(train, target, t) for t in test])
    assert torch.equal(fast, one)


def test_vectorised_equals_python_loop_with_ties_and_chunks():
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 3, (200, 5), generator=g).float()  # many exact ties
    target = torch.randint(0, 10, (200,), generator=g)
    test = torch.randint(0, 3, (40, 5), generator=g).float()
    ref = brute_force(train, target, test)
    assert torch.equal(target[NN.nearest_indices(train, test)], ref)
    assert torch.equal(target[NN.nearest_indices(train, test, max_entries=7)], ref)


def test_compute_nb_errors_with_mean_and_projection():
    g = torch.Generator().manual_seed(1)
    train = torch.randn(100, 6, generator=g)
    target = (train[:, 0] > 0).long()
    test = torch.randn(50, 6, generator=g)
    test_target = (test[:, 0] > 0).long()
    proj = torch.randn(3, 6, generator=g)
    mean = train.mean(0)
    errors = NN.compute_nb_errors(train, target, test, test_target, mean, proj)
    pred = brute_force((train - mean) @ proj.T, target, (test - mean) @ proj.T)
    assert errors == int((pred != test_target).sum())
    with pytest.raises(DlcError, match="proj"):
        NN.compute_nb_errors(train, target, test, test_target, None, torch.randn(3, 5))


@pytest.mark.parametrize("n,d", [(200, 10), (10, 40)])
def test_pca_sorted_orthonormal_directions(n, d):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(5, 0.1, d, dtype=torch.float64)
    mean, basis = stats.pca(x)
    assert torch.allclose(mean, x.mean(0))
    k = min(n - 1, d)  # centring removes one dimension
    basis = basis[:k]
    assert torch.allclose(basis @ basis.T, torch.eye(k, dtype=torch.float64), atol=1e-8)
    variances = ((x - mean) @ basis.T).var(0)
    assert (variances[:-1] >= variances[1:] - 1e-9).all()  # decreasing variance
    # the first direction is the best one: no random direction has more variance
    r = torch.randn(100, d, generator=g, dtype=torch.float64)
    r = r / r.norm(dim=1, keepdim=True)
    assert ((x - mean) @ r.T).var(0).max() <= variances[0] + 1e-9


def test_the_practicals_pca_is_the_librarys():
    assert NN.PCA is stats.pca


def test_pca_dims_are_checked_against_the_data(runs_dir):
    from dlc.labs import run_lab

    with pytest.raises(UsageError, match="pca_dims asks for 600 dimensions.* 500 training samples"):
        run_lab("nearest-neighbor", size="tiny", runs_dir=runs_dir, quiet=True, pca_dims="600")
    with pytest.raises(UsageError, match="'ten' is not a valid int"):
        run_lab("nearest-neighbor", size="tiny", runs_dir=runs_dir, quiet=True, pca_dims="100,ten")
    assert not runs_dir.exists()


# Every count option at 0 is refused before the run, with the minimum it needs.
ZERO_COUNTS = [
    ("reference_samples", 1),
    ("random_dim", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("nearest-neighbor", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
