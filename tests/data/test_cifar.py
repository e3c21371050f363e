"""CIFAR-10 batches written by the tests: binary and pickle releases, corrupt and malicious files."""

import os
import pickle

import numpy as np
import pytest
import torch

import dlc.data as data
from dlc.data import cifar
from dlc.errors import DataError
from tests.data import formats


def _batch(n=10_000, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))


def test_binary_batch_round_trip(tmp_path):
    images, labels = _batch(20)
    p = formats.write(tmp_path / "test_batch.bin", formats.cifar_bin_bytes(images, labels))
    x, y = cifar.read_bin_batch(p, count=20)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_binary_plane_order_is_red_green_blue(tmp_path):
    images = np.zeros((2, 3, 32, 32), np.uint8)
    images[0, 0, 0, 1] = 200  # red, row 0, column 1
    images[0, 2, 31, 0] = 100  # blue, last row, column 0
    raw = formats.cifar_bin_bytes(images, np.zeros(2, np.uint8))
    assert raw[1 + 1] == 200 and raw[1 + 2048 + 31 * 32] == 100  # the record layout of the README
    x, _ = cifar.read_bin_batch(formats.write(tmp_path / "b.bin", raw), count=2)
    assert x[0, 0, 0, 1] == 200 and x[0, 2, 31, 0] == 100


def test_binary_truncated_wrong_count_bad_label(tmp_path):
    images, labels = _batch(10)
    p = formats.write(tmp_path / "cut.bin", formats.cifar_bin_bytes(images, labels)[:-5])
    with pytest.raises(DataError, match="not a whole number of 3073-byte records"):
        cifar.read_bin_batch(p)
    p = formats.write(tmp_path / "short.bin", formats.cifar_bin_bytes(images, labels))
    with pytest.raises(DataError, match="10 records, expected 10000"):
        cifar.read_bin_batch(p)
    labels[7] = 12
    p = formats.write(tmp_path / "bad.bin", formats.cifar_bin_bytes(images, labels))
    with pytest.raises(DataError, match=r"bad.bin: label 12 of record 7 is out of range"):
        cifar.read_bin_batch(p, count=None)


@pytest.mark.parametrize("protocol,bytes_keys", [(2, True), (2, False), (4, True), (5, False)])
def test_pickle_batch_round_trip(tmp_path, protocol, bytes_keys):
    images, labels = _batch(30, seed=protocol)
    p = tmp_path / "test_batch"
    p.write_bytes(formats.cifar_pickle_bytes(images, labels, protocol, bytes_keys))
    x, y = cifar.read_py_batch(p, count=30)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_python2_pickle_like_the_official_files(tmp_path):
    images, labels = _batch(4, seed=11)
    p = tmp_path / "data_batch_1"
    p.write_bytes(formats.cifar_py2_pickle_bytes(images, labels))
    x, y = cifar.read_py_batch(p, count=4)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_registry_reads_the_pickle_layout(tmp_path):
    """A full-size test batch (10,000 images) as protocol-4 pickle, in the old prologue's folder."""
    images, labels = _batch(seed=9)
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"  # the old prologue's root
    folder.mkdir(parents=True)
    (folder / "test_batch").write_bytes(formats.cifar_pickle_bytes(images, labels, protocol=4))
    x, y = data.load("cifar10", train=False, data_dir=tmp_path)
    assert x.dtype == torch.uint8 and x.shape == (10_000, 3, 32, 32) and y.dtype == torch.int64
    np.testing.assert_array_equal(x.numpy(), images)


class _Payload:
    """Unpickling this runs a shell command: the classic pickle attack."""

    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _EvalPayload:
    def __init__(self, expr):
        self.expr = expr

    def __reduce__(self):
        return (eval, (self.expr,))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = {"data": _Payload(f"touch {marker}"), "labels": [0]}
    p = tmp_path / "test_batch"
    p.write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataError) as e:
        cifar.read_py_batch(p)
    msg = str(e.value)
    assert str(p) in msg and "refused" in msg and "system" in msg
    assert not marker.exists()

    p.write_bytes(pickle.dumps({"data": _EvalPayload(f"open({str(marker)!r}, 'w')")}, protocol=4))
    with pytest.raises(DataError, match="builtins.eval"):
        cifar.read_py_batch(p)
    assert not marker.exists()


def test_malicious_pickle_in_a_data_folder_is_refused_by_load(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({"data": _Payload(f"touch {marker}")}))
    with pytest.raises(DataError, match="refused to unpickle"):
        data.load("cifar10", train=False, data_dir=tmp_path)
    assert not marker.exists()


def test_corrupt_and_truncated_pickles(tmp_path):
    p = tmp_path / "garbage"
    p.write_bytes(os.urandom(64) + b"\x00" * 64)
    with pytest.raises(DataError, match="garbage: cannot unpickle"):
        cifar.read_py_batch(p)
    images, labels = _batch(30, seed=3)
    whole = formats.cifar_pickle_bytes(images, labels)
    p = tmp_path / "cut"
    p.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="cut: cannot unpickle"):
        cifar.read_py_batch(p)


def test_pickle_with_the_wrong_structure(tmp_path):
    p = tmp_path / "batch"
    p.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match="not a CIFAR-10 batch"):
        cifar.read_py_batch(p)
    images, labels = _batch(10)
    p.write_bytes(formats.cifar_pickle_bytes(images, labels))
    with pytest.raises(DataError, match="10 images, expected 10000"):
        cifar.read_py_batch(p)
    labels = labels.astype(int)
    labels[5] = -1
    p.write_bytes(formats.cifar_pickle_bytes(images, labels))
    with pytest.raises(DataError, match="label -1 of record 5 is out of range"):
        cifar.read_py_batch(p, count=None)


def test_class_names_from_meta_files(tmp_path):
    (tmp_path / "batches.meta.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n\n")
    assert cifar.read_class_names(tmp_path) == tuple(f"c{i}" for i in range(10))
    (tmp_path / "batches.meta.txt").unlink()
    (tmp_path / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"x%d" % i for i in range(10)]}))
    assert cifar.read_class_names(tmp_path)[3] == "x3"


# -- labels no CIFAR-10 batch can hold -------------------------------------------------------

BAD_PY_LABELS = [
    (2**64, "label 18446744073709551616 of record 2 is out of range"),  # int64 overflow
    (2**63, "label 9223372036854775808 of record 2 is out of range"),
    (-(2**63) - 1, "label -9223372036854775809 of record 2 is out of range"),
    (10, "label 10 of record 2 is out of range 0..9"),
    (1.5, "label 1.5 of record 2 is not an integer"),  # would be truncated to 1
    (True, "label True of record 2 is not an integer"),
    ("3", "label '3' of record 2 is not an integer"),
    (None, "label None of record 2 is not an integer"),
]


@pytest.mark.parametrize("bad,message", BAD_PY_LABELS)
def test_pickle_labels_out_of_range_or_not_integers(tmp_path, bad, message):
    images, labels = _batch(4)
    labels = [int(v) for v in labels]
    labels[2] = bad
    p = tmp_path / "test_batch"
    p.write_bytes(pickle.dumps({"data": images.reshape(4, -1), "labels": labels}))
    with pytest.raises(DataError) as e:
        cifar.read_py_batch(p, count=None)
    assert type(e.value) is DataError and str(p) in str(e.value) and message in str(e.value)


@pytest.mark.parametrize(
    "labels,message",
    [
        (np.array([0, 1, 2**64 - 1], np.uint64), "label 18446744073709551615 of record 2 is out of range"),
        (np.array([0, 1, 2**63], np.uint64), "label 9223372036854775808 of record 2"),  # int64 would wrap it
        (np.array([0.0, 1.0, 2.0]), "float64 array"),
        (np.array([[0, 1, 2]]), "of shape (1, 3)"),
        (7, "'labels' is int"),
        ({"a": 1}, "'labels' is dict"),
    ],
)
def test_pickle_labels_of_the_wrong_kind(tmp_path, labels, message):
    images, _ = _batch(3)
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({"data": images.reshape(3, -1), "labels": labels}))
    with pytest.raises(DataError) as e:
        cifar.read_py_batch(p, count=None)
    assert type(e.value) is DataError and str(p) in str(e.value) and message in str(e.value)


def test_pickle_data_of_the_wrong_kind(tmp_path):
    p = tmp_path / "data_batch_1"
    for data_value in ([[0] * 3072, [0] * 5], [[0] * 3072], np.zeros((2, 3072), np.int64)):
        p.write_bytes(pickle.dumps({"data": data_value, "labels": [0, 1]}))
        with pytest.raises(DataError, match="expected a uint8 N x 3072 array") as e:
            cifar.read_py_batch(p, count=None)
        assert type(e.value) is DataError and str(p) in str(e.value)


def test_huge_pickle_label_through_load_names_the_file(tmp_path):
    images, labels = _batch(seed=8)
    labels = [int(v) for v in labels]
    labels[9_999] = 2**64 + 3
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({"data": images.reshape(10_000, -1), "labels": labels}))
    with pytest.raises(DataError, match="label 18446744073709551619 of record 9999 is out of range") as e:
        data.load("cifar10", train=False, data_dir=tmp_path)
    assert str(folder / "test_batch") in str(e.value)


@pytest.mark.parametrize("bad", [10, 127, 255])
def test_binary_labels_out_of_range_through_load(tmp_path, bad):
    images, labels = _batch(seed=6)
    labels[1234] = bad
    p = formats.write(tmp_path / "cifar-10-batches-bin" / "test_batch.bin", formats.cifar_bin_bytes(images, labels))
    with pytest.raises(DataError, match=f"label {bad} of record 1234 is out of range 0..9") as e:
        data.load("cifar10", train=False, data_dir=tmp_path)
    assert type(e.value) is DataError and str(p) in str(e.value)


def test_binary_batch_is_sized_before_it_is_read(tmp_path, monkeypatch):
    images, labels = _batch(10)
    p = formats.write(tmp_path / "data_batch_1.bin", formats.cifar_bin_bytes(images, labels))
    monkeypatch.setattr(type(p), "read_bytes", lambda self: pytest.fail("read a batch of the wrong size"))
    with pytest.raises(DataError, match="10 records, expected 10000") as e:
        cifar.read_bin_batch(p)
    assert str(p) in str(e.value)


def test_damaged_class_name_files(tmp_path):
    (tmp_path / "batches.meta.txt").write_bytes(b"\xff\xfe" + b"x\n" * 10)
    with pytest.raises(DataError) as e:
        cifar.read_class_names(tmp_path)
    assert str(tmp_path / "batches.meta.txt") in str(e.value)
    (tmp_path / "batches.meta.txt").unlink()
    for names in (7, [1] * 10, None):  # not a list of names: the official ones are used
        (tmp_path / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
        assert cifar.read_class_names(tmp_path) == cifar.CLASSES
