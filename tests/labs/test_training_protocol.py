"""training-protocol: the schedules all learn; early stopping restores the best checkpoint."""

import pytest
import torch

from dlc.engine import LRSchedule, Supervised
from dlc.errors import DlcError, UsageError
from dlc.labs import run_lab
from dlc.labs.training_protocol import SCHEDULES, schedule
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_tiny_run_learns_and_restores_the_best_checkpoint(runs_dir):
    result = run_tiny("training-protocol", runs_dir)
    assert_checks(result)
    m = result.metrics
    for kind in SCHEDULES:
        assert m["final_train_loss"][kind] < 0.2 * m["first_train_loss"][kind], kind
    # The protocol chose on validation only, and the best epoch came back.
    assert m["chosen"] in SCHEDULES
    assert m["restored_is_best_checkpoint"]
    assert m["best_checkpoint_epoch"] == m["best_epoch"]
    assert m["restored_val_loss"] == pytest.approx(m["best_val_loss"], rel=1e-6, abs=1e-7)
    assert m["test_error"] < 0.5  # chance is 90%
    assert (result.run_dir / "checkpoints" / "final-best.pt").is_file()
    assert (result.run_dir / "checkpoints" / "final-last.pt").is_file()
    # only the final training writes checkpoints; the four schedule fits do not
    assert len(list((result.run_dir / "checkpoints").iterdir())) == 2


@pytest.mark.parametrize("kind", ["step", "cosine", "one-cycle"])
def test_schedules_lower_the_learning_rate_by_the_end(kind):
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    [cb] = schedule(kind, epochs=9)

    class FakeLoop:  # what LRSchedule reads from the loop when the fit starts
        step, epochs, steps_per_epoch = Supervised(model, opt), 9, 4

    cb.on_fit_start(FakeLoop)
    seen = []
    for epoch in range(9):
        seen.append(opt.param_groups[0]["lr"])
        for step in range(4):
            opt.step()
            cb.on_batch_end(FakeLoop, epoch * 4 + step + 1)
        cb.on_epoch_end(FakeLoop, {})
    assert max(seen) <= 0.1 + 1e-12 and seen[-1] < 0.05
    if kind == "one-cycle":
        assert seen[0] < max(seen)  # it warms up first
        assert opt.param_groups[0]["momentum"] == 0  # plain SGD stays plain
    else:
        assert seen[0] == pytest.approx(0.1)


def test_constant_has_no_schedule_and_unknown_names_are_explained():
    assert schedule("constant", 10) == []
    assert isinstance(schedule("cosine", 10)[0], LRSchedule)
    with pytest.raises(DlcError, match="choose one of"):
        schedule("exponential", 10)


# Every count option at 0 is refused before the run, with the minimum it needs.
ZERO_COUNTS = [
    ("epochs", 1),
    ("patience", 1),
    ("hidden", 1),
    ("batch_size", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("training-protocol", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
