"""dlc.io under faults: an atomic write that fails leaves the old file and no temporary
file, one interrupted by Ctrl-C completes first; a full disk is a DiskFull naming the file and the space; the
temporaries of killed processes are swept; a record is appended whole or not at all."""

import errno
import io
import os
import signal

import pytest
import torch

from dlc import io as dio
from dlc.engine import checkpoint as ckpt


class _FullAfter(io.FileIO):
    """A temporary file on a disk that fills after ``room`` bytes."""

    room = 0

    def write(self, b):
        if self.tell() + len(memoryview(b).cast("B")) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(b)


def _disk_with_room(monkeypatch, room):
    def opener(tmp):
        f = _FullAfter(tmp, "w")
        f.room = room
        return f

    monkeypatch.setattr(dio, "_open_temporary", opener)


CONTENTS = {
    "text": "x" * 5000,
    "bytes": b"y" * 5000,
    "torch.save": lambda f: torch.save({"w": torch.zeros(2000)}, f),
    "a checkpoint": "checkpoint",
}


@pytest.mark.parametrize("room", [0, 100, 4000])
@pytest.mark.parametrize("kind", CONTENTS)
def test_a_full_disk_names_the_file_and_the_space_and_keeps_the_old_file(tmp_path, monkeypatch, kind, room):
    target = tmp_path / "sub" / "file.bin"
    dio.write_atomic(target, b"the old content")
    _disk_with_room(monkeypatch, room)
    with pytest.raises(dio.DiskFull) as e:
        if kind == "a checkpoint":
            ckpt.save({"w": torch.zeros(2000)}, target)
        else:
            dio.write_atomic(target, CONTENTS[kind])
    msg = str(e.value)
    assert msg.startswith(f"the disk is full: cannot write {target} (it needs ")
    assert "free on that disk" in msg and "The previous file.bin is unchanged" in msg
    assert e.value.needed >= 5000 and e.value.free is not None
    assert target.read_bytes() == b"the old content"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]


def test_ctrl_c_inside_torch_save_stops_right_after_the_write(tmp_path):
    """torch.save turns an exception raised in its writes into a RuntimeError; Ctrl-C
    during a write takes effect once the write is over: a complete file, no temporary,
    then KeyboardInterrupt (not an "internal error")."""
    target = tmp_path / "w.pt"
    target.write_bytes(b"old")

    def interrupted(f):
        torch.save({"w": torch.arange(100)}, _Interrupting(f))

    # Python's own Ctrl-C handler, as in a user's process: a test worker (or an earlier
    # test in it) may have left SIGINT ignored, and then nothing would be interrupted
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            dio.write_atomic(target, interrupted)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert torch.equal(torch.load(target, weights_only=True)["w"], torch.arange(100))
    assert [p.name for p in tmp_path.iterdir()] == ["w.pt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "w.pt"
    target.write_bytes(b"old")

    def failing(f):
        f.write(b"half")
        raise ValueError("the writer failed")

    with pytest.raises(ValueError, match="the writer failed"):
        dio.write_atomic(target, failing)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["w.pt"]


class _Interrupting:
    """A file whose second write gets Ctrl-C (a real SIGINT, through Python's handler)."""

    def __init__(self, f):
        self.f, self.n = f, 0

    def write(self, b):
        self.n += 1
        if self.n == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return self.f.write(b)

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_temporaries_of_dead_processes_are_swept(tmp_path):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    (tmp_path / "checkpoints").mkdir()
    dead = [tmp_path / f".last.pt.tmp{pid}", tmp_path / "checkpoints" / f".a-last.pt.tmp{pid}"]
    alive = tmp_path / f".summary.json.tmp{os.getppid()}"  # a live process's (pytest's parent)
    mine = tmp_path / f".config.json.tmp{os.getpid()}"
    others = [tmp_path / ".hidden", tmp_path / "notes.tmp123", tmp_path / ".x.tmpabc"]
    for p in [*dead, alive, mine, *others]:
        p.write_text("partial")
    assert sorted(dio.sweep_temporaries(tmp_path)) == sorted(dead)
    assert alive.exists() and mine.exists() and all(p.exists() for p in others)
    assert dio.sweep_temporaries(tmp_path, only_dead=False) == [alive]  # under the run's lock
    assert mine.exists()


def test_append_writes_a_record_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        dio.append(fd, b'{"a": 1}\n', path)
        calls = []

        def half_then_full(fd, data):
            calls.append(len(data))
            if len(calls) == 1:
                return os.write(fd, data[:5])  # a short write...
            raise OSError(errno.ENOSPC, "No space left on device")  # ...then the disk is full

        monkeypatch.setattr(dio, "_write_fd", half_then_full)
        with pytest.raises(dio.DiskFull, match=r"cannot write .*metrics.jsonl \(it needs 20 B"):
            dio.append(fd, b'{"b": 2, "c": 3.25}\n', path)
        assert path.read_bytes() == b'{"a": 1}\n'
    finally:
        os.close(fd)
