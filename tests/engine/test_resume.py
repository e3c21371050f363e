"""Resuming: a run stopped at any point and resumed ends exactly where an uninterrupted
run with the same seed ends (CPU): same weights, same history, same metrics file.

In-process tests stop a two-fit "lab" at chosen steps (an exception stands for
SIGKILL: what is on disk is what the last checkpoint wrote; ``os.kill(SIGINT)`` for
Ctrl-C). Real signals at random points, real ``dlc run`` processes interrupted and
resumed, and damaged or foreign checkpoints are the fault-injection suite's
(tests/faults/).
"""

import json
import os
import signal
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from dlc.engine import RunContext, Supervised, evaluate, fit
from dlc.engine import checkpoint as ckpt
from dlc.engine.callbacks import Callback, Checkpoint, EarlyStopping, LRSchedule, MetricsLogger, standard_callbacks
from dlc.errors import DlcError

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


# -- a finished run, more epochs, what a run folder holds ------------------------------------


@dataclass
class OneFit:
    epochs: int = 3
    lr: float = 0.5
    schedule: bool = False


def one_fit(root, cfg=None, resume=None, finish=True):
    """A run of one shuffled fit with dropout (the random state matters), finished with a summary."""
    from dlc.labs import Result

    cfg = cfg or OneFit()
    with RunContext.open("resume-test", cfg, runs_dir=root, quiet=True, force_cpu=True, resume=resume) as ctx:
        g = torch.Generator().manual_seed(1)
        x = torch.randn(64, 2, generator=g)
        y = (x[:, 0] > x[:, 1]).long()
        m = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 2))
        extra = [LRSchedule("step", step_size=1, gamma=0.9)] if cfg.schedule else []
        h = fit(
            Supervised(m, torch.optim.SGD(m.parameters(), lr=cfg.lr)),
            (x, y),
            ctx,
            epochs=cfg.epochs,
            batch_size=16,
            callbacks=[MetricsLogger(), Checkpoint(every=3), *extra],
        )
        if finish:
            ctx.finish(Result(f"loss {h[-1]['train_loss']:.4f}", metrics={"loss": h[-1]["train_loss"]}))
        return ctx.dir, without_timings(h), m.state_dict()


def files_of(run):
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}


def test_resuming_a_finished_run_says_so_and_changes_nothing(tmp_path):
    from dlc.engine.context import RunFinished

    d, _, _ = one_fit(tmp_path)
    before = files_of(d)
    summary = json.loads((d / "summary.json").read_text())
    with pytest.raises(RunFinished, match="is a finished run .*nothing to resume, and nothing was changed") as e:
        one_fit(tmp_path, resume=d)
    assert "more --epochs" in str(e.value) and summary["line"] in str(e.value)
    assert files_of(d) == before  # summary.json's duration included: not rewritten
    assert json.loads((d / "summary.json").read_text())["duration_s"] == summary["duration_s"]


def test_a_finished_run_resumed_with_more_epochs_trains_further(tmp_path):
    """Only epochs may change on resume: 3 epochs then 3 more end where 6 at once end."""
    _, history, weights = one_fit(tmp_path / "straight", OneFit(epochs=6))
    d, _, _ = one_fit(tmp_path / "runs", OneFit(epochs=3))
    assert json.loads((d / "config.json").read_text())["config"]["epochs"] == 3
    got_dir, got_history, got_weights = one_fit(tmp_path / "runs", OneFit(epochs=6), resume=d)
    assert got_dir == d and got_history == history
    for k, w in weights.items():
        assert torch.equal(w, got_weights[k]), k
    assert json.loads((d / "config.json").read_text())["config"]["epochs"] == 6
    assert json.loads((d / "summary.json").read_text())["config"]["epochs"] == 6
    with pytest.raises(DlcError, match="is a finished run"):
        one_fit(tmp_path / "runs", OneFit(epochs=6), resume=d)


def test_a_fit_cannot_be_shortened_nor_its_schedule_stretched(tmp_path):
    d, _, _ = one_fit(tmp_path, OneFit(epochs=3))
    before = files_of(d)
    with pytest.raises(DlcError, match="already trained 3 epochs .* resume with at least 3 epochs"):
        one_fit(tmp_path, OneFit(epochs=2), resume=d)
    assert files_of(d) == before  # config.json still says 3 epochs: nothing was committed
    d2, _, _ = one_fit(tmp_path / "sched", OneFit(epochs=3, schedule=True))
    with pytest.raises(DlcError, match="schedule was laid out over 3 epochs and cannot be stretched"):
        one_fit(tmp_path / "sched", OneFit(epochs=5, schedule=True), resume=d2)


def test_a_checkpoint_records_whose_it_is(tmp_path):
    d, _, _ = one_fit(tmp_path, finish=False)
    state = ckpt.load(d / "checkpoints" / "last.pt")
    config = json.loads((d / "config.json").read_text())
    assert state["format"] == ckpt.FORMAT and state["version"] == ckpt.VERSION
    ident = state["identity"]
    assert ident["lab"] == "resume-test" and ident["run_id"] == config["run_id"] and ident["seed"] == 0
    assert ident["options"] == {"lr": 0.5, "schedule": False}  # epochs is not part of it
    assert ident["config_hash"] == ckpt.identity("resume-test", "x", d, OneFit(epochs=99), 0)["config_hash"]
    assert ident["config_hash"] != ckpt.identity("resume-test", "x", d, OneFit(lr=0.1), 0)["config_hash"]
    assert ident["config_hash"] != ckpt.identity("resume-test", "x", d, OneFit(), 1)["config_hash"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "its config.json is not valid JSON"),
        (b"\xff\xfe{}", "its config.json is not valid JSON"),
        ('["resume-test"]', "that folder is a run of None"),
        ('{"lab": "resume-test", "seed": "zero"}', "its config.json is damaged ('seed' is str"),
        ('{"lab": "resume-test", "config": [1, 2]}', "its config.json is damaged ('config' is list"),
    ],
    ids=["invalid JSON", "not UTF-8", "not an object", "a seed of text", "a config list"],
)
def test_a_resume_folder_with_a_bad_config_json_is_a_clear_error(tmp_path, content, message):
    from dlc.engine.context import saved_run_config

    d = tmp_path / "run"
    d.mkdir()
    (d / "config.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DlcError, match="cannot resume") as e:
        saved_run_config(d, "resume-test")
    assert message in str(e.value)
    with pytest.raises(DlcError, match=message.replace("(", r"\(")):
        RunContext("resume-test", Cfg(), resume=d, quiet=True, force_cpu=True)
    assert sorted(p.name for p in d.iterdir()) == ["config.json"]  # nothing written


def test_a_run_killed_before_its_first_record_leaves_no_folder_after_the_next_run(tmp_path):
    """The folder of a run killed before producing anything (config.json, an empty
    metrics.jsonl, a temporary file, the lock of a dead process) goes with the next run;
    one whose lock is held (a run that has just started) stays."""
    from dlc.io import pid_alive

    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    assert not pid_alive(pid)
    lab = tmp_path / "resume-test"
    killed = lab / "20200101-000000"
    killed.mkdir(parents=True)
    (killed / "config.json").write_text("{}")
    (killed / "metrics.jsonl").write_text("")
    (killed / f".config.json.tmp{pid}").write_text("{")
    (killed / ".lock").write_text(json.dumps({"pid": pid, "host": os.uname().nodename}))
    with RunContext.open("resume-test", Cfg(), runs_dir=tmp_path, quiet=True) as busy:
        with RunContext.open("resume-test", Cfg(), runs_dir=tmp_path, quiet=True) as ctx:
            ctx.log(x=1)
        assert not killed.exists()
        assert busy.dir.exists()  # held by its (live) run, though empty so far
        busy.log(x=1)
    assert sorted(lab.iterdir()) == sorted([busy.dir, ctx.dir])
