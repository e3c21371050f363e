"""dataloader-surgery at --tiny: a Dataset/DataLoader with workers and a collate function;
a new head on frozen layers learns while the frozen parameters stay exactly as they were."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from dlc.errors import UsageError
from dlc.labs import get, make_config
from dlc.labs.dataloader_surgery import DigitImages, NormaliseCollate, operate, seed_worker
from dlc.models.convnets import LectureConvNet
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_dataloader_surgery_at_tiny(runs_dir):
    result = run_tiny("dataloader-surgery", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["frozen_change"] == 0.0 and m["random_frozen_change"] == 0.0
    assert m["n_in_optimizer"] == m["n_trainable"] == 200 * 5 + 5  # the new head only
    assert m["n_frozen"] == sum(p.numel() for p in LectureConvNet().parameters()) - (200 * 10 + 10)
    assert m["head_error"] < 0.5 * m["untouched_head_error"]
    assert m["head_error"] < m["random_layers_head_error"]
    for name, change in m["parameter_changes"].items():
        assert (change == 0) == (not name.startswith("fc2")), name
    for name in ("loader_batch.png", "head_training.png", "pretrain-curves.png"):
        assert (result.run_dir / name).is_file(), name


@requires_mnist
def test_no_freezing_fine_tunes_everything(runs_dir):
    result = run_tiny("dataloader-surgery", runs_dir, force_cpu=True, freeze="", epochs=1, num_workers=0)
    m = result.metrics
    assert m["frozen"] == [] and m["n_frozen"] == 0
    assert m["n_in_optimizer"] == m["n_trainable"] == sum(p.numel() for p in LectureConvNet(5).parameters())
    assert all(c > 0 for c in m["parameter_changes"].values())


@requires_mnist
def test_zero_epochs_leaves_the_head_at_chance(runs_dir):
    result = run_tiny("dataloader-surgery", runs_dir, force_cpu=True, epochs=0, pretrain_epochs=0)
    assert_checks(result)
    assert result.metrics["head_error"] > 0.5
    assert not (result.run_dir / "head_training.png").exists()


def test_the_dataset_and_the_collate_function():
    images = torch.arange(10).repeat_interleave(28 * 28).reshape(10, 1, 28, 28).float() * 20
    labels = torch.arange(10)
    ds = DigitImages(images, labels, [5, 6, 7, 8, 9], shift=0)
    assert len(ds) == 5
    x, y = ds[0]
    assert x.dtype == torch.uint8 and x.shape == (1, 28, 28) and int(x[0, 0, 0]) == 100 and y == 0
    batch_x, batch_y = NormaliseCollate(100.0, 2.0)([ds[0], ds[4]])
    assert batch_x.shape == (2, 1, 28, 28) and batch_x.dtype == torch.float32
    assert torch.equal(batch_y, torch.tensor([0, 4]))
    assert float(batch_x[0].max()) == 0.0 and float(batch_x[1].max()) == (180 - 100) / 2


def test_shifts_move_the_digit_and_fill_with_zeros():
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 10:18, 10:18] = 255
    ds = DigitImages(image, torch.tensor([5]), [5], shift=3)
    np.random.seed(0)
    seen = {tuple(ds[0][0][0].nonzero().min(0).values.tolist()) for _ in range(50)}
    assert len(seen) > 5 and all(7 <= a <= 13 and 7 <= b <= 13 for a, b in seen)
    assert all(int(ds[0][0].sum()) == 64 * 255 for _ in range(10))  # nothing falls off a 28 x 28 image


def test_workers_draw_different_shifts_with_seed_worker():
    image = torch.zeros(8, 1, 28, 28)
    image[:, 0, 10:18, 10:18] = 255
    ds = DigitImages(image, torch.full((8,), 5), [5], shift=4)

    def corners(worker_init_fn):
        loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=NormaliseCollate(0.0, 1.0),
                            worker_init_fn=worker_init_fn, generator=torch.Generator().manual_seed(0))  # fmt: skip
        return [[tuple(im[0].nonzero().min(0).values.tolist()) for im in x] for x, _ in loader]

    np.random.seed(0)
    a, b = corners(seed_worker)  # batch 0 from worker 0, batch 1 from worker 1
    assert a != b


def test_surgery_replaces_the_head_and_freezes():
    net = LectureConvNet()
    old_head = net.fc2
    operate(net, ["conv1", "conv2"], 3)
    assert net.fc2 is not old_head and net.fc2.out_features == 3
    grads = {k: p.requires_grad for k, p in net.named_parameters()}
    assert grads == {
        "conv1.weight": False, "conv1.bias": False, "conv2.weight": False, "conv2.bias": False,
        "fc1.weight": True, "fc1.bias": True, "fc2.weight": True, "fc2.bias": True,
    }  # fmt: skip
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 3)


def test_bad_layer_names_are_refused():
    with pytest.raises(UsageError, match="--freeze: unknown layer"):
        make_config(get("dataloader-surgery"), freeze="conv1,fc9")
