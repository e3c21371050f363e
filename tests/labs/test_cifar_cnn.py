"""cifar-cnn at --tiny: the tutorial's CNN learns CIFAR-10 (far above chance and its
untrained self, same run), the step schedule decays the rate, and TensorBoard gets the
scalars and the model's graph."""

import json

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import get, make_config
from dlc.labs.cifar_cnn import confusion, normalise
from tests.conftest import requires_cifar
from tests.labs.helpers import assert_checks, run_tiny


@requires_cifar
def test_cifar_cnn_learns_at_tiny(runs_dir):
    result = run_tiny("cifar-cnn", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["train_samples"] == 500 and m["test_n"] == 100 and m["epochs"] == 3
    assert m["test_accuracy"] > m["untrained_test_accuracy"] + 0.05
    # StepLR at --tiny: lr 1e-3 for 2 epochs, then times 0.3
    assert m["lrs"] == pytest.approx([1e-3, 1e-3, 3e-4])
    assert set(m["per_class_accuracy"]) == {
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    }

    d = result.run_dir
    for name in ("confusion.png", "curves.png", "checkpoints/last.pt"):
        assert (d / name).is_file(), name
    events = list((d / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 2  # the graph's writer and the loop's scalars
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for e in events:
        acc = EventAccumulator(str(e))
        acc.Reload()
        tags[e] = acc.Tags()
    assert any(t["graph"] for t in tags.values())
    scalars = set().union(*(t["scalars"] for t in tags.values()))
    assert {"step/loss", "step/accuracy", "epoch/train_loss", "epoch/test_accuracy", "epoch/lr"} <= scalars
    epochs = [json.loads(s) for s in (d / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in epochs if r.get("kind") == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]


@requires_cifar
def test_zero_epochs_evaluates_the_untrained_network(runs_dir):
    result = run_tiny("cifar-cnn", runs_dir, force_cpu=True, epochs=0, graph=False)
    assert_checks(result)
    m = result.metrics
    assert m["epochs"] == 0 and m["test_accuracy"] == m["untrained_test_accuracy"] < 0.2
    assert result.line.startswith("no training (--epochs 0)")
    assert [v.name for v in result.verdicts] == ["untrained network's test accuracy, near chance (10%)"]


def test_normalisation_maps_to_minus_one_one():
    x = torch.tensor([0, 128, 255], dtype=torch.uint8)
    assert normalise(x).tolist() == pytest.approx([-1.0, 128 / 127.5 - 1, 1.0], abs=1e-6)


def test_confusion_counts_pairs():
    c = confusion(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), classes=3)
    assert c.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_bad_schedule_is_refused():
    with pytest.raises(UsageError, match="--lr_gamma"):
        make_config(get("cifar-cnn"), lr_gamma=1.5)
    with pytest.raises(UsageError, match="--lr_step"):
        make_config(get("cifar-cnn"), lr_step=0)
    with pytest.raises(UsageError, match="--minutes"):
        make_config(get("cifar-cnn"), minutes=-1.0)


@requires_cifar
def test_minutes_stop_training_early_and_the_line_says_so(runs_dir):
    # 12 ms of training: a step or two of the first epoch, never the 3 epochs of --tiny
    result = run_tiny("cifar-cnn", runs_dir, force_cpu=True, minutes=0.0002, graph=False)
    m = result.metrics
    assert m["stopped_step"] is not None and m["epochs"] == 1
    assert m["stopped_step"] < 500 // 32 + 1  # inside the first epoch of 16 steps
    assert f"(stopped by --minutes 0.0002 at step {m['stopped_step']}, in epoch 1)" in result.line
