"""One writer per run folder: a second process (two resumes at once, or a resume of a
run that is still going) is refused with a message naming the process that holds the
folder, and changes nothing; a lock whose process is gone is taken over."""

import json
import os
import random
import signal
import time

import pytest

from dlc.engine.context import RunContext
from dlc.errors import DlcError
from tests.faults.harness import (
    LAB,
    Cfg,
    Fault,
    assert_same_run,
    debris,
    in_child,
    run_folders,
    run_here,
    snapshot,
    start_child,
    wait,
)

RNG = random.Random(7)


@pytest.fixture
def stopped(tmp_path):
    """A run killed at step 14."""
    root = tmp_path / "runs"
    assert in_child(run_here, root, Fault("step", "kill", 14), None, tmp_path / "log", report=tmp_path / "r") == -9
    (d,) = run_folders(root)
    return d


def test_a_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path):
    with RunContext.open(LAB, Cfg(), runs_dir=tmp_path, quiet=True, force_cpu=True) as ctx:
        ctx.log(note="one record")
        holder = json.loads((ctx.dir / ".lock").read_text())
        assert holder["pid"] == os.getpid()
        before = snapshot(ctx.dir)
        with pytest.raises(DlcError, match=f"is in use by process {os.getpid()}"):
            RunContext(LAB, Cfg(), runs_dir=tmp_path, quiet=True, force_cpu=True, resume=ctx.dir)
        assert snapshot(ctx.dir) == before
        d = ctx.dir
    assert not (d / ".lock").exists()
    second = RunContext(LAB, Cfg(), runs_dir=tmp_path, quiet=True, force_cpu=True, resume=d)  # free again
    second.close()
    assert not (d / ".lock").exists()


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


@pytest.mark.parametrize("lock", ["a dead process's", "unreadable", "empty"])
def test_a_stale_lock_is_taken_over(tmp_path, stopped, reference, lock):
    """The lock a killed run left (its process is gone) does not stop the resume."""
    content = {
        "a dead process's": json.dumps({"pid": _dead_pid(), "host": os.uname().nodename, "since": "yesterday"}),
        "unreadable": "\x00garbage",
        "empty": "",
    }[lock]
    (stopped / ".lock").write_text(content)
    status = in_child(run_here, stopped.parents[1], None, stopped, tmp_path / "log", report=tmp_path / "r")
    assert status == 0, (tmp_path / "r").read_text()
    assert_same_run(reference.run, stopped)


def test_resuming_a_run_that_is_still_going_is_refused(tmp_path, reference):
    root = tmp_path / "runs"
    first = start_child(run_here, root, Fault("never", slow=0.02), None, tmp_path / "log")
    deadline = time.time() + 60
    while not (run_folders(root) and list(run_folders(root)[0].glob("metrics.jsonl"))) and time.time() < deadline:
        time.sleep(0.005)
    (d,) = run_folders(root)
    report = tmp_path / "second.txt"
    second = in_child(run_here, root, None, d, tmp_path / "log", report=report)
    assert wait(first) == 0
    assert second == 1, report.read_text() if report.exists() else second
    assert f"in use by process {first}" in report.read_text()
    assert_same_run(reference.run, d)  # the first run was not disturbed


@pytest.mark.parametrize("attempt", range(4))
def test_concurrent_resumes_one_proceeds(tmp_path, stopped, reference, attempt):
    """Two resumes of one folder started together: exactly one runs, the other is
    refused naming it, and the run ends exactly as the uninterrupted one."""
    reports = [tmp_path / "r0.txt", tmp_path / "r1.txt"]
    slow = RNG.choice([0.0, 0.002, 0.01])
    pids = [
        start_child(run_here, stopped.parents[1], Fault("never", slow=slow), stopped, tmp_path / "log", report=r)
        for r in reports
    ]
    statuses = [wait(p) for p in pids]
    assert sorted(statuses) == [0, 1], (statuses, [r.read_text() for r in reports if r.exists()])
    loser = statuses.index(1)
    message = reports[loser].read_text()
    assert f"is in use by process {pids[1 - loser]}" in message or "is a finished run" in message, message
    assert_same_run(reference.run, stopped)
    assert debris(stopped) == []


def test_a_killed_holder_releases_the_folder(tmp_path, reference):
    """SIGKILL while holding the lock: the kernel releases it; the next resume proceeds."""
    root = tmp_path / "runs"
    pid = start_child(run_here, root, Fault("never", slow=0.02), None, tmp_path / "log")
    deadline = time.time() + 60
    while not run_folders(root) and time.time() < deadline:
        time.sleep(0.005)
    time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    assert wait(pid) == -signal.SIGKILL
    (d,) = run_folders(root)
    assert json.loads((d / ".lock").read_text())["pid"] == pid  # left behind...
    status = in_child(run_here, root, None, d, tmp_path / "log", report=tmp_path / "r")
    assert status == 0, (tmp_path / "r").read_text()
    assert_same_run(reference.run, d)  # ...and taken over
