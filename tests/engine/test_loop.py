"""The training loop: fit, evaluate, predict with the Supervised step over tensors and
DataLoaders; steps of one's own (a GAN's two optimisers, three-tensor batches); the
epoch order; the run-folder outputs; the errors."""

import json
import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlc.engine import RunContext, Step, Supervised, evaluate, fit, predict
from dlc.engine import checkpoint as ckpt
from dlc.engine.callbacks import Callback, standard_callbacks
from dlc.errors import DlcError, NonFiniteLoss


@dataclass
class Cfg:
    n: int = 0


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: one intra-op thread is several times faster than two on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def xor_data(n=400, seed=0):
    """Two classes by the sign of x0 * x1: not linearly separable."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    return x, (x[:, 0] * x[:, 1] > 0).long()


def mlp():
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))


def sgd(model, lr):
    return torch.optim.SGD(model.parameters(), lr=lr)


@pytest.fixture
def ctx(tmp_path):
    with RunContext.open("engine-test", Cfg(), runs_dir=tmp_path, quiet=True, force_cpu=True) as c:
        yield c


class LoopState(Callback):
    """Keeps the loop object, to read its final position after the fit."""

    def on_fit_end(self, loop, history):
        self.loop = loop


def test_fit_learns_and_reports_history(ctx):
    x, y = xor_data()
    model = mlp()
    step = Supervised(model, sgd(model, 0.5))
    before = evaluate(step, (x, y), ctx)
    history = fit(step, (x, y), ctx, epochs=30, batch_size=50, val=(x[:100], y[:100]))
    after = evaluate(step, (x, y), ctx)

    assert [r["epoch"] for r in history] == list(range(1, 31))
    assert set(history[0]) == {
        "epoch",
        "train_loss",
        "train_error",
        "val_loss",
        "val_error",
        "lr",
        "samples_per_s",
        "time_s",
    }
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert after["error"] < 0.15 < before["error"]
    assert set(after) == {"loss", "error", "n", "correct"}
    assert after["n"] == 400 and after["correct"] == round((1 - after["error"]) * 400)
    # the evaluation agrees with a hand computation
    with torch.no_grad():
        out = model(x)
    assert after["loss"] == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-5)
    assert after["correct"] == int((out.argmax(1) == y).sum())
    # and so does the last epoch's validation score (the same weights)
    with torch.no_grad():
        out = model(x[:100])
    assert history[-1]["val_loss"] == pytest.approx(F.cross_entropy(out, y[:100]).item(), rel=1e-5)
    assert history[-1]["val_error"] == pytest.approx((out.argmax(1) != y[:100]).float().mean().item())


def test_dataloader_and_tensors_give_the_same_training(ctx):
    """Without shuffling, a DataLoader and the tensors yield the same batches."""
    x, y = xor_data(300)
    results = []
    for data in [(x, y), torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=40)]:
        torch.manual_seed(1)
        model = mlp()
        results.append(
            fit(Supervised(model, sgd(model, 0.2)), data, ctx, epochs=3, batch_size=40, shuffle=False, callbacks=[])
        )
    assert [r["train_loss"] for r in results[0]] == [r["train_loss"] for r in results[1]]


def test_the_loop_is_the_plain_loop(ctx):
    """fit() without shuffling does exactly what the lecture's hand-written loop does."""
    x, y = xor_data(200)
    torch.manual_seed(3)
    a = mlp()
    b = mlp()
    b.load_state_dict(a.state_dict())
    fit(Supervised(a, sgd(a, 0.1)), (x, y), ctx, epochs=2, batch_size=50, shuffle=False, callbacks=[])
    opt = sgd(b, 0.1)
    for _ in range(2):
        for i in range(0, 200, 50):
            loss = F.cross_entropy(b(x.narrow(0, i, 50)), y.narrow(0, i, 50))
            b.zero_grad()
            loss.backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_run_folder_outputs(ctx):
    x, y = xor_data()
    model = mlp()
    fit(Supervised(model, sgd(model, 0.3)), (x, y), ctx, epochs=3, batch_size=100, val=(x, y), name="small")
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
    assert set(last["step_state"]["models"]) == {"model"}
    for k, v in last["step_state"]["models"]["model"].items():
        assert torch.equal(v, model.state_dict()[k])


def test_checkpoints_load_with_weights_only_and_leave_no_temporary_files(ctx):
    x, y = xor_data(100)
    model = mlp()
    fit(
        Supervised(model, sgd(model, 0.1)),
        (x, y),
        ctx,
        epochs=2,
        batch_size=25,
        callbacks=standard_callbacks(ctx, checkpoint_every=1),
    )
    files = sorted(p.name for p in (ctx.dir / "checkpoints").iterdir())
    assert files == ["best.pt", "last.pt"]
    torch.load(ctx.dir / "checkpoints" / "last.pt", weights_only=True)


def test_regression_with_mse_has_no_error_metric(ctx):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, generator=g) * 6 - 3
    y = torch.sin(x).view(-1)  # (N,) targets for an (N, 1) output: reshaped, not broadcast
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    step = Supervised(model, torch.optim.Adam(model.parameters(), lr=0.01), loss="mse")
    h = fit(step, (x, y), ctx, epochs=40, batch_size=20, callbacks=standard_callbacks(ctx, curves=False))
    assert "train_error" not in h[0]
    assert h[-1]["train_loss"] < 0.1 * h[0]["train_loss"]
    scores = evaluate(step, (x, y), ctx)
    assert set(scores) == {"loss", "n"}
    with torch.no_grad():
        assert scores["loss"] == pytest.approx(F.mse_loss(model(x), y.view(-1, 1)).item(), rel=1e-5)


def test_bce_with_logits_and_one_logit(ctx):
    x, y = xor_data()
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))
    step = Supervised(model, sgd(model, 0.5), loss="bce_with_logits")
    fit(step, (x, y.float()), ctx, epochs=30, batch_size=50, callbacks=standard_callbacks(ctx, curves=False))
    assert evaluate(step, (x, y.float()), ctx)["error"] < 0.15


def test_predict_and_accuracy_metric(ctx):
    x, y = xor_data()
    model = mlp()
    step = Supervised(model, sgd(model, 0.5), metric="accuracy")
    h = fit(step, (x, y), ctx, epochs=5, batch_size=50, callbacks=standard_callbacks(ctx, curves=False))
    assert "train_accuracy" in h[0] and "train_error" not in h[0]
    scores = evaluate(step, (x, y), ctx)
    assert set(scores) == {"loss", "accuracy", "n", "correct"}
    out = predict(model, x, batch_size=64)
    assert out.shape == (400, 2)
    with torch.no_grad():
        assert torch.allclose(out, model(x), atol=1e-6)
    assert scores["correct"] == int((out.argmax(1) == y).sum())
    for training in (True, False):  # predict puts back the mode it found
        model.train(training)
        predict(model, x)
        assert model.training is training


def test_evaluate_puts_back_the_mode_it_found(ctx):
    x, y = xor_data(100)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 2))
    step = Supervised(model, sgd(model, 0.1))
    a, b = evaluate(step, (x, y), ctx, batch_size=30), evaluate(step, (x, y), ctx)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)  # eval mode: no dropout, any batches
    for training in (True, False):
        model.train(training)
        evaluate(step, (x, y), ctx)
        assert model.training is training


def test_without_context_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y = xor_data(100)
    model = mlp()
    h = fit(Supervised(model, sgd(model, 0.1)), (x, y), epochs=2)  # callbacks=None: none without a run
    assert len(h) == 2 and list(tmp_path.iterdir()) == []


def test_amp_is_ignored_on_cpu(ctx):
    x, y = xor_data(100)
    model = mlp()
    step = Supervised(model, sgd(model, 0.1), amp=True)
    fit(step, (x, y), ctx, epochs=1, callbacks=[])
    assert not step.amp and step.scaler is None
    assert step.state_dict()["scaler"] is None


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_good_checkpoint(ctx):
    x, y = xor_data()
    x = x * 1e3
    model = mlp()
    with pytest.raises(NonFiniteLoss) as e:
        fit(
            Supervised(model, sgd(model, 1e4)),
            (x, y),
            ctx,
            epochs=50,
            batch_size=20,
            callbacks=standard_callbacks(ctx, checkpoint_every=2),
            sync_every=1,
        )
    # its own class, so a lab can catch a divergence; still a DlcError for the command line
    assert isinstance(e.value, DlcError)
    msg = str(e.value)
    assert "the training loss became" in msg and "lower learning rate" in msg
    assert "gradient clipping" in msg and "last finite loss" in msg
    assert "The last good checkpoint is kept" in msg
    step = int(msg.split(" at step ")[1].split()[0])
    saved = ckpt.load(ctx.dir / "checkpoints" / "last.pt")
    assert saved["step"] < step
    assert all(torch.isfinite(v).all() for v in saved["step_state"]["models"]["model"].values())


def test_a_nan_input_raises_non_finite_loss_at_its_step(ctx):
    x, y = xor_data(n=100)
    x[45, 0] = float("nan")  # in the third batch of 20 (no shuffling)
    model = mlp()
    with pytest.raises(NonFiniteLoss, match="became nan at step 3") as e:
        fit(
            Supervised(model, sgd(model, 0.1)),
            (x, y),
            ctx,
            epochs=2,
            batch_size=20,
            shuffle=False,
            callbacks=[],
            sync_every=1,
        )
    assert issubclass(NonFiniteLoss, DlcError)
    assert "last finite loss" in str(e.value) and "(epoch 1, batch 3)" in str(e.value)


def test_bad_inputs_get_clear_errors(ctx):
    model = mlp()
    opt = sgd(model, 0.1)
    with pytest.raises(DlcError, match="unknown loss"):
        Supervised(model, opt, loss="hinge")
    with pytest.raises(DlcError, match="metric must be"):
        Supervised(model, opt, metric="f1")
    with pytest.raises(DlcError, match="loss must be a name or a function"):
        Supervised(model, opt, loss=3)
    step = Supervised(model, opt)
    x, y = xor_data(10)
    with pytest.raises(DlcError, match=r"different lengths \[10, 9\]"):
        fit(step, (x, y[:9]), ctx, epochs=1, callbacks=[])
    with pytest.raises(DlcError, match="tuple of tensors .* or a DataLoader"):
        fit(step, [x.tolist(), y.tolist()], ctx, epochs=1, callbacks=[])
    with pytest.raises(DlcError, match="pair"):  # the supervised step needs (inputs, targets)
        fit(step, x, ctx, epochs=1, callbacks=[])
    with pytest.raises(DlcError, match="pair"):
        fit(step, (x, y, y), ctx, epochs=1, callbacks=[])
    with pytest.raises(DlcError, match="pair"):
        evaluate(step, x, ctx)
    with pytest.raises(DlcError, match="batch_size"):
        fit(step, (x, y), ctx, epochs=1, batch_size=0, callbacks=[])
    with pytest.raises(DlcError, match="epochs must be >= 0"):
        fit(step, (x, y), ctx, epochs=-1, callbacks=[])
    with pytest.raises(DlcError, match="empty"):
        fit(step, (x[:0], y[:0]), ctx, epochs=1, callbacks=[])
    with pytest.raises(DlcError, match="evaluate data: the tensors have different lengths"):
        evaluate(step, (x, y[:9]), ctx)


def test_partial_last_batch_is_used(ctx):
    x, y = xor_data(105)
    model = mlp()
    state = LoopState()
    h = fit(Supervised(model, sgd(model, 0.1)), (x, y), ctx, epochs=1, batch_size=50, callbacks=[state])
    assert state.loop.step_count == 3 and state.loop.samples_seen == 105
    assert math.isfinite(h[0]["train_loss"])


# -- steps of one's own ----------------------------------------------------------------------


class GAN(Step):
    """The steps module's example: a discriminator step, then a generator step."""

    def __init__(self, G, D, opt_g, opt_d):
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d

    def __call__(self, batch):
        (real,) = batch
        fake = self.G(torch.randn(len(real), 2, device=real.device))
        ones, zeros = torch.ones(len(real), 1), torch.zeros(len(real), 1)
        d_loss = F.binary_cross_entropy_with_logits(self.D(real), ones) + F.binary_cross_entropy_with_logits(
            self.D(fake.detach()), zeros
        )
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(self.D(fake), ones)
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def small_mlp(d_in, d_out, hidden=32):
    return nn.Sequential(
        nn.Linear(d_in, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, d_out),
    )


def sliced_wasserstein(a, b, directions=128, seed=1):
    """Mean over random directions of the 1-D Wasserstein-1 distance of the projections
    (equal sample counts: the mean gap between the sorted projections)."""
    theta = torch.randn(2, directions, generator=torch.Generator().manual_seed(seed))
    theta = theta / theta.norm(dim=0)
    pa, pb = (a @ theta).sort(0).values, (b @ theta).sort(0).values
    return (pa - pb).abs().mean().item()


def test_a_two_optimiser_gan_step_learns_a_shifted_gaussian():
    """A GAN trained through fit (its own step, two optimisers, one-tensor batches) moves
    its samples onto a 2-D Gaussian far from the untrained generator's outputs."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    mean, mix = torch.tensor([2.0, -1.0]), torch.tensor([[0.6, 0.0], [0.3, 0.3]])
    train = torch.randn(1000, 2, generator=g) @ mix + mean
    real = torch.randn(2000, 2, generator=g) @ mix + mean  # held out, to measure
    noise = torch.randn(2000, 2, generator=g)
    G, D = small_mlp(2, 2), small_mlp(2, 1)
    adam = dict(lr=1e-3, betas=(0.5, 0.999))
    step = GAN(G, D, torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(D.parameters(), **adam))
    assert set(step.models()) == {"G", "D"} and set(step.optimizers()) == {"opt_g", "opt_d"}
    d_before = [p.detach().clone() for p in D.parameters()]

    untrained = predict(G, noise)
    history = fit(step, (train,), None, epochs=30, batch_size=50, callbacks=[])
    trained = predict(G, noise)

    assert [r["epoch"] for r in history] == list(range(1, 31))
    assert set(history[0]) == {"epoch", "train_d_loss", "train_g_loss", "lr", "samples_per_s", "time_s"}
    assert any(not torch.equal(a, b) for a, b in zip(d_before, D.parameters()))  # both were trained
    # the measured comparison, in the same run: the trained generator is far closer
    swd_before, swd_after = sliced_wasserstein(untrained, real), sliced_wasserstein(trained, real)
    mean_before = (untrained.mean(0) - real.mean(0)).norm().item()
    mean_after = (trained.mean(0) - real.mean(0)).norm().item()
    assert swd_before > 1.0 and swd_after < 0.3 * swd_before, (swd_before, swd_after)
    assert mean_before > 1.5 and mean_after < 0.25 * mean_before, (mean_before, mean_after)
    # ... and close to the real samples in absolute terms (their spread is about 0.6)
    assert swd_after < 0.35
    # at the end the discriminator cannot tell: its loss is near 2 ln 2, the generator's near ln 2
    assert history[-1]["train_d_loss"] == pytest.approx(2 * math.log(2), abs=0.1)
    assert history[-1]["train_g_loss"] == pytest.approx(math.log(2), abs=0.1)


class Weighted(Step):
    """Three-tensor batches (x, y, z): a z-weighted least-squares fit of y on x; it
    reports its loss and two plain batch means."""

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer
        self.aligned = True

    def scores(self, batch):
        x, y, z = batch
        # rows stay aligned, shuffled or not: y = 2 x and z = x + 1 in every row
        self.aligned &= bool(torch.equal(y, 2 * x[:, 0]) and torch.equal(z, x[:, 0] + 1))
        loss = (z * (self.model(x)[:, 0] - y) ** 2).mean()
        return loss, {"loss": loss, "z": z.mean(), "xz": (x[:, 0] * z).mean()}

    def __call__(self, batch):
        loss, out = self.scores(batch)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {k: v.detach() for k, v in out.items()}

    def evaluate(self, batch):
        return self.scores(batch)[1]


def test_a_three_tensor_step_reports_its_keys_averaged_over_samples():
    x = torch.arange(10.0).view(-1, 1)
    y, z = 2 * x[:, 0], x[:, 0] + 1
    torch.manual_seed(0)
    a, b = nn.Linear(1, 1), nn.Linear(1, 1)
    b.load_state_dict(a.state_dict())
    step = Weighted(a, torch.optim.SGD(a.parameters(), lr=2e-4))
    # 10 samples in batches of 4: 4, 4 and a partial 2
    history = fit(step, (x, y, z), None, epochs=2, batch_size=4, shuffle=False, val=(x, y, z), callbacks=[])
    assert step.aligned
    assert set(history[0]) == {
        "epoch",
        "train_loss",
        "train_z",
        "train_xz",
        "val_loss",
        "val_z",
        "val_xz",
        "lr",
        "samples_per_s",
        "time_s",
    }

    # by hand: the same steps, then each epoch's means weighted by the batch sizes
    opt = torch.optim.SGD(b.parameters(), lr=2e-4)
    for epoch in range(2):
        sums = {"loss": 0.0, "z": 0.0, "xz": 0.0}
        for lo in range(0, 10, 4):
            xb, yb, zb = x[lo : lo + 4], y[lo : lo + 4], z[lo : lo + 4]
            loss = (zb * (b(xb)[:, 0] - yb) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            for k, v in (("loss", loss.item()), ("z", zb.mean().item()), ("xz", (xb[:, 0] * zb).mean().item())):
                sums[k] += v * len(xb)
        for k, s in sums.items():
            assert history[epoch][f"train_{k}"] == pytest.approx(s / 10, rel=1e-6), (epoch, k)
    # sample means, not means of the batch means (z: (2.5 + 6.5 + 9.5) / 3 = 6.17)
    assert history[0]["train_z"] == pytest.approx(z.mean().item()) == 5.5
    assert history[0]["train_xz"] == pytest.approx((x[:, 0] * z).mean().item()) == 33.0
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)
    with torch.no_grad():
        val_loss = (z * (b(x)[:, 0] - y) ** 2).mean().item()
    assert history[-1]["val_loss"] == pytest.approx(val_loss, rel=1e-6)
    assert history[-1]["val_z"] == pytest.approx(5.5)
    # evaluate averages over samples too, with a partial last batch
    scores = evaluate(step, (x, y, z), batch_size=3)
    assert scores["n"] == 10 and "correct" not in scores
    assert scores["z"] == pytest.approx(5.5) and scores["xz"] == pytest.approx(33.0)
    assert scores["loss"] == pytest.approx(val_loss, rel=1e-6)
    # shuffled, the three tensors are permuted together
    fit(step, (x, y, z), None, epochs=3, batch_size=3, callbacks=[])
    assert step.aligned


# -- the order of the samples -----------------------------------------------------------------


class Visits(Step):
    """No model: records the sample indices of every batch, epoch by epoch."""

    def __init__(self):
        self.epochs: list[list[list[int]]] = []

    def __call__(self, batch):
        (index,) = batch
        self.epochs[-1].append(index.tolist())
        return {"size": torch.tensor(float(len(index)))}


class NewEpoch(Callback):
    def __init__(self, step):
        self.step = step

    def on_epoch_start(self, loop, epoch):
        self.step.epochs.append([])


def visits(seed, shuffle=True, n=103, epochs=3):
    torch.manual_seed(seed)
    step = Visits()
    history = fit(
        step, (torch.arange(n),), None, epochs=epochs, batch_size=10, shuffle=shuffle, callbacks=[NewEpoch(step)]
    )
    return step.epochs, history


def test_a_shuffled_fit_visits_every_sample_once_per_epoch_in_a_new_order():
    epochs, history = visits(0)
    assert len(epochs) == 3
    orders = []
    for batches in epochs:
        assert [len(b) for b in batches] == [10] * 10 + [3]
        order = [i for b in batches for i in b]
        assert sorted(order) == list(range(103))  # every sample once
        orders.append(order)
    assert orders[0] != list(range(103))
    assert orders[0] != orders[1] and orders[1] != orders[2] and orders[0] != orders[2]
    # the batch-size record is a mean over samples: (100 * 10 + 3 * 3) / 103
    assert history[0]["train_size"] == pytest.approx(1009 / 103)
    # the orders follow the global seed: the same seed draws them again, another does not
    assert visits(0)[0] == epochs
    assert visits(1)[0] != epochs
    # without shuffling: the file's order, every epoch
    plain, _ = visits(0, shuffle=False)
    assert all([i for b in batches for i in b] == list(range(103)) for batches in plain)


def test_a_step_without_a_loss_keeps_resume_checkpoints_but_no_best(ctx):
    """A GAN's records have d_loss and g_loss, no loss to rank epochs by: the standard
    callbacks write `last` (to resume) and no `best`, instead of stopping the run."""
    torch.manual_seed(0)
    G, D = small_mlp(2, 2, hidden=8), small_mlp(2, 1, hidden=8)
    step = GAN(G, D, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters()))
    history = fit(step, (torch.randn(64, 2),), ctx, epochs=2, batch_size=32)
    assert len(history) == 2
    checkpoints = ctx.dir / "checkpoints"
    assert (checkpoints / "last.pt").is_file() and not (checkpoints / "best.pt").exists()
    saved = ckpt.load(checkpoints / "last.pt")
    assert saved["finished"] and saved["step"] == 4
