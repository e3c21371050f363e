"""The .npy cache: served on the second load, beside the raw files or in the user cache, never stale."""

import os
import stat

import numpy as np
import pytest

import dlc.data as data
from dlc.data import cache, idx
from tests.data import formats


@pytest.fixture
def mnist_root(tmp_path):
    """A data folder with a full-size MNIST test split (synthetic content, real format)."""
    root = tmp_path / "root"
    images, labels = formats.mnist_like(10_000, seed=4)
    formats.write_mnist_split(root / "MNIST" / "raw", images, labels, gz=True)
    return root, images, labels


def _npy(folder):
    return sorted(p.name for p in folder.glob("*.npy")) if folder.is_dir() else []


def test_cache_beside_writable_raw_files_and_served_next_time(mnist_root, monkeypatch):
    root, images, labels = mnist_root
    raw = root / "MNIST" / "raw"
    data.load("mnist", train=False, data_dir=root)
    assert len(_npy(raw / "dlc-cache")) == 2  # images + labels
    assert not list((raw / "dlc-cache").glob("*.tmp"))

    def no_parsing(*a, **k):
        raise AssertionError("parsed the raw files although a valid cache exists")

    monkeypatch.setattr(idx, "read_pair", no_parsing)
    x, y = data.load("mnist", train=False, data_dir=root)
    np.testing.assert_array_equal(x.numpy(), images)
    np.testing.assert_array_equal(y.numpy(), labels)


def test_read_only_data_folder_falls_back_to_user_cache(mnist_root, tmp_path, monkeypatch):
    root, images, labels = mnist_root
    raw = root / "MNIST" / "raw"
    user = tmp_path / "user-cache"
    monkeypatch.setenv("DLC_CACHE_DIR", str(user))
    mode = raw.stat().st_mode
    raw.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)  # read-only, like a shared data set
    try:
        x, _ = data.load("mnist", train=False, data_dir=root)
        assert not (raw / "dlc-cache").exists()
        assert len(_npy(user)) == 2
        monkeypatch.setattr(idx, "read_pair", lambda *a, **k: pytest.fail("cache not used"))
        x2, y2 = data.load("mnist", train=False, data_dir=root)
        np.testing.assert_array_equal(x2.numpy(), images)
        np.testing.assert_array_equal(y2.numpy(), labels)
    finally:
        raw.chmod(mode)


def test_changed_raw_file_is_not_served_stale(mnist_root):
    root, images, labels = mnist_root
    raw = root / "MNIST" / "raw"
    _, y = data.load("mnist", train=False, data_dir=root)
    assert int(y[0]) == labels[0]
    old_cache = _npy(raw / "dlc-cache")
    changed = labels.copy()
    changed[0] = (labels[0] + 1) % 10
    lp = raw / "t10k-labels-idx1-ubyte.gz"
    st = lp.stat()
    formats.write(lp, formats.idx_bytes(changed))
    # a later edit: make sure the modification time moves even on a coarse-grained file system
    os.utime(lp, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    _, y2 = data.load("mnist", train=False, data_dir=root)
    assert int(y2[0]) == changed[0]
    new_cache = _npy(raw / "dlc-cache")
    assert len(new_cache) == 2 and not set(new_cache) & set(old_cache)  # the stale pair was removed


def test_corrupt_cache_is_rebuilt(mnist_root):
    root, images, labels = mnist_root
    raw = root / "MNIST" / "raw"
    data.load("mnist", train=False, data_dir=root)
    for p in (raw / "dlc-cache").glob("*.images.npy"):
        p.write_bytes(b"\x93NUMPY garbage")
    x, _ = data.load("mnist", train=False, data_dir=root)
    np.testing.assert_array_equal(x.numpy(), images)


def test_cache_key_follows_size_and_mtime(tmp_path):
    f = tmp_path / "a"
    f.write_bytes(b"1234")
    k1 = cache.key([f], "t")
    assert cache.key([f], "t") == k1 and cache.key([f], "u") != k1
    f.write_bytes(b"12345")
    k2 = cache.key([f], "t")
    assert k2 != k1 and k2.split("-")[0] == k1.split("-")[0]  # same files, new version
    g = tmp_path / "b"
    g.write_bytes(b"12345")
    assert cache.key([g], "t").split("-")[0] != k1.split("-")[0]


def test_caches_of_two_data_folders_coexist_in_the_user_cache(tmp_path, monkeypatch):
    user = tmp_path / "user"
    monkeypatch.setenv("DLC_CACHE_DIR", str(user))
    monkeypatch.setattr(cache, "writable", lambda folder: folder == user)
    for i, name in enumerate("ab"):
        formats.write_mnist_split(tmp_path / name / "MNIST" / "raw", *formats.mnist_like(10_000, seed=20 + i))
        data.load("mnist", train=False, data_dir=tmp_path / name)
    assert len(_npy(user)) == 4  # the second folder's cache did not evict the first's
    monkeypatch.setattr(idx, "read_pair", lambda *a, **k: pytest.fail("cache not used"))
    _, y = data.load("mnist", train=False, data_dir=tmp_path / "a")
    np.testing.assert_array_equal(y.numpy(), formats.mnist_like(10_000, seed=20)[1])


def test_unwritable_everywhere_still_loads_with_a_warning(mnist_root, tmp_path, monkeypatch):
    root, images, _ = mnist_root
    monkeypatch.setattr(cache, "writable", lambda folder: False)
    with pytest.warns(UserWarning, match="could not write a cache"):
        x, _ = data.load("mnist", train=False, data_dir=root)
    np.testing.assert_array_equal(x.numpy(), images)


def test_user_cache_dir_precedence(monkeypatch, tmp_path):
    from dlc.data.locate import user_cache_dir

    monkeypatch.setenv("DLC_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert user_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("DLC_CACHE_DIR")
    assert user_cache_dir() == tmp_path / "x" / "dlc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "dlc"
