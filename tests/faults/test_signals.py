"""SIGKILL and Ctrl-C (SIGINT) at random points of a run, then ``--resume``: the resumed
run ends exactly as the uninterrupted one (weights, histories, random state, every
metrics record, summary, checkpoints), leaves no temporary file nor lock behind, and a
second resume of the finished run says so and changes nothing.

The points are drawn from a seeded generator (the parameters name them, so a failure
can be replayed); the timed kills come from a wall clock and land wherever the run is.
"""

import random
import signal
import time

import pytest

from tests.faults.harness import (
    EPOCHS,
    STEPS,
    Fault,
    assert_same_run,
    hurt_then_resume,
    in_child,
    run_folders,
    run_here,
    start_child,
)

RNG = random.Random(559)
KILL_STEPS = sorted(RNG.sample(range(1, STEPS + 1), 10))
KILL_EPOCHS = sorted(RNG.sample(range(1, EPOCHS + 1), 3))
KILL_WRITES = [(round(RNG.random(), 3), RNG.randrange(0, 3000)) for _ in range(10)]
SIGINT_STEPS = sorted(RNG.sample(range(1, STEPS + 1), 8))
SIGINT_WRITES = [("sigint2", round(RNG.random(), 3), RNG.randrange(0, 3000)) for _ in range(6)] + [
    ("sigint", round(RNG.random(), 3), RNG.randrange(0, 3000)) for _ in range(3)
]
TIMED_KILLS = [round(RNG.uniform(0.02, 0.6), 3) for _ in range(5)]


@pytest.mark.parametrize("step", KILL_STEPS)
def test_sigkill_at_a_step(tmp_path, reference, step):
    hurt_then_resume(tmp_path, reference, Fault("step", "kill", step), -signal.SIGKILL)


@pytest.mark.parametrize("epoch", KILL_EPOCHS)
def test_sigkill_at_an_epoch_end_before_its_checkpoint(tmp_path, reference, epoch):
    hurt_then_resume(tmp_path, reference, Fault("epoch", "kill", epoch), -signal.SIGKILL)


@pytest.mark.parametrize("u, offset", KILL_WRITES)
def test_sigkill_inside_a_file_write(tmp_path, reference, u, offset):
    """Killed with a write half done (a checkpoint, config.json, the summary, ...): the
    temporary file it leaves is swept by the resume."""
    n = 1 + int(u * reference.writes)
    notes = hurt_then_resume(tmp_path, reference, Fault("write", "kill", n, offset), -signal.SIGKILL)
    if "temporaries" in notes:
        assert len(notes["temporaries"]) == 1, notes


@pytest.mark.parametrize("where", ["start", "between", "finish"])
def test_sigkill_outside_the_fits(tmp_path, reference, where):
    hurt_then_resume(tmp_path, reference, Fault(where, "kill"), -signal.SIGKILL)


@pytest.mark.parametrize("step", SIGINT_STEPS)
def test_sigint_at_a_step(tmp_path, reference, step):
    """Ctrl-C: the step finishes, a checkpoint is written at it, the run stops."""
    hurt_then_resume(tmp_path, reference, Fault("step", "sigint", step), 130)
    # (the checkpoint of the step is checked by the exact resume above)


@pytest.mark.parametrize("how, u, offset", SIGINT_WRITES)
def test_sigint_inside_a_file_write(tmp_path, reference, how, u, offset):
    """Ctrl-C inside a write (once, or twice: the second one stops a fit at once) takes
    effect when the write is over: no temporary file stays, no file is half written."""
    n = 1 + int(u * reference.writes)
    notes = hurt_then_resume(tmp_path, reference, Fault("write", how, n, offset), 130)
    assert notes.get("temporaries", []) == []


@pytest.mark.parametrize("where", ["start", "between", "finish"])
def test_sigint_outside_the_fits(tmp_path, reference, where):
    """Ctrl-C before anything was recorded leaves no run folder at all (nor the lab's
    folder); later, the folder is kept for the resume."""
    root = tmp_path / "runs"

    def inspect(folder, report, struck):
        if where == "start":
            assert folder is None and not root.exists()  # runs/ too: this run had made it
        else:
            assert folder is not None and (folder / "metrics.jsonl").read_text()

    hurt_then_resume(tmp_path, reference, Fault(where, "sigint"), 130, inspect=inspect)
    assert len(run_folders(root)) == 1


@pytest.mark.parametrize("delay", TIMED_KILLS)
def test_sigkill_at_a_random_time(tmp_path, reference, delay):
    """SIGKILL from outside after a random delay, into a slowed-down run (steps and
    writes take milliseconds): wherever it lands, the resume is exact."""
    import os

    root, log, report = tmp_path / "runs", tmp_path / "faults.log", tmp_path / "report.txt"
    pid = start_child(run_here, root, Fault("never", slow=0.01), None, log)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    folders = run_folders(root)
    if os.waitstatus_to_exitcode(status) != 0:  # (else it had finished before the kill)
        assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
        got = in_child(run_here, root, None, folders[0] if folders else None, log, report=report)
        assert got == 0, report.read_text() if report.exists() else got
    (d,) = run_folders(root)
    assert_same_run(reference.run, d)
