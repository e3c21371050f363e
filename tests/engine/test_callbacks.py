"""Callbacks: hook order, early stopping, learning-rate schedules, the progress bar."""

import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from dlc.engine import RunContext, Trainer
from dlc.engine import checkpoint as ckpt
from dlc.engine.callbacks import (Callback, Checkpoint, EarlyStopping, LRSchedule, ProgressBar,
                                  format_record)


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


def quiet_trainer(m, ctx, lr=0.1, **kw):
    return Trainer(m, torch.optim.SGD(m.parameters(), lr=lr), ctx, plot=False, tensorboard=False,
                   checkpoints=False, **kw)


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_fit_start(self, trainer):
        self.calls.append("fit_start")

    def on_epoch_start(self, trainer, epoch):
        self.calls.append(f"epoch_start {epoch}")

    def on_batch_end(self, trainer, step, loss):
        self.calls.append(f"batch {step}")

    def on_steps_logged(self, trainer, steps, losses):
        assert all(isinstance(v, float) for v in losses)
        self.calls.append(f"logged {steps[0]}-{steps[-1]}")

    def on_epoch_end(self, trainer, record):
        self.calls.append(f"epoch_end {record['epoch']}")

    def on_fit_end(self, trainer, history):
        self.calls.append(f"fit_end {len(history)}")

    def on_teardown(self, trainer):
        self.calls.append("teardown")


def test_hooks_are_called_in_order(ctx):
    rec = Recorder()
    quiet_trainer(model(), ctx, callbacks=[rec]).fit(data(100), epochs=2, batch_size=50)
    assert rec.calls == ["fit_start",
                         "epoch_start 0", "batch 1", "batch 2", "logged 1-2", "epoch_end 1",
                         "epoch_start 1", "batch 3", "batch 4", "logged 3-4", "epoch_end 2",
                         "fit_end 2", "teardown"]


def test_losses_are_synced_every_few_steps_not_every_step(ctx):
    rec = Recorder()
    quiet_trainer(model(), ctx, callbacks=[rec], sync_every=4).fit(data(200), epochs=1, batch_size=20)
    logged = [c for c in rec.calls if c.startswith("logged")]
    assert len(logged) < 10  # 10 steps, read back in a few blocks
    assert logged[0] in ("logged 1-4", "logged 1-1", "logged 1-2", "logged 1-3")  # (or each second)
    assert logged[-1].endswith("-10")


class Worsen(Callback):
    """Make the monitored number go up after epoch 3, so that stopping is certain."""

    def on_epoch_end(self, trainer, record):
        if record["epoch"] > 3:
            record["val_loss"] = 10.0 + record["epoch"]


def test_early_stopping_stops_after_patience_and_restores_the_best_weights(ctx):
    x, y = data()
    stop = EarlyStopping(patience=3)
    t = quiet_trainer(model(), ctx, callbacks=[Worsen(), stop])
    h = t.fit((x, y), epochs=50, batch_size=50, val=(x, y))
    best = min(h, key=lambda r: r["val_loss"])
    assert stop.best_epoch == best["epoch"] <= 3
    assert stop.stopped_epoch == len(h) == best["epoch"] + 3
    # the weights in the model now are those of the best epoch, not of the last one
    assert t.evaluate((x, y))["loss"] == pytest.approx(best["val_loss"], rel=1e-6)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


def lrs(kind, epochs=6, steps=4, **kw):
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    seen = []

    class Watch(Callback):
        def on_batch_end(self, trainer, step, loss):
            seen.append(opt.param_groups[0]["lr"])

    t = Trainer(m, opt, None, callbacks=[Watch(), LRSchedule(kind, **kw)], plot=False)
    h = t.fit(data(steps * 10), epochs=epochs, batch_size=10)
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
    with pytest.raises(ValueError, match="unknown schedule"):
        LRSchedule("linear")


def test_a_torch_scheduler_given_to_the_trainer_steps_once_per_epoch():
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    t = Trainer(m, opt, None, scheduler=torch.optim.lr_scheduler.ExponentialLR(opt, 0.5), plot=False)
    h = t.fit(data(100), epochs=3, batch_size=10)
    assert [r["lr"] for r in h] == [1.0, 0.5, 0.25]


def test_best_checkpoint_tracks_the_monitored_quantity(ctx):
    x, y = data()
    m = model()
    t = Trainer(m, torch.optim.SGD(m.parameters(), lr=0.5), ctx, plot=False, tensorboard=False,
                callbacks=[Worsen(), Checkpoint(monitor="val_loss")])
    t.fit((x, y), epochs=6, batch_size=50, val=(x, y))
    best = ckpt.load(ctx.dir / "checkpoints" / "best.pt")
    assert best["epoch"] <= 3 and best["value"] < 10


def test_progress_bar_writes_loss_and_speed(ctx, capsys):
    x, y = data()
    m = model()
    t = Trainer(m, torch.optim.SGD(m.parameters(), lr=0.1), ctx, progress=True,
                plot=False, tensorboard=False, checkpoints=False)
    t.fit((x, y), epochs=2, batch_size=50)
    out = "".join(capsys.readouterr())
    assert "epoch 2/2" in out and "samples/s" in out and "train loss" in out
    assert any(isinstance(c, ProgressBar) for c in t.callbacks)
    quiet = Trainer(m, torch.optim.SGD(m.parameters(), lr=0.1), ctx)
    assert not any(isinstance(c, ProgressBar) for c in quiet.callbacks)  # ctx is quiet


def test_format_record():
    line = format_record({"epoch": 2, "train_loss": 0.5, "train_error": 0.1, "val_loss": 0.6,
                          "val_error": 0.2, "lr": 0.1, "samples_per_s": 1234.5, "time_s": 1.0}, 10)
    assert line == ("epoch 2/10, train loss 0.5000, val loss 0.6000, train error 10.00%, "
                    "val error 20.00%, 1,234 samples/s")
