"""Temporaries of the data layer: whose they are, when they are stale, and folders a failure created."""

import os
import time

import pytest

from dlc.data import debris


def test_temporary_names_carry_pid_and_host(tmp_path):
    fd, p = debris.mkstemp(tmp_path, "x.npy", ".tmp")
    os.close(fd)
    assert p.name.startswith(f".x.npy.{os.getpid()}-{debris.HOST}-") and p.name.endswith(".tmp")
    assert not debris.is_stale(p)  # this process is alive
    d = debris.mkdtemp(tmp_path, "dlc-extract")
    assert d.name.startswith(f".dlc-extract.{os.getpid()}-{debris.HOST}-") and not debris.is_stale(d)


def test_stale_when_the_writer_is_dead_or_nothing_was_written_for_long(tmp_path, dead_pid):
    def make(name, age_s=0.0):
        p = tmp_path / name
        p.write_bytes(b"x")
        t = time.time() - age_s
        os.utime(p, (t, t))
        return p

    assert debris.is_stale(make(f".a.npy.{dead_pid}-{debris.HOST}-abc.tmp"))
    assert not debris.is_stale(make(f".b.npy.{dead_pid}-ffffff-abc.tmp"))  # another machine's pid
    assert debris.is_stale(make(f".c.npy.{dead_pid}-ffffff-abc.tmp", debris.STALE_S + 60))
    assert not debris.is_stale(make(f".d.npy.{os.getpid()}-{debris.HOST}-abc.tmp", 60))
    assert debris.is_stale(make(f".e.npy.{os.getpid()}-{debris.HOST}-abc.tmp", debris.STALE_S + 60))  # pid reused
    assert not debris.is_stale(make(".f.npy.abcdefgh.tmp", 60))  # no pid: by age only
    assert debris.is_stale(make(".g.npy.abcdefgh.tmp", debris.STALE_S + 60))


def test_a_folder_is_as_fresh_as_its_newest_file(tmp_path):
    d = tmp_path / ".dlc-extract-abcdefgh"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "f").write_bytes(b"x")
    old = time.time() - debris.STALE_S - 60
    for p in (d / "sub", d):
        os.utime(p, (old, old))
    assert not debris.is_stale(d)  # something in it is being written
    os.utime(d / "sub" / "f", (old, old))
    assert debris.is_stale(d)


def test_sweep_never_fails(tmp_path, dead_pid):
    assert debris.sweep(tmp_path / "missing", (".*.tmp",)) == []
    ro = tmp_path / "ro"
    ro.mkdir()
    p = ro / f".a.npy.{dead_pid}-{debris.HOST}-abc.tmp"
    p.write_bytes(b"x")
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root writes anyway: then it is swept
            assert debris.sweep(ro, (".*.tmp",)) == [p]
        else:
            assert debris.sweep(ro, (".*.tmp",)) == [] and p.exists()
    finally:
        ro.chmod(0o755)


def test_new_folders_removed_on_error(tmp_path):
    target = tmp_path / "data" / "MNIST" / "raw"
    with pytest.raises(OSError), debris.new_folders_removed_on_error(target):
        target.mkdir(parents=True)
        raise OSError("offline")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "data").mkdir()
    with pytest.raises(KeyboardInterrupt), debris.new_folders_removed_on_error(target):
        target.mkdir(parents=True)
        (target.parent / "keep.txt").write_text("a file put there is kept")
        raise KeyboardInterrupt
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "data",
        "data/MNIST",
        "data/MNIST/keep.txt",
    ]
    with debris.new_folders_removed_on_error(tmp_path / "ok"):  # success: what was made stays
        (tmp_path / "ok").mkdir()
    assert (tmp_path / "ok").is_dir()
