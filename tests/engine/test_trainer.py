"""The Trainer: fit, evaluate, predict over tensors and DataLoaders; its run-folder outputs;
its errors."""

import json
import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from dlc.engine import RunContext, Trainer
from dlc.engine import checkpoint as ckpt
from dlc.errors import DlcError, NonFiniteLoss


@dataclass
class Cfg:
    n: int = 0


def xor_data(n=400, seed=0):
    """Two classes by the sign of x0 * x1: not linearly separable."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    return x, (x[:, 0] * x[:, 1] > 0).long()


def mlp():
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))


@pytest.fixture
def ctx(tmp_path):
    with RunContext.open("engine-test", Cfg(), runs_dir=tmp_path, quiet=True, force_cpu=True) as c:
        yield c


def test_fit_learns_and_reports_history(ctx):
    x, y = xor_data()
    model = mlp()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.5), ctx)
    before = trainer.evaluate((x, y))
    history = trainer.fit((x, y), epochs=30, batch_size=50, val=(x[:100], y[:100]))
    after = trainer.evaluate((x, y))

    assert [r["epoch"] for r in history] == list(range(1, 31))
    assert set(history[0]) == {"epoch", "train_loss", "train_error", "val_loss", "val_error",
                               "lr", "samples_per_s", "time_s"}
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert after["error"] < 0.15 < before["error"]
    assert after["n"] == 400 and after["correct"] == round((1 - after["error"]) * 400)
    # the evaluation agrees with a hand computation
    with torch.no_grad():
        out = model(x)
    assert after["loss"] == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-5)
    assert after["correct"] == int((out.argmax(1) == y).sum())


def test_dataloader_and_tensors_give_the_same_training(ctx):
    """Without shuffling, a DataLoader and the tensors yield the same batches."""
    x, y = xor_data(300)
    results = []
    for data in [(x, y), torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=40)]:
        torch.manual_seed(1)
        model = mlp()
        t = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.2), ctx, plot=False,
                    checkpoints=False, tensorboard=False)
        results.append(t.fit(data, epochs=3, batch_size=40, shuffle=False))
    assert [r["train_loss"] for r in results[0]] == [r["train_loss"] for r in results[1]]


def test_the_loop_is_the_plain_loop(ctx):
    """fit() without shuffling does exactly what the lecture's hand-written loop does."""
    x, y = xor_data(200)
    torch.manual_seed(3)
    a = mlp()
    b = mlp()
    b.load_state_dict(a.state_dict())
    Trainer(a, torch.optim.SGD(a.parameters(), lr=0.1), ctx, plot=False, checkpoints=False,
            tensorboard=False).fit((x, y), epochs=2, batch_size=50, shuffle=False)
    opt = torch.optim.SGD(b.parameters(), lr=0.1)
    for _ in range(2):
        for i in range(0, 200, 50):
            loss = nn.functional.cross_entropy(b(x.narrow(0, i, 50)), y.narrow(0, i, 50))
            b.zero_grad()
            loss.backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_run_folder_outputs(ctx):
    x, y = xor_data()
    model = mlp()
    Trainer(model, torch.optim.SGD(model.parameters(), lr=0.3), ctx, name="small").fit(
        (x, y), epochs=3, batch_size=100, val=(x, y))
    d = ctx.dir
    assert (d / "small-curves.png").read_bytes()[:4] == b"\x89PNG"
    assert list((d / "tensorboard" / "small").glob("events.out.tfevents.*"))
    records = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["step"] for r in steps] == list(range(1, 13))
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert all(r["trainer"] == "small" for r in records)
    last = ckpt.load(d / "checkpoints" / "small-last.pt")
    best = ckpt.load(d / "checkpoints" / "small-best.pt")
    assert last["epoch"] == 3 and last["step"] == 12 and last["finished"]
    assert best["monitor"] == "val_loss"
    assert best["value"] == min(r["val_loss"] for r in epochs)
    for k, v in last["model"].items():
        assert torch.equal(v, model.state_dict()[k])


def test_checkpoints_load_with_weights_only_and_leave_no_temporary_files(ctx):
    x, y = xor_data(100)
    model = mlp()
    Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), ctx, checkpoint_every=1).fit(
        (x, y), epochs=2, batch_size=25)
    files = sorted(p.name for p in (ctx.dir / "checkpoints").iterdir())
    assert files == ["best.pt", "last.pt"]
    torch.load(ctx.dir / "checkpoints" / "last.pt", weights_only=True)


def test_regression_with_mse_has_no_error_metric(ctx):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, generator=g) * 6 - 3
    y = torch.sin(x).view(-1)  # (N,) targets for an (N, 1) output: reshaped, not broadcast
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    t = Trainer(model, torch.optim.Adam(model.parameters(), lr=0.01), ctx, loss="mse", plot=False)
    h = t.fit((x, y), epochs=40, batch_size=20)
    assert "train_error" not in h[0]
    assert h[-1]["train_loss"] < 0.1 * h[0]["train_loss"]
    assert set(t.evaluate((x, y))) == {"loss", "n"}


def test_bce_with_logits_and_one_logit(ctx):
    x, y = xor_data()
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))
    t = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.5), ctx, loss="bce_with_logits",
                plot=False)
    t.fit((x, y.float()), epochs=30, batch_size=50)
    assert t.evaluate((x, y.float()))["error"] < 0.15


def test_predict_and_accuracy_metric(ctx):
    x, y = xor_data()
    model = mlp()
    t = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.5), ctx, metric="accuracy", plot=False)
    h = t.fit((x, y), epochs=5, batch_size=50)
    assert "train_accuracy" in h[0] and "train_error" not in h[0]
    out = t.predict(x, batch_size=64)
    assert out.shape == (400, 2)
    with torch.no_grad():
        assert torch.allclose(out, model(x), atol=1e-6)
    for training in (True, False):  # predict puts back the mode it found
        model.train(training)
        t.predict(x)
        assert model.training is training


def test_without_context_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y = xor_data(100)
    model = mlp()
    h = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1)).fit((x, y), epochs=2)
    assert len(h) == 2 and list(tmp_path.iterdir()) == []


def test_amp_is_ignored_on_cpu(ctx):
    model = mlp()
    t = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), ctx, amp=True)
    assert not t.amp and t.scaler is None


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_good_checkpoint(ctx):
    x, y = xor_data()
    x = x * 1e3
    model = mlp()
    t = Trainer(model, torch.optim.SGD(model.parameters(), lr=1e4), ctx, checkpoint_every=2,
                sync_every=1)
    with pytest.raises(NonFiniteLoss) as e:
        t.fit((x, y), epochs=50, batch_size=20)
    # its own class, so a lab can catch a divergence; still a DlcError for the command line
    assert isinstance(e.value, DlcError)
    msg = str(e.value)
    assert "the training loss became" in msg and "lower learning rate" in msg
    assert "gradient clipping" in msg and "last finite loss" in msg
    step = int(msg.split(" at step ")[1].split()[0])
    saved = ckpt.load(ctx.dir / "checkpoints" / "last.pt")
    assert saved["step"] < step
    assert all(torch.isfinite(v).all() for v in saved["model"].values())


def test_a_nan_input_raises_non_finite_loss_at_its_step(ctx):
    x, y = xor_data(n=100)
    x[45, 0] = float("nan")               # in the third batch of 20 (no shuffling)
    model = mlp()
    t = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), ctx, checkpoints=False,
                sync_every=1)
    with pytest.raises(NonFiniteLoss, match="became nan at step 3") as e:
        t.fit((x, y), epochs=2, batch_size=20, shuffle=False)
    assert issubclass(NonFiniteLoss, DlcError)
    assert "last finite loss" in str(e.value)


def test_bad_inputs_get_clear_errors(ctx):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(DlcError, match="unknown loss"):
        Trainer(model, opt, ctx, loss="hinge")
    with pytest.raises(DlcError, match="metric must be"):
        Trainer(model, opt, ctx, metric="f1")
    t = Trainer(model, opt, ctx)
    x, y = xor_data(10)
    with pytest.raises(DlcError, match="10 inputs but 9 targets"):
        t.fit((x, y[:9]))
    with pytest.raises(DlcError, match="pair of tensors or a DataLoader"):
        t.fit(x)
    with pytest.raises(DlcError, match="batch_size"):
        t.fit((x, y), batch_size=0)


def test_partial_last_batch_is_used(ctx):
    x, y = xor_data(105)
    model = mlp()
    t = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), ctx, plot=False)
    t.fit((x, y), epochs=1, batch_size=50)
    assert t.step == 3 and t.samples_seen == 105
    assert math.isfinite(t.history[0]["train_loss"])
