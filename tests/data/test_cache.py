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


# -- a cache altered after it was validated is rebuilt, never served ------------------------------


def _cache_files(raw, kind):
    (p,) = (raw / "dlc-cache").glob(f"*.{kind}.npy")
    return p


def _loaded_twice_without_parsing_raises(root, monkeypatch):
    """After the alteration: the next load must parse the raw files again (the cache is not trusted)."""
    parsed = []
    real = idx.read_pair
    monkeypatch.setattr(idx, "read_pair", lambda *a, **k: parsed.append(1) or real(*a, **k))
    x, y = data.load("mnist", train=False, data_dir=root)
    assert parsed, "the altered cache was served"
    return x, y


def _settle():
    # file times tick at the kernel's clock granularity (1-10 ms): make sure an edit made
    # right after the cache was written is not in the same tick
    import time

    time.sleep(0.02)


@pytest.mark.parametrize("kind", ["labels", "images"])
def test_cache_rewritten_after_validation_is_rebuilt(mnist_root, monkeypatch, kind):
    root, images, labels = mnist_root
    raw = root / "MNIST" / "raw"
    data.load("mnist", train=False, data_dir=root)
    p = _cache_files(raw, kind)
    altered = np.load(p).copy()
    altered[0] = (altered[0] + 1) % 10  # in range: no check of values alone can see it
    _settle()
    np.save(p, altered)
    x, y = _loaded_twice_without_parsing_raises(root, monkeypatch)
    np.testing.assert_array_equal(x.numpy(), images)
    np.testing.assert_array_equal(y.numpy(), labels)
    np.testing.assert_array_equal(np.load(_cache_files(raw, kind)), images if kind == "images" else labels)


@pytest.mark.parametrize("kind", ["labels", "images"])
def test_cache_edited_in_place_with_its_time_put_back_is_rebuilt(mnist_root, monkeypatch, kind):
    root, images, labels = mnist_root
    raw = root / "MNIST" / "raw"
    data.load("mnist", train=False, data_dir=root)
    p = _cache_files(raw, kind)
    st = p.stat()
    _settle()
    with open(p, "r+b") as f:  # one byte of the last value, in place: same file, same size
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0x01]))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # the modification time put back
    x, y = _loaded_twice_without_parsing_raises(root, monkeypatch)
    np.testing.assert_array_equal(x.numpy(), images)
    np.testing.assert_array_equal(y.numpy(), labels)


def test_out_of_range_cached_labels_are_refused_even_with_a_matching_stamp(mnist_root, monkeypatch):
    """A cache written with bad labels (by a bug, say) and stamped: the labels' range is still checked."""
    from dlc.data import MNIST

    root, images, labels = mnist_root
    raw = root / "MNIST" / "raw"
    data.load("mnist", train=False, data_dir=root)
    altered = labels.astype(np.int64)
    altered[5] = 99
    found, _ = MNIST.find("test", root)
    k = cache.key(found.files, "mnist-test-idx")
    cache._write(raw / "dlc-cache", "mnist-test-idx", k, images, altered)  # a stamped, consistent, wrong cache
    _, y = _loaded_twice_without_parsing_raises(root, monkeypatch)
    np.testing.assert_array_equal(y.numpy(), labels)


def test_cache_without_its_stamp_is_rebuilt(mnist_root, monkeypatch):
    """A pair with no stamp (a writer killed before it, or an older dlc's cache) is not trusted."""
    root, images, labels = mnist_root
    raw = root / "MNIST" / "raw"
    data.load("mnist", train=False, data_dir=root)
    (stamp,) = (raw / "dlc-cache").glob("*.stamp.json")
    stamp.unlink()
    _loaded_twice_without_parsing_raises(root, monkeypatch)
    assert stamp.is_file() and len(_npy(raw / "dlc-cache")) == 2


def test_checking_the_stamp_is_cheap(mnist_root, monkeypatch):
    """A valid cache is served after reading its stamp and the labels: the images are not read."""
    import zlib

    root, _, _ = mnist_root
    data.load("mnist", train=False, data_dir=root)
    checked = []
    real = zlib.crc32
    monkeypatch.setattr(cache.zlib, "crc32", lambda b, *a: checked.append(len(b)) or real(b, *a))
    monkeypatch.setattr(idx, "read_pair", lambda *a, **k: pytest.fail("cache not used"))
    data.load("mnist", train=False, data_dir=root)
    assert checked == [10_000 * 8]  # the labels' bytes only


# -- no debris: temporaries of a killed writer are swept ---------------------------------------


def _temporaries(folder):
    return sorted(p.name for p in folder.glob(".*.tmp")) if folder.is_dir() else []


def test_temporaries_of_a_dead_writer_are_swept_on_read_and_on_write(mnist_root, dead_pid, monkeypatch):
    import time

    from dlc.data import debris

    root, _, labels = mnist_root
    folder = root / "MNIST" / "raw" / "dlc-cache"
    folder.mkdir()

    def leave(name, size=8 << 20):  # the 8-44 MB a killed writer leaves
        with open(folder / name, "wb") as f:
            f.truncate(size)
        return name

    dead = leave(f".mnist-test-idx-12345678-abcdef.images.npy.{dead_pid}-{debris.HOST}-a1b2c3d4.tmp")
    live = leave(f".mnist-test-idx-12345678-abcdef.labels.npy.{os.getpid()}-{debris.HOST}-e5f6g7h8.tmp")
    legacy_old = leave(".mnist-train-idx-12345678-abcdef.images.npy.x9y8z7w6.tmp")  # older dlc: no pid
    legacy_new = leave(".mnist-train-idx-12345678-abcdef.labels.npy.q1r2s3t4.tmp")
    two_hours_ago = time.time() - 7200
    os.utime(folder / legacy_old, (two_hours_ago, two_hours_ago))
    data.load("mnist", train=False, data_dir=root)  # writes the cache
    assert dead not in _temporaries(folder) and legacy_old not in _temporaries(folder)
    assert _temporaries(folder) == sorted([live, legacy_new])
    dead2 = leave(f".mnist-test-idx-12345678-abcdef.stamp.json.{dead_pid}-{debris.HOST}-i9j8k7l6.tmp", 100)
    user = root / "user-cache"  # the other place a cache may be: swept too, though not read from
    user.mkdir()
    monkeypatch.setenv("DLC_CACHE_DIR", str(user))
    (user / f".mnist-test-idx-87654321-abcdef.images.npy.{dead_pid}-{debris.HOST}-m1n2o3p4.tmp").write_bytes(b"x")
    _, y = data.load("mnist", train=False, data_dir=root)  # reads it
    assert dead2 not in _temporaries(folder) and _temporaries(folder) == sorted([live, legacy_new])
    assert _temporaries(user) == []
    np.testing.assert_array_equal(y.numpy(), labels)


def test_a_writer_killed_during_the_cache_write(mnist_root, tmp_path):
    """A real SIGKILL in the middle of writing the images' .npy; the next load sweeps and rebuilds."""
    import signal
    import subprocess
    import sys
    import textwrap

    root, images, labels = mnist_root
    folder = root / "MNIST" / "raw" / "dlc-cache"
    script = textwrap.dedent(
        f"""
        import os, signal
        import numpy as np
        from dlc.data import cache
        from dlc.data.tensors import MNIST

        real_save = np.save

        def save_then_die(f, array, **kw):
            f.write(b"\\x93NUMPY" + bytes(4 << 20))  # 4 MB written...
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)  # ...then killed outright: no cleanup runs

        np.save = save_then_die
        MNIST.load_numpy(False, {str(root)!r})
        """
    )
    env = dict(os.environ, DLC_CACHE_DIR=str(tmp_path / "user"))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    (left,) = _temporaries(folder)  # the debris a SIGKILL leaves, with the dead writer's pid in its name
    assert f".{proc.pid}-" in left and (folder / left).stat().st_size > 4 << 20
    x, y = data.load("mnist", train=False, data_dir=root)
    assert _temporaries(folder) == [] and len(_npy(folder)) == 2
    np.testing.assert_array_equal(x.numpy(), images)
    np.testing.assert_array_equal(y.numpy(), labels)


def test_failed_cache_write_leaves_nothing(mnist_root, monkeypatch):
    """A full disk while writing the cache: a warning, the data, and no partial file or empty folder."""
    import errno

    root, images, _ = mnist_root
    raw = root / "MNIST" / "raw"

    def disk_full(f, array, **kw):
        f.write(b"\x93NUMPY" + bytes(1 << 20))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache.np, "save", disk_full)
    monkeypatch.setattr(cache, "user_cache_dir", lambda: root / "user-cache")
    with pytest.warns(UserWarning, match="could not write a cache.*No space left"):
        x, _ = data.load("mnist", train=False, data_dir=root)
    np.testing.assert_array_equal(x.numpy(), images)
    assert not (raw / "dlc-cache").exists() and not (root / "user-cache").exists()
