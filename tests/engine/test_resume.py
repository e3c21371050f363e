"""Resuming: a run stopped at any point and resumed ends exactly where an uninterrupted
run with the same seed ends (CPU): same weights, same history, same metrics file.

In-process tests stop a two-fit "lab" at chosen steps (an exception stands for
SIGKILL: what is on disk is what the last checkpoint wrote; ``os.kill(SIGINT)`` for
Ctrl-C). The command-line test interrupts real ``dlc run`` processes with SIGINT and
SIGKILL and resumes them with ``--resume``.
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from dlc.engine import RunContext, Supervised, evaluate, fit
from dlc.engine import checkpoint as ckpt
from dlc.engine.callbacks import Callback, Checkpoint, EarlyStopping, LRSchedule, MetricsLogger, standard_callbacks
from dlc.errors import DlcError
from tests.conftest import requires_mnist

TIMINGS = ("time_s", "samples_per_s")


@dataclass
class Cfg:
    epochs: int = 4


class Killed(Exception):
    pass


class StopAt(Callback):
    """Interrupt one fit after a given step."""

    def __init__(self, step: int, how: str):
        self.at, self.how = step, how

    def on_batch_end(self, loop, step):
        if step == self.at:
            if self.how == "kill":
                raise Killed
            os.kill(os.getpid(), signal.SIGINT)


def two_fit_lab(ctx, stop=None):
    """Like a lab: a shuffled tensor fit (a), then a DataLoader fit with dropout, a
    one-cycle schedule stepped every batch and early stopping (b), its extra callbacks
    after the standard ones, as a lab adds them. ``stop``: (fit name, step, how)."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(240, 2, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long()
    ctx.log(note="before the fits")

    def extra(name):
        return [StopAt(stop[1], stop[2])] if stop and stop[0] == name else []

    a = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    ha = fit(
        Supervised(a, torch.optim.SGD(a.parameters(), lr=0.3, momentum=0.9)),
        (x, y),
        ctx,
        epochs=ctx.config.epochs,
        batch_size=32,
        shuffle=True,
        name="a",
        callbacks=[*extra("a"), MetricsLogger(), Checkpoint(every=3)],
    )

    b = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 2))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    step_b = Supervised(b, torch.optim.Adam(b.parameters(), lr=0.01))
    hb = fit(
        step_b,
        loader,
        ctx,
        epochs=ctx.config.epochs,
        val=(x[:64], y[:64]),
        name="b",
        callbacks=[
            *standard_callbacks(ctx, "b", checkpoint_every=5, curves=False),
            LRSchedule("one-cycle", max_lr=0.05),
            EarlyStopping(patience=50),
            *extra("b"),
        ],
    )
    ctx.log(note="after the fits", final=evaluate(step_b, (x, y), ctx)["loss"])
    return {
        "a": a.state_dict(),
        "b": b.state_dict(),
        "ha": ha,
        "hb": hb,
        "random": torch.rand(3),
    }  # the global random state after the run


def run(root, stop=None, resume=None):
    with RunContext.open("resume-test", Cfg(), runs_dir=root, quiet=True, force_cpu=True, resume=resume) as ctx:
        return ctx.dir, two_fit_lab(ctx, stop)


def without_timings(records):
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in records]


def assert_same_run(ref, ref_dir, got, got_dir):
    for k in ("a", "b"):
        for name, w in ref[k].items():
            assert torch.equal(w, got[k][name]), f"{k}.{name} differs"
    assert without_timings(ref["ha"]) == without_timings(got["ha"])
    assert without_timings(ref["hb"]) == without_timings(got["hb"])
    assert torch.equal(ref["random"], got["random"])
    lines = [json.loads(s) for s in (ref_dir / "metrics.jsonl").read_text().splitlines()]
    again = [json.loads(s) for s in (got_dir / "metrics.jsonl").read_text().splitlines()]
    assert without_timings(lines) == without_timings(again)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return run(tmp_path_factory.mktemp("ref"))


# a: 8 steps per epoch, 32 steps; b: 8 steps per epoch. Stops before the first checkpoint,
# mid-epoch, right after an epoch's end, in the second fit, and with Ctrl-C.
@pytest.mark.parametrize(
    "stop",
    [
        ("a", 2, "kill"),
        ("a", 11, "kill"),
        ("a", 17, "kill"),
        ("b", 13, "kill"),
        ("a", 10, "sigint"),
        ("b", 7, "sigint"),
    ],
)
def test_stopped_and_resumed_equals_uninterrupted(tmp_path, reference, stop):
    ref_dir, ref = reference
    exc = Killed if stop[2] == "kill" else KeyboardInterrupt
    with pytest.raises(exc):
        run(tmp_path, stop)
    (d,) = list((tmp_path / "resume-test").iterdir())
    if stop[2] == "sigint":  # Ctrl-C saves a checkpoint at the step it arrived
        assert ckpt.load(d / "checkpoints" / f"{stop[0]}-last.pt")["step"] == stop[1]
    got_dir, got = run(tmp_path, resume=d)
    assert got_dir == d
    assert_same_run(ref, ref_dir, got, got_dir)


def test_resuming_twice_and_resuming_a_finished_run(tmp_path, reference):
    ref_dir, ref = reference
    with pytest.raises(Killed):
        run(tmp_path, ("a", 7, "kill"))
    (d,) = list((tmp_path / "resume-test").iterdir())
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, ("b", 12, "sigint"), resume=d)
    assert_same_run(ref, ref_dir, run(tmp_path, resume=d)[1], d)
    assert_same_run(ref, ref_dir, run(tmp_path, resume=d)[1], d)  # already finished


def test_resume_refuses_another_labs_folder(tmp_path, reference):
    ref_dir, _ = reference
    with pytest.raises(DlcError, match="is a run of 'resume-test'"):
        RunContext("another-lab", Cfg(), resume=ref_dir)


class Rates(Callback):
    """The learning rate each step used (listed first: read before a schedule moves it)."""

    def __init__(self):
        self.used = {}

    def on_batch_end(self, loop, step):
        self.used[step] = loop.step.optimizer.param_groups[0]["lr"]


def scheduled_fit(root, schedule, stop=None, resume=None):
    """One fit, 4 steps per epoch, a checkpoint every 3 steps listed before the schedule."""
    with RunContext.open("resume-test", Cfg(), runs_dir=root, quiet=True, force_cpu=True, resume=resume) as ctx:
        x, y = torch.randn(40, 2), torch.randint(0, 2, (40,))
        m = nn.Linear(2, 2)
        rates = Rates()
        callbacks = [rates, Checkpoint(every=3), LRSchedule(*schedule)] + ([StopAt(stop, "kill")] if stop else [])
        h = fit(
            Supervised(m, torch.optim.SGD(m.parameters(), lr=1.0)),
            (x, y),
            ctx,
            epochs=4,
            batch_size=10,
            callbacks=callbacks,
        )
        return ctx.dir, rates.used, without_timings(h), m.state_dict()


@pytest.mark.parametrize("schedule", [("step", "epoch"), ("one-cycle", "step")])
def test_a_resumed_fit_keeps_its_scheduled_learning_rate(tmp_path, schedule):
    """Stopped at step 7, resumed from the checkpoint of step 6 (mid-epoch): the steps
    after it use the learning rates of the uninterrupted fit."""
    _, used, history, weights = scheduled_fit(tmp_path / "ref", schedule)
    assert len(set(used.values())) > 3  # the schedule moves the rate
    with pytest.raises(Killed):
        scheduled_fit(tmp_path / "runs", schedule, stop=7)
    (d,) = list((tmp_path / "runs" / "resume-test").iterdir())
    assert ckpt.load(d / "checkpoints" / "last.pt")["step"] == 6
    _, used_after, history_after, weights_after = scheduled_fit(tmp_path / "runs", schedule, resume=d)
    assert used_after == {s: lr for s, lr in used.items() if s > 6}
    assert history_after == history
    for k, w in weights.items():
        assert torch.equal(w, weights_after[k])


# -- the command line, with real signals -------------------------------------------------


def _dlc(*args):
    return [sys.executable, "-m", "dlc", *args]


def _wait_for(path: Path, proc, newer_than: int = 0, timeout: float = 120) -> None:
    t0 = time.time()
    while not (path.is_file() and path.stat().st_mtime_ns > newer_than):
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before {path} was written: {proc.stderr.read()}")
        if time.time() - t0 > timeout:
            proc.kill()
            pytest.fail(f"no checkpoint {path} after {timeout} s")
        time.sleep(0.005)


@requires_mnist
def test_cli_interrupted_by_sigint_then_sigkill_resumes_to_the_same_result(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # --tiny: 500 images, 5 batches per epoch; 6 epochs = 30 steps. A lab's fit has the
    # standard checkpoints: at each epoch's end (every 5 steps here), and where Ctrl-C
    # arrives (mid-epoch, most likely)
    args = ["run", "lecture-convnet", "--tiny", "--force_cpu", "--quiet", "--epochs", "6", "--shuffle", "true"]
    kw = dict(env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ref = subprocess.Popen(_dlc(*args, "--runs_dir", str(tmp_path / "ref")), **kw)

    runs = tmp_path / "runs"
    first = subprocess.Popen(_dlc(*args, "--runs_dir", str(runs)), **kw)
    while not list(runs.glob("lecture-convnet/*/config.json")):
        time.sleep(0.005)
    (d,) = [p.parent for p in runs.glob("lecture-convnet/*/config.json")]
    last = d / "checkpoints" / "last.pt"
    _wait_for(last, first)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert "--resume" in err
    stopped = ckpt.load(last)["step"]
    assert 0 < stopped < 30 and not (d / "summary.json").exists()

    mtime = last.stat().st_mtime_ns
    second = subprocess.Popen(
        _dlc("run", "lecture-convnet", "--quiet", "--runs_dir", str(runs), "--resume", str(d)), **kw
    )
    _wait_for(last, second, newer_than=mtime)
    second.send_signal(signal.SIGKILL)
    second.wait(timeout=60)
    assert second.returncode == -signal.SIGKILL
    assert stopped < ckpt.load(last)["step"] < 30 and not (d / "summary.json").exists()

    third = subprocess.run(
        _dlc("run", "lecture-convnet", "--quiet", "--runs_dir", str(runs), "--resume", str(d)), timeout=300, **kw
    )
    assert third.returncode == 0, third.stderr
    out, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err

    (ref_dir,) = list((tmp_path / "ref" / "lecture-convnet").iterdir())
    a = json.loads((ref_dir / "summary.json").read_text())
    b = json.loads((d / "summary.json").read_text())
    for k in TIMINGS:
        a["metrics"].pop(k), b["metrics"].pop(k)
    assert a["metrics"] == b["metrics"]
    assert a["metrics"]["epochs"] == 6
    ra = [json.loads(s) for s in (ref_dir / "metrics.jsonl").read_text().splitlines()]
    rb = [json.loads(s) for s in (d / "metrics.jsonl").read_text().splitlines()]
    assert without_timings(ra) == without_timings(rb)
    assert len([r for r in rb if r.get("kind") == "step"]) == 30
