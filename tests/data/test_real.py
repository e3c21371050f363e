"""The real data sets in $PYTORCH_DATA_DIR: shapes, dtypes, and facts known about each release."""

import numpy as np
import pytest
import torch

import dlc.data as data
from dlc.data import MNIST, cache, idx
from tests.data.available import (
    requires_cats_vs_dogs,
    requires_cifar,
    requires_fashion_mnist,
    requires_mnist,
    requires_text,
)

# label counts of the official MNIST files
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _stats(x: torch.Tensor) -> tuple[float, float]:
    """Exact mean and std of uint8 pixels scaled to [0, 1], from their histogram (no float copy)."""
    h = torch.bincount(x.reshape(-1), minlength=256).double()
    v = torch.arange(256, dtype=torch.float64) / 255
    n = h.sum()
    mean = (h * v).sum() / n
    return mean.item(), ((h * (v - mean) ** 2).sum() / (n - 1)).sqrt().item()


@requires_mnist
def test_mnist_train_and_test(mnist_loads):
    x, y = mnist_loads["train"]
    assert x.shape == (60_000, 28, 28) and x.dtype == torch.uint8
    assert y.shape == (60_000,) and y.dtype == torch.int64
    assert y[:5].tolist() == [5, 0, 4, 1, 9]  # the first labels of the official file
    assert torch.bincount(y).tolist() == MNIST_TRAIN_COUNTS
    xt, yt = mnist_loads["test"]
    assert xt.shape == (10_000, 28, 28) and yt.shape == (10_000,)
    assert yt[:5].tolist() == [7, 2, 1, 0, 4]
    assert torch.bincount(yt).tolist() == MNIST_TEST_COUNTS
    assert int(x.max()) == 255 and int(x.min()) == 0


@requires_mnist
def test_mnist_pixel_statistics(mnist_loads):
    mean, std = _stats(mnist_loads["train"][0])
    # the rebuilt training set: mean 0.13071, std 0.30824 (data README)
    assert round(mean, 3) == 0.131 and round(std, 3) == 0.308


@requires_mnist
def test_cached_load_is_identical_and_served_from_the_cache(mnist_loads, monkeypatch):
    train2, test2 = mnist_loads["again"]
    assert torch.equal(train2[0], mnist_loads["train"][0]) and torch.equal(train2[1], mnist_loads["train"][1])
    assert torch.equal(test2[0], mnist_loads["test"][0])
    # the cache is beside the raw files when their folder is writable, else in DLC_CACHE_DIR
    # (a read-only shared data folder); either way one stamped pair per split (timings:
    # benchmarks/bench_data_cache.py)
    for split in ("train", "test"):
        found, _ = MNIST.find(split)
        k = cache.key(found.files, f"mnist-{split}-idx")
        places = [
            folder
            for folder in cache.locations(found.folder)
            if all(
                p.is_file()
                for p in (
                    *cache._paths(folder, f"mnist-{split}-idx", k),
                    cache._stamp_path(folder, f"mnist-{split}-idx", k),
                )
            )
        ]
        assert places, f"no cache of the {split} split in {cache.locations(found.folder)}"
    monkeypatch.setattr(idx, "read_pair", lambda *a, **k: pytest.fail("the raw files were parsed again"))
    x, y = data.load("mnist", train=False)
    assert torch.equal(x, mnist_loads["test"][0]) and torch.equal(y, mnist_loads["test"][1])


@requires_fashion_mnist
def test_fashion_mnist():
    x, y = data.load("fashion-mnist", train=False)
    assert x.shape == (10_000, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [1000] * 10  # balanced by design
    assert y[:3].tolist() == [9, 2, 1]  # ankle boot, pullover, trouser
    _, ytr = data.load("fashion-mnist", train=True)
    assert torch.bincount(ytr).tolist() == [6000] * 10
    assert data.classes("fashion-mnist")[9] == "Ankle boot"


@pytest.fixture(scope="module")
def cifar_train():
    return data.load("cifar10", train=True)


@requires_cifar
def test_cifar10_train(cifar_train):
    x, y = cifar_train
    assert x.shape == (50_000, 3, 32, 32) and x.dtype == torch.uint8
    assert y.shape == (50_000,) and y.dtype == torch.int64
    assert int(y[0]) == 6 and data.classes("cifar10")[6] == "frog"
    assert torch.bincount(y).tolist() == [5000] * 10
    mean, std = zip(*(_stats(x[:, c]) for c in range(3)))
    assert [round(m, 3) for m in mean] == [0.491, 0.482, 0.447]
    assert [round(s, 3) for s in std] == [0.247, 0.243, 0.262]


@requires_cifar
def test_cifar10_test_split():
    x, y = data.load("cifar10", train=False)
    assert x.shape == (10_000, 3, 32, 32) and torch.bincount(y).tolist() == [1000] * 10
    assert y[:4].tolist() == [3, 8, 8, 0]  # cat, ship, ship, airplane


@requires_cifar
def test_cifar_class_names_from_the_release():
    from dlc.data import CIFAR10, cifar

    found, _ = CIFAR10.find("test")
    assert cifar.read_class_names(found.folder) == cifar.CLASSES


@requires_cifar
def test_cifar_pickle_release_equals_binary_release(tmp_path):
    """The test batch rewritten in the python-pickle layout loads to the same tensors."""
    from tests.data import formats

    x, y = data.load("cifar10", train=False)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(formats.cifar_pickle_bytes(x.numpy(), y.numpy()))
    x2, y2 = data.load("cifar10", train=False, data_dir=tmp_path)
    assert torch.equal(x, x2) and torch.equal(y, y2) and y2.dtype == torch.int64


@requires_text
def test_tinyshakespeare():
    text = data.load("tinyshakespeare")
    assert isinstance(text, str) and len(text) == 1_115_394
    assert len(set(text)) == 65 and text.startswith("First Citizen:")
    pairs = data.load("eng-fra")
    assert len(pairs) == 5000 and all(isinstance(e, str) and isinstance(f, str) for e, f in pairs)
    assert len(pairs[0][0]) <= len(pairs[-1][0])  # shortest first
    assert len(data.load("eng-fra", full=True)) == 142_787


@requires_cats_vs_dogs
def test_cats_vs_dogs_listing_and_decoding():
    from dlc.data.images import decode_all

    pytest.importorskip("PIL", reason="decoding photos needs Pillow (pip install 'dlc[images]')")
    train = data.load("cats-vs-dogs", train=True)
    val = data.load("cats-vs-dogs", train="validation")
    assert len(train) == 500 and len(val) == 200
    assert np.bincount([y for _, y in train]).tolist() == [250, 250]
    assert all(p.parent.name == ("cats", "dogs")[y] for p, y in train + val)
    assert not {p.name for p, _ in train} & {p.name for p, _ in val}
    picked = val[:3] + val[-3:]
    x, y = decode_all(picked, size=48)
    assert x.shape == (6, 3, 48, 48) and x.dtype == torch.uint8 and y.tolist() == [0, 0, 0, 1, 1, 1]
    assert x.float().std() > 10  # real photos, not blank arrays
    ds = data.dataset("cats-vs-dogs", train=False, size=32)
    img, label = ds[len(ds) - 1]
    assert img.shape == (3, 32, 32) and int(label) == 1
