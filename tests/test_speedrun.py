"""dlc.speedrun, the machinery the speedrun labs share: data normalised once, the training
call (Adam with short memories, one-cycle, label smoothing, channels-last), predictions
with test-time augmentation, the mirror augmentation, the smoothed loss's floor."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlc import speedrun
from tests.conftest import requires_mnist


@requires_mnist
def test_load_normalises_once_with_the_training_statistics():
    x, y, tx, ty = speedrun.load("mnist", 500, 100)
    assert x.shape == (500, 1, 28, 28) and tx.shape == (100, 1, 28, 28)
    assert x.dtype == torch.float32 and y.dtype == ty.dtype == torch.int64
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-4
    # the test images use the training statistics, not their own
    assert abs(float(tx.mean())) > 1e-4


def tiny_convnet():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Flatten(), nn.Linear(4 * 24 * 24, 10)
    )


def test_train_follows_one_cycle_and_keeps_adams_betas():
    torch.manual_seed(0)
    x, y = torch.randn(100, 1, 28, 28), torch.randint(0, 10, (100,))
    model = tiny_convnet()
    history, trace = speedrun.train(model, (x, y), None, epochs=3, batch_size=25, lr=1e-2, warmup=0.25)
    assert len(history) == 3 and len(trace.lr) == 12  # 4 steps per epoch
    assert trace.lr[0] == pytest.approx(1e-2 / 25)  # one-cycle starts at lr / 25 ...
    assert max(trace.lr) == pytest.approx(1e-2) and trace.lr.index(max(trace.lr)) in (2, 3)  # ... peaks after 25% ...
    assert trace.lr[-1] < 1e-2 / 20  # ... and ends near zero
    # channels-last weights: the layout the CPU convolutions are fastest on
    assert model[3].weight.is_contiguous(memory_format=torch.channels_last)


def test_train_without_one_cycle_keeps_the_rate_constant():
    torch.manual_seed(0)
    x, y = torch.randn(50, 1, 28, 28), torch.randint(0, 10, (50,))
    model = tiny_convnet()
    _, trace = speedrun.train(
        model, (x, y), None, epochs=2, batch_size=25, lr=3e-3, one_cycle=False, channels_last=False
    )
    assert trace.lr == [3e-3] * 4
    assert not model[3].weight.is_contiguous(memory_format=torch.channels_last)


def test_without_decay_on_norms_batch_norm_keeps_its_scale_while_the_weights_still_decay():
    x, y = torch.randn(100, 1, 28, 28), torch.randint(0, 10, (100,))
    trained = {}
    for decay_norms in (True, False):
        torch.manual_seed(0)
        model = tiny_convnet()
        start = model[3].weight.detach().norm()
        speedrun.train(
            model, (x, y), None, epochs=1, batch_size=25, lr=1e-3, optimizer="sgd", weight_decay=100.0,
            decay_norms=decay_norms, one_cycle=False,
        )  # fmt: skip
        trained[decay_norms] = model[1].weight.detach().clone(), model[3].weight.detach().norm() / start
    # a strong decay pulls batch norm's scales (1 at the start) towards 0 only when asked to
    assert trained[True][0].mean() < 0.8 and (trained[False][0] - 1).abs().max() < 0.1
    # the convolution's weights decay either way
    assert trained[True][1] < 0.8 and trained[False][1] < 0.8


def test_training_reduces_the_loss_on_a_learnable_task():
    torch.manual_seed(0)
    y = torch.randint(0, 10, (400,))
    x = torch.randn(400, 1, 28, 28) * 0.3
    x[torch.arange(400), 0, y, y] += 3  # the class is a bright pixel on the diagonal
    history, _ = speedrun.train(tiny_convnet(), (x, y), None, epochs=6, batch_size=50, label_smoothing=0.0)
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["train_error"] < 0.2


def test_smoothed_loss_floor_is_the_entropy_of_the_smoothed_targets():
    for s in (0.0, 0.1, 0.3):
        q = torch.full((1, 10), s / 10)
        q[0, 3] += 1 - s
        # the best logits are the log of the smoothed target itself
        loss = F.cross_entropy(q.log().clamp(min=-1e4), torch.tensor([3]), label_smoothing=s)
        assert speedrun.smoothed_loss_floor(s) == pytest.approx(float(loss), abs=1e-5)
    assert speedrun.smoothed_loss_floor(0.1) == pytest.approx(0.50, abs=0.005)
    assert math.isclose(speedrun.smoothed_loss_floor(0.0), 0.0, abs_tol=1e-12)


def test_predict_is_in_eval_mode_batched_and_can_average_mirrors():
    torch.manual_seed(0)
    model = tiny_convnet()
    model.train()
    x = torch.randn(7, 1, 28, 28)
    p = speedrun.predict(model, x, batch_size=3)
    assert model.training  # restored
    model.eval()
    torch.testing.assert_close(p, model(x).softmax(1))
    both = speedrun.predict(model, x, combine=lambda m, xb: (m(xb).softmax(1) + m(xb.flip(3)).softmax(1)) / 2)
    torch.testing.assert_close(both, (model(x).softmax(1) + model(x.flip(3)).softmax(1)) / 2)
    torch.testing.assert_close(both.sum(1), torch.ones(7))


def test_mirror_flips_some_images_and_keeps_the_others():
    torch.manual_seed(0)
    x = torch.randn(64, 1, 5, 5)
    m = speedrun.mirror(x)
    same = (m == x).flatten(1).all(1)
    flipped = (m == x.flip(3)).flatten(1).all(1)
    assert bool((same | flipped).all())
    assert 10 < int(flipped.sum()) < 54
