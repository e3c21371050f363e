"""autograd: the scratch engine's gradients equal torch.autograd's on random DAGs."""

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import autograd as lab
from dlc.labs import run_lab
from dlc.scratch import format_tape
from tests.labs.helpers import assert_checks, run_tiny


def test_tiny_run_matches_torch_on_random_dags(runs_dir):
    result = run_tiny("autograd", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["passed"] and m["example_ok"]
    assert m["max_rel_error"] <= 1e-10
    assert m["dags"] == 30 and m["mean_shared_nodes"] >= 1  # the graphs do share nodes
    assert {"tape.png", "errors.png"} <= {p.name for p in result.run_dir.glob("*.png")}


def test_the_lecture_example_and_its_tape():
    a, t, u = lab.example()
    listing = format_tape(a)
    assert "t = input(3,)" in listing and "log(u)" in listing
    assert listing.strip().splitlines()[-1].strip().startswith("t6 = add(")
    a.backward()
    assert torch.allclose(t.grad, 2 * t.data) and torch.allclose(u.grad, 1 / u.data)


def test_random_dags_are_reproducible_and_reuse_nodes():
    r1, r2 = lab.random_dag(25, seed=7), lab.random_dag(25, seed=7)
    assert r1 == r2 and r1 != lab.random_dag(25, seed=8)
    assert sum(lab.reuse_count(lab.random_dag(25, seed=s)) for s in range(10)) > 10


def test_compare_with_torch_detects_a_wrong_gradient():
    recipe = lab.random_dag(20, seed=3)
    assert lab.compare_with_torch(recipe) <= 1e-10
    original = lab.UNARY["tanh"]
    try:  # a scratch tanh 1% off (value and gradient): the comparison must see it
        lab.UNARY["tanh"] = lambda a: a.tanh() if isinstance(a, torch.Tensor) else a.tanh() * 1.01
        broken = [("leaf", (4, 3), 1), ("tanh", 0), ("mul", 1, 1)]
        assert lab.compare_with_torch(broken) > 1e-3
    finally:
        lab.UNARY["tanh"] = original


def test_any_random_dag_matches_torch():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=40, deadline=None)
    @given(seed=st.integers(0, 10**6), ops=st.integers(1, 60))
    def check(seed, ops):
        assert lab.compare_with_torch(lab.random_dag(ops, seed)) <= 1e-10

    check()


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("dags", 1),
    ("ops", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("autograd", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()


@pytest.mark.parametrize("quiet", [False, True])
def test_the_random_dags_show_progress_unless_quiet(quiet, runs_dir, capsys):
    run_lab("autograd", size="tiny", runs_dir=runs_dir, quiet=quiet, dags=3, ops=3)
    err = capsys.readouterr().err
    assert ("random DAGs vs torch.autograd" in err) is not quiet
