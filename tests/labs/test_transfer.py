"""transfer at --tiny: the pretrained weights are trained once, then loaded from the user's
cache with the same result; the backbone stays frozen and only the new head learns; the
check compares transfer with from-scratch once pretraining is more than a smoke test."""

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import Result, get, make_config, transfer
from dlc.models.cifar import ResNet18
from tests.data.available import requires_cats_vs_dogs, requires_cifar
from tests.labs.helpers import assert_checks, run_tiny


@requires_cifar
@requires_cats_vs_dogs
def test_transfer_at_tiny_pretrains_once_then_reuses_the_weights(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DLC_CACHE_DIR", str(tmp_path / "cache"))
    first = run_tiny("transfer", runs_dir, force_cpu=True)
    assert_checks(first)
    m = first.metrics
    assert m["pretrained_now"] and m["pretrain_images_seen"] == 500 and not m["cache_note"]
    assert "trained now in" in first.line and "dlc's own, from CIFAR-10 (cat and dog" in first.line
    assert m["train_n"] == 200 and m["val_n"] == 100 and m["epochs"] == 2
    # freezing froze: not one weight or batch-norm statistic of the backbone moved
    assert m["backbone_change"] == 0.0
    assert m["trainable_parameters"] == m["head_parameters"] == 8 * 8 * 2 + 2  # 64 features -> 2 classes
    assert m["transfer_parameters"] > 1000 * m["trainable_parameters"]
    # at --tiny the pretraining is a smoke test: no comparison is claimed
    assert [v.name for v in first.verdicts] == [
        "largest change of a frozen backbone weight or statistic",
        "trainable parameters of the transfer network, minus its new head's",
    ]
    for name in ("fine-tuning.png", "predictions.png", "checkpoints/pretrain-last.pt"):
        assert (first.run_dir / name).is_file(), name
    cache = list((tmp_path / "cache" / "pretrained").glob("resnet18-cifar10-*.pt"))
    assert [str(p) for p in cache] == [m["pretrained_path"]]

    second = run_tiny("transfer", runs_dir, force_cpu=True)
    assert not second.metrics["pretrained_now"] and "loaded from the cache" in second.line
    assert not (second.run_dir / "checkpoints" / "pretrain-last.pt").exists()  # no pretraining this time
    # fine-tuning draws the same random numbers whether the weights were trained or loaded
    for key in ("transfer_accuracy", "scratch_accuracy", "transfer_loss", "scratch_loss"):
        assert second.metrics[key] == m[key], key
    assert second.metrics["pretrain_cifar_accuracy"] == m["pretrain_cifar_accuracy"]


def metrics(transfer_accuracy, scratch_accuracy, seen=10000, change=0.0, trainable=130):
    return Result(
        "x",
        metrics={
            "transfer_accuracy": transfer_accuracy,
            "scratch_accuracy": scratch_accuracy,
            "pretrain_images_seen": seen,
            "backbone_change": change,
            "trainable_parameters": trainable,
            "head_parameters": 130,
        },
    )


def test_the_check_compares_with_scratch_after_a_real_pretraining():
    ok = transfer.check(metrics(0.66, 0.58))
    assert [v.passed for v in ok] == [True, True, True]
    assert ok[0].name == "transfer minus from-scratch validation accuracy"
    assert not transfer.check(metrics(0.55, 0.58))[0].passed
    assert not transfer.check(metrics(0.66, 0.58, change=1e-7))[1].passed
    assert not transfer.check(metrics(0.66, 0.58, trainable=1000))[2].passed
    assert len(transfer.check(metrics(0.4, 0.6, seen=1000))) == 2  # a smoke-test pretraining


def test_freezing_and_the_new_head():
    net = transfer.freeze_and_replace_head(ResNet18(classes=10, width=4))
    assert net.fc.out_features == 2 and net.fc.in_features == 32
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    step = transfer.FrozenBackbone(net, opt, metric="accuracy")
    step.train()
    assert net.fc.training and not net.bn1.training and not net.layer3[0].bn2.training
    before = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("fc.")}
    step((torch.randn(8, 3, 32, 32), torch.randint(0, 2, (8,))))
    after = net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())  # running statistics too


def test_balanced_subset():
    labels = torch.tensor([0] * 80 + [1] * 20)
    keep = transfer.balanced_subset(labels, 10)
    assert len(keep) == 10 and len(set(keep.tolist())) == 10
    assert (labels[keep] == 0).sum() == 5
    assert torch.equal(keep, transfer.balanced_subset(labels, 10))  # fixed, whatever the run's seed
    assert sorted(transfer.balanced_subset(labels, None).tolist()) == list(range(100))
    assert len(transfer.balanced_subset(labels, 1000)) == 100


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("pretrain_classes", "cat", "at least two"),
        ("pretrain_classes", "cat,wolf", "unknown value 'wolf'"),
        ("image_size", 30, "multiple of 8"),
        ("rotation", 200.0, "--rotation"),
        ("pretrain_size", 5, "--pretrain_size"),
        ("epochs", 0, "--epochs"),
    ],
)
def test_bad_options_are_refused(option, value, message):
    with pytest.raises(UsageError, match=message):
        make_config(get("transfer"), "tiny", **{option: value})


def test_class_lists():
    assert make_config(get("transfer"), "default").class_list() == [3, 5]
    assert make_config(get("transfer"), "full").class_list() == list(range(10))
    assert make_config(get("transfer"), "tiny", pretrain_classes="dog,cat,dog").class_list() == [3, 5]
