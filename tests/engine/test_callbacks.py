"""Callbacks: hook order, early stopping, learning-rate schedules, the progress bar,
the standard set."""

import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from dlc.engine import RunContext, Supervised, evaluate, fit
from dlc.engine import checkpoint as ckpt
from dlc.engine.callbacks import (
    Callback,
    Checkpoint,
    Curves,
    EarlyStopping,
    LRSchedule,
    MetricsLogger,
    ProgressBar,
    TensorBoard,
    format_record,
    standard_callbacks,
)
from dlc.errors import DlcError


@dataclass
class Cfg:
    n: int = 0


@pytest.fixture
def ctx(tmp_path):
    with RunContext.open("callbacks-test", Cfg(), runs_dir=tmp_path, quiet=True, force_cpu=True) as c:
        yield c


def data(n=200):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    return x, (x[:, 0] > 0).long()


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))


def supervised(m, lr=0.1):
    return Supervised(m, torch.optim.SGD(m.parameters(), lr=lr))


class Recorder(Callback):
    """Records each hook call, and checks what the loop object says at that moment."""

    def __init__(self):
        self.calls = []

    def on_fit_start(self, loop):
        assert loop.epoch == loop.batch == loop.step_count == 0 and loop.history == []
        self.calls.append("fit_start")

    def on_epoch_start(self, loop, epoch):
        assert loop.epoch == epoch and loop.batch == 0
        self.calls.append(f"epoch_start {epoch}")

    def on_batch_end(self, loop, step):
        assert loop.step_count == step and loop.batch == step - loop.epoch * loop.steps_per_epoch
        self.calls.append(f"batch {step}")

    def on_steps_logged(self, loop, steps, scores):
        assert len(scores) == len(steps)
        assert all(set(s) == {"loss", "error"} and all(isinstance(v, float) for v in s.values()) for s in scores)
        self.calls.append(f"logged {steps[0]}-{steps[-1]}")

    def on_epoch_end(self, loop, record):
        assert loop.history[-1] is record and loop.epoch == record["epoch"]
        self.calls.append(f"epoch_end {record['epoch']}")

    def on_fit_end(self, loop, history):
        assert loop.history is history
        self.calls.append(f"fit_end {len(history)}")

    def on_teardown(self, loop):
        self.calls.append("teardown")


def test_hooks_are_called_in_order(ctx):
    rec = Recorder()
    step = supervised(model())

    class Sees(Callback):
        def on_fit_start(self, loop):
            assert loop.step is step and loop.ctx is ctx and loop.epochs == 2 and loop.steps_per_epoch == 2
            assert set(loop.step.models()) == {"model"}

    fit(step, data(100), ctx, epochs=2, batch_size=50, callbacks=[rec, Sees()])
    assert rec.calls == [
        "fit_start",
        "epoch_start 0",
        "batch 1",
        "batch 2",
        "logged 1-2",
        "epoch_end 1",
        "epoch_start 1",
        "batch 3",
        "batch 4",
        "logged 3-4",
        "epoch_end 2",
        "fit_end 2",
        "teardown",
    ]


def test_teardown_runs_after_an_error(ctx):
    rec = Recorder()

    class Fail(Callback):
        def on_batch_end(self, loop, step):
            if step == 3:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fit(supervised(model()), data(100), ctx, epochs=2, batch_size=50, callbacks=[rec, Fail()])
    assert rec.calls[-2:] == ["batch 3", "teardown"] and "fit_end 2" not in rec.calls


def test_losses_are_synced_every_few_steps_not_every_step(ctx):
    rec = Recorder()
    fit(supervised(model()), data(200), ctx, epochs=1, batch_size=20, callbacks=[rec], sync_every=4)
    logged = [c for c in rec.calls if c.startswith("logged")]
    assert len(logged) < 10  # 10 steps, read back in a few blocks
    assert logged[0] in ("logged 1-4", "logged 1-1", "logged 1-2", "logged 1-3")  # (or each second)
    assert logged[-1].endswith("-10")


class Worsen(Callback):
    """Make the monitored number go up after epoch 3, so that stopping is certain."""

    def on_epoch_end(self, loop, record):
        if record["epoch"] > 3:
            record["val_loss"] = 10.0 + record["epoch"]


def test_early_stopping_stops_after_patience_and_restores_the_best_weights(ctx):
    x, y = data()
    stop = EarlyStopping(patience=3)
    step = supervised(model())
    h = fit(step, (x, y), ctx, epochs=50, batch_size=50, val=(x, y), callbacks=[Worsen(), stop])
    best = min(h, key=lambda r: r["val_loss"])
    assert stop.best_epoch == best["epoch"] <= 3
    assert stop.stopped_epoch == len(h) == best["epoch"] + 3
    # the weights in the model now are those of the best epoch, not of the last one
    assert evaluate(step, (x, y), ctx)["loss"] == pytest.approx(best["val_loss"], rel=1e-6)
    with pytest.raises(DlcError, match="patience"):
        EarlyStopping(patience=0)


def lrs(kind, epochs=6, steps=4, **kw):
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    seen = []

    class Watch(Callback):
        def on_batch_end(self, loop, step):
            seen.append(opt.param_groups[0]["lr"])

    h = fit(
        Supervised(m, opt),
        data(steps * 10),
        None,
        epochs=epochs,
        batch_size=10,
        callbacks=[Watch(), LRSchedule(kind, **kw)],
    )
    return [r["lr"] for r in h], seen


def test_lr_schedules():
    per_epoch, _ = lrs("step", step_size=2, gamma=0.5)
    assert per_epoch == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    per_epoch, _ = lrs("cosine", eta_min=0.0)
    assert per_epoch == pytest.approx([0.05 * (1 + math.cos(math.pi * e / 6)) for e in range(6)])
    _, per_step = lrs("one-cycle", max_lr=1.0)
    assert len(per_step) == 24
    peak = per_step.index(max(per_step))
    assert 0 < peak < 23 and max(per_step) == pytest.approx(1.0, rel=0.05)
    assert per_step[-1] < 0.01 and per_step[0] < 0.1
    # a step schedule per step: gamma every step_size steps
    _, per_step = lrs("step", interval="step", step_size=4, gamma=0.5)
    assert per_step == pytest.approx([0.1 * 0.5 ** (s // 4) for s in range(24)])
    with pytest.raises(DlcError, match="unknown schedule"):
        LRSchedule("linear")
    with pytest.raises(DlcError, match="interval must be"):
        LRSchedule("cosine", interval="batch")


def test_a_torch_scheduler_through_lr_schedule_steps_once_per_epoch():
    """Any torch scheduler: a function (optimizer, total) -> scheduler; total counts the
    intervals of the fit (epochs, or steps with interval="step")."""
    totals = []

    def exponential(opt, total):
        totals.append(total)
        return torch.optim.lr_scheduler.ExponentialLR(opt, 0.5)

    m = model()
    h = fit(
        Supervised(m, torch.optim.SGD(m.parameters(), lr=1.0)),
        data(100),
        None,
        epochs=3,
        batch_size=10,
        callbacks=[LRSchedule(exponential)],
    )
    assert [r["lr"] for r in h] == [1.0, 0.5, 0.25]
    h = fit(
        Supervised(m, torch.optim.SGD(m.parameters(), lr=1.0)),
        data(100),
        None,
        epochs=3,
        batch_size=10,
        callbacks=[LRSchedule(exponential, interval="step")],
    )
    assert [r["lr"] for r in h] == pytest.approx([1.0, 0.5**10, 0.5**20])
    assert totals == [3, 30]


def test_lr_schedule_with_two_optimizers_needs_to_be_told_which():
    from dlc.engine import Step

    class Two(Step):
        def __init__(self):
            self.a, self.b = nn.Linear(2, 1), nn.Linear(2, 1)
            self.opt_a = torch.optim.SGD(self.a.parameters(), lr=1.0)
            self.opt_b = torch.optim.SGD(self.b.parameters(), lr=1.0)

        def __call__(self, batch):
            (x,) = batch
            loss = self.a(x).pow(2).mean() + self.b(x).pow(2).mean()
            self.opt_a.zero_grad()
            self.opt_b.zero_grad()
            loss.backward()
            self.opt_a.step()
            self.opt_b.step()
            return {"loss": loss.detach()}

    x = data(40)[0]
    with pytest.raises(DlcError, match="2 optimizers; say which with optimizer="):
        fit(Two(), (x,), None, epochs=1, batch_size=10, callbacks=[LRSchedule("step")])
    two = Two()
    fit(
        two,
        (x,),
        None,
        epochs=2,
        batch_size=10,
        callbacks=[LRSchedule("step", optimizer=two.opt_b, step_size=1, gamma=0.5)],
    )
    assert two.opt_a.param_groups[0]["lr"] == 1.0 and two.opt_b.param_groups[0]["lr"] == 0.25


def test_best_checkpoint_tracks_the_monitored_quantity(ctx):
    x, y = data()
    fit(
        supervised(model(), lr=0.5),
        (x, y),
        ctx,
        epochs=6,
        batch_size=50,
        val=(x, y),
        callbacks=[Worsen(), Checkpoint(monitor="val_loss")],
    )
    best = ckpt.load(ctx.dir / "checkpoints" / "best.pt")
    assert best["epoch"] <= 3 and best["value"] < 10


def test_progress_bar_writes_loss_and_speed(ctx, capsys):
    x, y = data()
    fit(supervised(model()), (x, y), ctx, epochs=2, batch_size=50, callbacks=[ProgressBar()])
    out = "".join(capsys.readouterr())
    assert "epoch 2/2" in out and "samples/s" in out and "train loss" in out
    # epoch_lines=False: the bar only, no line per epoch
    fit(supervised(model()), (x, y), ctx, epochs=2, batch_size=50, callbacks=[ProgressBar(epoch_lines=False)])
    out = "".join(capsys.readouterr())
    assert "epoch 2/2" in out and "train loss" not in out


def test_the_standard_callbacks(tmp_path):
    kinds = [type(c) for c in standard_callbacks(None)]
    assert kinds == []  # no run folder: nothing
    with RunContext.open("callbacks-test", Cfg(), runs_dir=tmp_path, force_cpu=True) as loud:
        cbs = standard_callbacks(loud)
        assert [type(c) for c in cbs] == [ProgressBar, MetricsLogger, TensorBoard, Curves, Checkpoint]
        assert cbs[-1].every == 500 and cbs[0].epoch_lines
    with RunContext.open("callbacks-test", Cfg(), runs_dir=tmp_path, quiet=True, force_cpu=True) as quiet:
        cbs = standard_callbacks(quiet, checkpoint_every=7, curves=False)
        assert [type(c) for c in cbs] == [MetricsLogger, TensorBoard, Checkpoint]  # ctx is quiet
        assert cbs[-1].every == 7
        cbs = standard_callbacks(loud, epoch_lines=False)
        assert not cbs[0].epoch_lines


def test_callbacks_none_is_the_standard_set_and_a_list_is_exactly_that(tmp_path):
    x, y = data(100)
    with RunContext.open("callbacks-test", Cfg(), runs_dir=tmp_path, quiet=True, force_cpu=True) as ctx:
        fit(supervised(model()), (x, y), ctx, epochs=1, batch_size=50)
        assert {p.name for p in ctx.dir.iterdir()} >= {"metrics.jsonl", "curves.png", "tensorboard", "checkpoints"}
    with RunContext.open("callbacks-test", Cfg(), runs_dir=tmp_path, quiet=True, force_cpu=True) as ctx:
        fit(supervised(model()), (x, y), ctx, epochs=1, batch_size=50, callbacks=[])
        # .lock: the folder is in use by this process
        assert {p.name for p in ctx.dir.iterdir()} == {"config.json", "metrics.jsonl", ".lock"}
        assert (ctx.dir / "metrics.jsonl").read_text() == ""
        fit(supervised(model()), (x, y), ctx, epochs=2, batch_size=50, callbacks=[MetricsLogger(every=0)])
        assert {p.name for p in ctx.dir.iterdir()} == {"config.json", "metrics.jsonl", ".lock"}
        lines = (ctx.dir / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == 2 and all('"kind": "epoch"' in line for line in lines)


def test_format_record():
    line = format_record(
        {
            "epoch": 2,
            "train_loss": 0.5,
            "train_error": 0.1,
            "val_loss": 0.6,
            "val_error": 0.2,
            "lr": 0.1,
            "samples_per_s": 1234.5,
            "time_s": 1.0,
        },
        10,
    )
    assert line == (
        "epoch 2/10, train loss 0.5000, val loss 0.6000, train error 10.00%, val error 20.00%, 1,234 samples/s"
    )
    # a step's own scores (no epochs given): each score, train then val; non-floats left out
    line = format_record(
        {
            "epoch": 1,
            "train_d_loss": 1.5,
            "train_g_loss": 0.75,
            "val_d_loss": 1.25,
            "val_n": 3,
            "lr": None,
            "samples_per_s": 99.6,
            "time_s": 1.0,
        }
    )
    assert line == "epoch 1, train d loss 1.5000, val d loss 1.2500, train g loss 0.7500, 100 samples/s"


def test_time_limit_stops_mid_epoch_and_does_not_charge_validation(ctx, monkeypatch):
    from dlc.engine import callbacks as cb_module
    from dlc.engine.callbacks import TimeLimit

    clock = {"t": 0.0}
    monkeypatch.setattr(cb_module.time, "perf_counter", lambda: clock["t"])  # a clock the test moves

    class Tick(Callback):  # every step takes one second
        def on_batch_end(self, loop, step):
            clock["t"] += 1.0

    class SlowValidation(Callback):  # and each epoch's validation 100 seconds
        def on_epoch_end(self, loop, record):
            clock["t"] += 100.0

    x, y = data(200)
    limit = TimeLimit(10)
    h = fit(supervised(model()), (x, y), ctx, epochs=20, batch_size=50, callbacks=[Tick(), limit, SlowValidation()])
    # 4 steps an epoch: 4 s, 8 s, then the 10th step (the 2nd of epoch 3) reaches 10 s
    assert limit.stopped_step == 10 and len(h) == 3 and limit.spent == 10
    assert h[-1]["epoch"] == 3 and math.isfinite(h[-1]["train_loss"])
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(DlcError, match="time limit"):
            TimeLimit(bad)
