"""image-classification at --tiny: LeNet on MNIST and the VGG-style net on CIFAR-10 learn
(above chance and above their untrained selves, same run); the table is written as text
and figure."""

import pytest

from dlc.errors import UsageError
from dlc.labs import get, make_config
from tests.conftest import requires_cifar, requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
@requires_cifar
def test_image_classification_at_tiny(runs_dir):
    result = run_tiny("image-classification", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    rows = {r["name"]: r for r in m["rows"]}
    assert list(rows) == ["lenet", "vgg"] and m["epochs"] == 4
    assert rows["lenet"]["data"] == "MNIST" and rows["vgg"]["data"] == "CIFAR-10"
    assert rows["lenet"]["parameters"] == 44_426
    for r in rows.values():
        assert r["train_n"] == 500 and r["test_n"] == 500
        assert r["samples_per_s"] > 0 and r["train_time_s"] > 0
        assert r["test_accuracy"] > r["untrained_test_accuracy"] + 0.05
    assert rows["lenet"]["test_accuracy"] > 0.5  # digits are easier than photos
    assert m["best"] == "vgg"
    d = result.run_dir
    table = (d / "table.md").read_text()
    assert "| LeNet-5 | MNIST | 44,426 |" in table and "VGG-style" in table
    for name in ("table.png", "lenet-curves.png", "vgg-curves.png"):
        assert (d / name).is_file(), name


@requires_mnist
def test_zero_epochs_shows_untrained_networks_near_chance(runs_dir):
    result = run_tiny("image-classification", runs_dir, force_cpu=True, epochs=0, models="lenet")
    assert_checks(result)
    assert result.line.startswith("no training (--epochs 0)")
    assert [v.name for v in result.verdicts] == ["untrained LeNet-5's test accuracy, near chance (10%)"]


def test_full_preset_is_the_lectures_recipe():
    cfg = make_config(get("image-classification"), "full")
    assert cfg.models == "resnet9" and cfg.augment and cfg.schedule == "one-cycle"
    assert cfg.label_smoothing > 0 and cfg.target == 0.9 and cfg.train_size is None


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("models", "lenet,googlenet", "--models"),
        ("models", "vgg,vgg", "twice"),
        ("optimizer", "rmsprop", "--optimizer"),
        ("schedule", "linear", "--schedule"),
        ("label_smoothing", 1.0, "--label_smoothing"),
        ("target", 1.5, "--target"),
        ("dropout", 1.0, "--dropout"),
    ],
)
def test_bad_options_are_refused(option, value, message):
    with pytest.raises(UsageError, match=message):
        make_config(get("image-classification"), **{option: value})
