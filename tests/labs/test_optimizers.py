import json
import math

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import optimizers as opt
from dlc.labs import run_lab
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_lab_equals_torch_and_trains(runs_dir):
    result = run_tiny("optimizers", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["max_param_difference"] < 1e-12
    for name in ("SGD", "momentum", "Nesterov", "RMSProp", "Adam"):
        assert m[f"{name}_last_loss"] < 0.5 * m[f"{name}_first_loss"], name
        assert m[f"{name}_test_error"] < 0.5, name  # chance is 0.9
    # on the valley, momentum gets much further than plain SGD with the same step
    assert m["momentum_rosenbrock_final"] < 0.1 * m["SGD_rosenbrock_final"]
    # the inner fits are quiet: no checkpoints, no per-fit curves; their epochs are logged
    assert not (result.run_dir / "checkpoints").exists()
    records = [json.loads(s) for s in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    assert sorted({r["trainer"] for r in epochs}) == sorted(["SGD", "momentum", "Nesterov", "RMSProp", "Adam"])
    assert len(epochs) == 5 * 4


@requires_mnist
def test_a_diverging_optimizer_is_recorded_not_fatal(runs_dir):
    from dlc.labs import run_lab

    result = run_lab(
        "optimizers", size="tiny", runs_dir=runs_dir, quiet=True, lr_sgd=1e6, epochs=1, path_steps=10, check_steps=2
    )
    m = result.metrics
    assert math.isnan(m["SGD_test_error"]) and "SGD diverged" in result.line
    assert math.isfinite(m["Adam_test_error"])
    assert not result.passed  # the check says so


SETTINGS = [
    (lambda ps: opt.SGD(ps, 0.05), lambda ps: torch.optim.SGD(ps, lr=0.05)),
    (lambda ps: opt.Momentum(ps, 0.02, 0.5), lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.5)),
    (lambda ps: opt.Nesterov(ps, 0.02, 0.8), lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.8, nesterov=True)),
    (
        lambda ps: opt.RMSProp(ps, 3e-3, alpha=0.9, eps=1e-6),
        lambda ps: torch.optim.RMSprop(ps, lr=3e-3, alpha=0.9, eps=1e-6),
    ),
    (
        lambda ps: opt.Adam(ps, 1e-2, betas=(0.8, 0.99), eps=1e-7),
        lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.8, 0.99), eps=1e-7),
    ),
]


@pytest.mark.parametrize("ours,theirs", SETTINGS)
def test_each_step_equals_torch_optim(ours, theirs):
    diffs = opt.step_by_step_difference(ours, theirs, steps=40, seed=3)
    assert max(diffs) < 1e-12
    # and the comparison is not vacuous: the parameters did move
    a = torch.nn.Linear(2, 1).double()
    before = a.weight.detach().clone()
    o = ours(list(a.parameters()))
    a(torch.ones(3, 2, dtype=torch.float64)).sum().backward()
    o.step()
    assert not torch.equal(before, a.weight)


def test_momentum_beats_sgd_on_rosenbrock():
    sgd = opt.trajectory(opt.PATH_SETTINGS["SGD"], 300)
    mom = opt.trajectory(opt.PATH_SETTINGS["momentum"], 300)
    assert opt.rosenbrock(mom[-1]) < opt.rosenbrock(sgd[-1]) < opt.rosenbrock(sgd[0])


# Every count option at 0 is refused before the run, with the minimum it needs.
ZERO_COUNTS = [
    ("epochs", 1),
    ("batch_size", 1),
    ("hidden", 1),
    ("path_steps", 1),
    ("check_steps", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("optimizers", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
