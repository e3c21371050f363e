"""MNIST-style IDX files written by the tests: both encodings, and every way a file can be wrong."""

import gzip

import numpy as np
import pytest
import torch

import dlc.data as data
from dlc.data import idx
from dlc.errors import DataError
from tests.data import formats


@pytest.mark.parametrize("gz", [False, True])
def test_read_pair_small_files(tmp_path, gz):
    images, labels = formats.mnist_like(7)
    ip, lp = formats.write_mnist_split(tmp_path, images, labels, gz=gz)
    got_i, got_l = idx.read_pair(ip, lp, count=None)
    assert got_i.dtype == np.uint8 and got_i.shape == (7, 28, 28)
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)


@pytest.mark.parametrize("gz", [False, True])
def test_load_test_split_from_a_data_folder(tmp_path, gz):
    """A full-size test split (10,000 samples) in torchvision's layout, raw or .gz, loads as tensors."""
    images, labels = formats.mnist_like(10_000, seed=1)
    formats.write_mnist_split(tmp_path / "MNIST" / "raw", images, labels, gz=gz)
    x, y = data.load("mnist", train=False, data_dir=tmp_path)
    assert x.dtype == torch.uint8 and x.shape == (10_000, 28, 28)
    assert y.dtype == torch.int64 and y.shape == (10_000,)
    np.testing.assert_array_equal(x.numpy(), images)
    np.testing.assert_array_equal(y.numpy(), labels)
    x[0, 0, 0] = 7  # tensors own writable memory (not the read-only cache map)


def test_old_prologue_layout_is_found(tmp_path):
    images, labels = formats.mnist_like(10_000, seed=2)
    formats.write_mnist_split(tmp_path / "mnist" / "MNIST" / "raw", images, labels, gz=True)
    _, y = data.load("mnist", train=False, data_dir=tmp_path)
    np.testing.assert_array_equal(y.numpy(), labels)


def test_search_order_data_dir_env_then_cwd(tmp_path, monkeypatch):
    a, b, c = (tmp_path / n for n in "abc")
    for i, root in enumerate((a, b, c / "data")):
        formats.write_mnist_split(root / "MNIST" / "raw", *formats.mnist_like(10_000, seed=10 + i))
    monkeypatch.setenv("PYTORCH_DATA_DIR", str(b))
    monkeypatch.chdir(c)
    first = lambda d: data.load("mnist", train=False, data_dir=d)[1][:20].tolist()
    assert first(a) == formats.mnist_like(10_000, seed=10)[1][:20].tolist()  # explicit data_dir wins
    assert first(None) == formats.mnist_like(10_000, seed=11)[1][:20].tolist()  # then PYTORCH_DATA_DIR
    monkeypatch.delenv("PYTORCH_DATA_DIR")
    assert first(None) == formats.mnist_like(10_000, seed=12)[1][:20].tolist()  # then ./data


def _error(ip, lp, count=None) -> str:
    with pytest.raises(DataError) as e:
        idx.read_pair(ip, lp, count=count)
    return str(e.value)


def test_truncated_file(tmp_path):
    images, labels = formats.mnist_like(5)
    ip, lp = formats.write_mnist_split(tmp_path, images, labels)
    ip.write_bytes(ip.read_bytes()[:-100])
    msg = _error(ip, lp)
    assert str(ip) in msg and "truncated" in msg


def test_truncated_gzip(tmp_path):
    images, labels = formats.mnist_like(50)
    ip, lp = formats.write_mnist_split(tmp_path, images, labels, gz=True)
    ip.write_bytes(ip.read_bytes()[: len(ip.read_bytes()) // 2])
    msg = _error(ip, lp)
    assert str(ip) in msg and ("truncated" in msg or "corrupt" in msg)


def test_wrong_magic_number(tmp_path):
    images, labels = formats.mnist_like(5)
    ip = formats.write(tmp_path / "i", formats.idx_bytes(images, magic_type=0x0D))  # 0x0D: float data
    lp = formats.write(tmp_path / "l", formats.idx_bytes(labels))
    msg = _error(ip, lp)
    assert str(ip) in msg and "magic number 0x00000d03" in msg


def test_not_an_idx_file_at_all(tmp_path):
    ip = formats.write(tmp_path / "i.gz", b"<html>404 Not Found</html>")
    lp = formats.write(tmp_path / "l", formats.idx_bytes(np.zeros(5)))
    assert "magic number" in _error(ip, lp)


def test_header_count_disagrees_with_length(tmp_path):
    images, labels = formats.mnist_like(5)
    ip = formats.write(tmp_path / "i", formats.idx_bytes(images, dims=(6, 28, 28)))
    lp = formats.write(tmp_path / "l", formats.idx_bytes(labels))
    msg = _error(ip, lp)
    assert "header says 6 items" in msg and "truncated" in msg


def test_image_and_label_counts_disagree(tmp_path):
    images, labels = formats.mnist_like(5)
    ip, lp = formats.write_mnist_split(tmp_path, images, labels[:4])
    msg = _error(ip, lp)
    assert "5 images" in msg and "4 labels" in msg


def test_wrong_count_for_the_split(tmp_path):
    images, labels = formats.mnist_like(5)
    formats.write_mnist_split(tmp_path / "MNIST" / "raw", images, labels)
    with pytest.raises(DataError, match="5 samples, expected 10000"):
        data.load("mnist", train=False, data_dir=tmp_path)


def test_label_out_of_range(tmp_path):
    images, labels = formats.mnist_like(5)
    labels[3] = 10
    ip, lp = formats.write_mnist_split(tmp_path, images, labels)
    msg = _error(ip, lp)
    assert str(lp) in msg and "label 10 at index 3 is out of range" in msg


def test_wrong_image_size(tmp_path):
    ip = formats.write(tmp_path / "i", formats.idx_bytes(np.zeros((5, 32, 32))))
    lp = formats.write(tmp_path / "l", formats.idx_bytes(np.zeros(5)))
    assert "32x32, expected 28x28" in _error(ip, lp)


def test_swapped_files(tmp_path):
    images, labels = formats.mnist_like(5)
    ip, lp = formats.write_mnist_split(tmp_path, images, labels)
    assert "swapped" in _error(lp, ip)


def test_uncompressed_file_is_preferred_over_gz(tmp_path):
    """torchvision keeps both; the two must agree, and the raw one is read (no decompression)."""
    folder = tmp_path / "MNIST" / "raw"
    images, labels = formats.mnist_like(10_000, seed=3)
    formats.write_mnist_split(folder, images, labels, gz=False)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"garbage"))
    _, y = data.load("mnist", train=False, data_dir=tmp_path)
    np.testing.assert_array_equal(y.numpy(), labels)


def test_missing_data_error_says_what_where_and_how(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    given = tmp_path / "given"
    with pytest.raises(DataError) as e:
        data.load("fashion-mnist", train=True, data_dir=given)
    msg = str(e.value)
    assert "Fashion-MNIST (train split) not found" in msg
    assert "train-images-idx3-ubyte" in msg and "train-labels-idx1-ubyte" in msg
    for place in (
        given / "FashionMNIST" / "raw",
        given / "fashion-mnist" / "FashionMNIST" / "raw",
        tmp_path / "data" / "FashionMNIST" / "raw",
        "/usr/share/datasets/fashion-mnist",
    ):
        assert str(place) in msg
    assert "dlc data fetch fashion-mnist" in msg and "--data_dir" in msg and "PYTORCH_DATA_DIR" in msg


def test_unknown_name_and_split():
    with pytest.raises(DataError, match="unknown data set 'imagenet'; known: mnist"):
        data.load("imagenet")
    with pytest.raises(DataError, match="unknown split"):
        data.load("mnist", train="validation")


# -- headers whose sizes overflow or exceed the file -------------------------------------------

# 2**22 * 2**21 * 2**21 = 2**64 bytes: wraps to 0 in 64-bit arithmetic (np.prod), so a
# 16-byte file looked exactly the size its header announces; 3 x (2**32 - 1): ~2**96 bytes
OVERFLOWING = [
    (2**22, 2**21, 2**21),
    (2**32 - 1, 2**32 - 1, 2**32 - 1),
    (2**32 - 1, 28, 28),
    (0xFFFF, 2**16, 2**32 - 1),
]


@pytest.mark.parametrize("dims", OVERFLOWING)
@pytest.mark.parametrize("gz", [False, True])
def test_header_sizes_that_overflow_or_exceed_the_file(tmp_path, dims, gz):
    p = formats.write(tmp_path / ("i.gz" if gz else "i"), formats.idx_bytes(np.zeros(0), dims=dims))
    with pytest.raises(DataError) as e:
        idx.read_idx(p)
    msg = str(e.value)
    expected = 16 + dims[0] * dims[1] * dims[2]  # exact, in Python integers
    assert type(e.value) is DataError and str(p) in msg
    assert f"header says {dims[0]} items" in msg and f"({expected:,} bytes)" in msg
    assert "delete it and fetch it again" in msg


def test_label_header_larger_than_the_file(tmp_path):
    p = formats.write(tmp_path / "l", formats.idx_bytes(np.zeros(3), dims=(2**32 - 1,)))
    with pytest.raises(DataError, match=r"header says 4294967295 items .* it is truncated") as e:
        idx.read_idx(p)
    assert str(p) in str(e.value)


def test_gzip_header_is_refused_before_decompressing(tmp_path, monkeypatch):
    """A .gz whose header announces more than any gzip file of its size can hold: refused unread."""
    p = formats.write(tmp_path / "i.gz", formats.idx_bytes(np.zeros((2, 28, 28)), dims=(10**9, 28, 28)))
    monkeypatch.setattr(idx, "_read_up_to", lambda f, n: pytest.fail(f"read {n} bytes of the values"))
    with pytest.raises(DataError, match="cannot hold that much") as e:
        idx.read_idx(p)
    assert str(p) in str(e.value)


def test_overflowing_header_through_load_names_the_file(tmp_path):
    images, labels = formats.mnist_like(10_000, seed=5)
    ip, lp = formats.write_mnist_split(tmp_path / "MNIST" / "raw", images, labels)
    formats.write(ip, formats.idx_bytes(np.zeros(0), dims=(2**22, 2**21, 2**21)))
    with pytest.raises(DataError) as e:
        data.load("mnist", train=False, data_dir=tmp_path)
    assert type(e.value) is DataError and str(ip) in str(e.value)


def test_gzip_damage_past_the_values(tmp_path):
    """Cut in the gzip trailer, a wrong CRC, extra values: each found, though the values read fine."""
    images, labels = formats.mnist_like(20)
    whole = gzip.compress(formats.idx_bytes(images))
    cases = {
        "cut.gz": whole[:-4],  # the trailer's length field is missing
        "crc.gz": whole[:-8] + bytes(b ^ 0xFF for b in whole[-8:-4]) + whole[-4:],  # a wrong CRC-32
        "more.gz": gzip.compress(formats.idx_bytes(images) + b"\0" * 10),  # values beyond the header's count
    }
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(DataError) as e:
            idx.read_idx(p)
        assert type(e.value) is DataError and str(p) in str(e.value), name
    assert "trailing bytes" in str(e.value)


def test_unreadable_file_is_a_data_error(tmp_path):
    p = tmp_path / "t10k-labels-idx1-ubyte"
    p.mkdir()  # a folder where the file should be
    with pytest.raises(DataError) as e:
        idx.read_idx(p)
    assert str(p) in str(e.value)
