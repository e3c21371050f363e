"""The fault-injection harness: a small run, the faults, and the exact comparison.

The run (``fault_lab``) is shaped like a lab: a shuffled tensor fit with mid-epoch
checkpoints, then an unshuffled fit with dropout, validation, early stopping and its own
checkpoints, then the lab's last records, a final file and ``ctx.finish``. It takes
well under a second, so that every fault can be tried many times.

Each run goes in a forked child process (``in_child``), so that SIGKILL, Ctrl-C and a
full disk hurt the child only. A :class:`Fault` says where it strikes:

- ``step`` / ``epoch``: after the ``at``-th training step, or at the ``at``-th epoch's
  end before its checkpoint (counted over both fits);
- ``write``: inside the ``at``-th file written through :func:`dlc.io.write_atomic`
  (config.json, checkpoints, summary, ...) after ``offset`` bytes of it, or as it is
  closed, before the rename, when the file is shorter;
- ``start`` / ``between`` / ``finish``: before the first record, between the two fits,
  before the summary;

and how: ``kill`` (SIGKILL), ``sigint`` (one Ctrl-C), ``sigint2`` (two: the second one
stops at once, inside the write), ``full`` (the disk fills there: every later write fails
with ENOSPC, also the appends to metrics.jsonl).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import signal
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from torch import nn

from dlc import io as dio
from dlc.engine import RunContext, Supervised, evaluate, fit
from dlc.engine import checkpoint as ckpt
from dlc.engine.callbacks import Callback, Checkpoint, EarlyStopping, MetricsLogger
from dlc.engine.context import RunFinished
from dlc.errors import DlcError
from dlc.labs import Result, verdict  # imported here, once: not again in every forked child

# The first optimizer of a process imports torch._dynamo (a second): once here, not in every child.
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

LAB = "fault-test"
TIMINGS = ("time_s", "samples_per_s")
STEPS = 36  # fit a: 8 steps x 3 epochs, fit b: 4 steps x 3 epochs
EPOCHS = 6


@dataclass
class Cfg:
    epochs: int = 3
    lr: float = 0.3


@dataclass
class Fault:
    where: str  # "step", "epoch", "write", "start", "between", "finish", or "" (none)
    how: str = "kill"  # "kill", "sigint", "sigint2", "full"
    at: int = 0
    offset: int = 0
    slow: float = 0.0  # seconds of sleep per step and per write chunk (timed kills)
    fired: list = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.how}@{self.where}{self.at or ''}{f'+{self.offset}B' if self.where == 'write' else ''}"


class _Strike(Callback):
    """The fault's hooks in the fits (listed in every fit of the run)."""

    def __init__(self, harm):
        self.harm = harm

    def on_batch_end(self, loop, step):
        self.harm.steps += 1
        if self.harm.fault.slow:
            time.sleep(self.harm.fault.slow)
        if self.harm.fault.where == "step" and self.harm.steps == self.harm.fault.at:
            self.harm.fire("step")

    def on_epoch_end(self, loop, record):
        self.harm.epochs += 1
        if self.harm.fault.where == "epoch" and self.harm.epochs == self.harm.fault.at:
            self.harm.fire("epoch")


class Harm:
    """Carries out a fault in this (child) process."""

    def __init__(self, fault: Fault, log: Path):
        self.fault, self.log = fault, log
        self.steps = self.epochs = self.writes = 0
        self.written: list[str] = []  # the files written, in order
        self.full = False  # the disk is full from now on
        self.failed_path: Path | None = None
        self.callback = _Strike(self)

    def point(self, where: str) -> None:
        if self.fault.where == where:
            self.fire(where)

    def fire(self, what: str, path: Path | None = None) -> None:
        with open(self.log, "a") as f:  # what struck where, for the test's report
            f.write(json.dumps({"fired": what, "how": self.fault.how, "path": str(path) if path else None}) + "\n")
        how = self.fault.how
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(10)  # not reached
        elif how == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
        elif how == "sigint2":
            os.kill(os.getpid(), signal.SIGINT)  # the loop notes it (inside a fit)...
            os.kill(os.getpid(), signal.SIGINT)  # ...the second one stops at once
        elif how == "full":  # the disk fills here: this write fails, and every later one
            self.full = True
            if what == "write":
                self.failed_path = path
                raise OSError(errno.ENOSPC, "No space left on device (simulated)")

    # -- the writes: dlc.io's seams --------------------------------------------------
    def open_temporary(self, tmp: Path):
        self.writes += 1
        self.written.append(_final_name(Path(tmp)).name)
        target = self.fault.where == "write" and self.writes == self.fault.at
        return _FaultyFile(tmp, self, target)

    def write_fd(self, fd: int, data) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")
        return os.write(fd, data)


def _final_name(tmp: Path) -> Path:
    m = dio.TEMPORARY.match(tmp.name)
    return tmp.with_name(m["name"]) if m else tmp


class _FaultyFile(io.FileIO):
    """The temporary file of a write, where the fault may strike after some bytes."""

    def __init__(self, path: Path, harm: Harm, target: bool):
        super().__init__(path, "w")
        self.harm, self.target, self.n, self.struck = harm, target, 0, False

    def _strike(self):
        self.struck = True
        self.harm.fire("write", _final_name(Path(self.name)))

    def write(self, b) -> int:
        b = memoryview(b).cast("B")
        if self.harm.full:
            self.harm.failed_path = self.harm.failed_path or _final_name(Path(self.name))
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")
        if self.target and not self.struck and self.n + len(b) > self.harm.fault.offset:
            cut = self.harm.fault.offset - self.n
            if cut > 0:
                self.n += super().write(b[:cut])
                b = b[cut:]
            self.flush()
            self._strike()
        total = 0
        chunk = 4096 if self.harm.fault.slow else len(b) or 1
        for i in range(0, len(b), chunk):
            if self.harm.fault.slow:
                time.sleep(self.harm.fault.slow / 4)
            total += super().write(b[i : i + chunk])
        self.n += total
        return total

    def close(self) -> None:
        try:
            if self.target and not self.struck and not self.closed:
                self._strike()  # a file shorter than the offset: before it is renamed
        finally:
            super().close()


# -- the run -----------------------------------------------------------------------------


def fault_lab(ctx, harm: Harm | None) -> None:
    point = harm.point if harm else (lambda where: None)
    extra = [harm.callback] if harm else []
    point("start")
    g = torch.Generator().manual_seed(7)
    x = torch.randn(120, 2, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long()
    ctx.log(note="data ready", n=len(x))

    a = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    ha = fit(
        Supervised(a, torch.optim.SGD(a.parameters(), lr=ctx.config.lr, momentum=0.9)),
        (x, y),
        ctx,
        epochs=ctx.config.epochs,
        batch_size=16,
        shuffle=True,
        name="a",
        callbacks=[*extra, MetricsLogger(), Checkpoint(every=5)],
    )
    point("between")
    b = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))
    step_b = Supervised(b, torch.optim.Adam(b.parameters(), lr=0.02))
    hb = fit(
        step_b,
        (x, y),
        ctx,
        epochs=ctx.config.epochs,
        batch_size=30,
        shuffle=False,
        val=(x[:40], y[:40]),
        name="b",
        callbacks=[*extra, MetricsLogger(), Checkpoint(every=3), EarlyStopping(patience=10)],
    )
    final = evaluate(step_b, (x, y), ctx)
    ctx.log(note="after the fits", loss=final["loss"])
    point("finish")
    strip = lambda h: [{k: v for k, v in r.items() if k not in TIMINGS} for r in h]
    if ctx.is_main:
        payload = {"a": a.state_dict(), "b": b.state_dict(), "ha": strip(ha), "hb": strip(hb), "rand": torch.rand(3)}
        dio.write_atomic(ctx.dir / "final.pt", lambda f: torch.save(payload, f))
    result = Result(f"loss {final['loss']:.6f}", metrics={"loss": final["loss"], "error": final["error"]})
    result.verdicts = [verdict("loss below 10", final["loss"], "<", 10)]
    ctx.finish(result)


def run_here(root: Path, fault: Fault | None, resume: Path | None, log: Path, cfg: Cfg | None = None, seed=0, lab=LAB):
    """One run in this process, with the fault's seams installed."""
    harm = Harm(fault, log) if fault and fault.where else None
    if harm:
        dio._open_temporary = harm.open_temporary
        dio._write_fd = harm.write_fd
    with RunContext.open(lab, cfg or Cfg(), runs_dir=root, quiet=True, force_cpu=True, resume=resume, seed=seed) as ctx:
        fault_lab(ctx, harm)
    if harm:
        with open(log, "a") as f:
            f.write(json.dumps({"writes": harm.writes, "files": harm.written}) + "\n")


def fired(log: Path) -> list[dict]:
    """What the faults of a run did (``fired``), and how many files it wrote (``writes``)."""
    return [json.loads(s) for s in log.read_text().splitlines()] if log.exists() else []


def in_child(fn, *args, report: Path) -> int:
    """Run ``fn(*args)`` in a forked child; its exit status (negative: the signal that
    ended it; 130: Ctrl-C; 1: a DlcError, its message in ``report``; 3: anything else,
    its traceback in ``report``)."""
    return wait(start_child(fn, *args, report=report))


def start_child(fn, *args, report: Path | None = None) -> int:
    """``fn(*args)`` in a forked child that the caller waits for (:func:`wait`; exit
    statuses and ``report`` as :func:`in_child`)."""
    with warnings.catch_warnings():  # Python 3.12+: fork with threads (torch's pools) may deadlock
        warnings.simplefilter("ignore", DeprecationWarning)  # (the child only trains on one thread)
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            torch.set_num_threads(1)
            fn(*args)
            code = 0
        except KeyboardInterrupt:
            code = 130
        except DlcError as e:
            if report is not None:
                report.write_text(f"{type(e).__name__}: {e}")
            code = 1
        except BaseException:  # noqa: BLE001 - the child reports anything, then exits
            if report is not None:
                report.write_text(traceback.format_exc())
        finally:
            os._exit(code)
    return pid


def wait(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


# -- what is compared --------------------------------------------------------------------


def run_folders(root: Path) -> list[Path]:
    return sorted(p.parent for p in Path(root).glob(f"{LAB}/*/config.json"))


def records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(s).items() if k not in TIMINGS} for s in lines]


def debris(run: Path) -> list[Path]:
    """Temporary files and a lock left in a run folder."""
    return sorted(p for p in run.rglob(".*") if dio.TEMPORARY.match(p.name) or p.name == ".lock")


def assert_same_run(ref: Path, got: Path) -> None:
    """The resumed run ended exactly as the uninterrupted one: weights, histories, the
    random state after the run, every metrics record, the summary, the checkpoints."""
    a = torch.load(ref / "final.pt", weights_only=True)
    b = torch.load(got / "final.pt", weights_only=True)
    for k in ("a", "b"):
        for name, w in a[k].items():
            assert torch.equal(w, b[k][name]), f"{k}.{name} differs"
    assert a["ha"] == b["ha"] and a["hb"] == b["hb"]
    assert torch.equal(a["rand"], b["rand"]), "the random state after the run differs"
    assert records(ref) == records(got)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (ref, got))
    assert (sa["line"], sa["metrics"], sa["checks"]) == (sb["line"], sb["metrics"], sb["checks"])
    names = lambda d: sorted(p.name for p in (d / "checkpoints").iterdir())
    assert names(ref) == names(got)
    for p in (got / "checkpoints").iterdir():
        if "last" in p.name:
            assert ckpt.load(p)["step"] == ckpt.load(ref / "checkpoints" / p.name)["step"]
    assert debris(got) == [], "temporary files or a lock were left behind"


def snapshot(run: Path) -> dict:
    """Every file of a run folder (but the lock a killed run left, which any run of the
    folder takes over): its content's hash and its modification time."""
    return {
        str(p.relative_to(run)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def hurt_then_resume(tmp_path: Path, reference, fault: Fault, status: int, inspect=None) -> dict:
    """Run with ``fault`` (expecting the child's exit ``status``), call ``inspect(folder
    or None, the child's error report, what the fault did)``, resume what the run left (a
    fresh run if it left no run folder), compare with the reference. Returns notes."""
    root, log, report = tmp_path / "runs", tmp_path / "faults.log", tmp_path / "report.txt"
    got = in_child(run_here, root, fault, None, log, report=report)
    assert got == status, report.read_text() if report.exists() else got
    struck = [r for r in fired(log) if "fired" in r]
    assert struck, f"the fault {fault} never struck"
    notes = {}
    folders = run_folders(root)
    if inspect is not None:
        inspect(folders[0] if folders else None, report.read_text() if report.exists() else "", struck)
    if folders:
        (d,) = folders
        for p in ckpt.find(d):  # the last good checkpoints stay readable
            ckpt.load_resumable(p, None)
        notes["temporaries"] = [p.name for p in d.rglob(".*") if dio.TEMPORARY.match(p.name)]
        resume = d
    else:  # it had produced nothing: a fresh run (which sweeps what a kill left)
        resume = None
    got = in_child(run_here, root, None, resume, log, report=report)
    assert got == 0, report.read_text() if report.exists() else got
    (d,) = run_folders(root)
    assert [p for p in (root / LAB).iterdir()] == [d], "an abandoned run folder was left behind"
    assert_same_run(reference.run, d)
    before = snapshot(d)
    with pytest.raises(RunFinished, match="finished run"):
        RunContext(LAB, Cfg(), runs_dir=root, quiet=True, force_cpu=True, resume=d)
    assert snapshot(d) == before
    return notes
