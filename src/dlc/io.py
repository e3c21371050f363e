"""Writing files so that nothing is ever half-written, and nothing is left behind.

Every file dlc writes (configs, summaries, checkpoints, caches, figures, tables) goes
through :func:`write_atomic`: the content is written to a hidden temporary file in the
same folder, ``.<name>.tmp<pid>``, then renamed over the target (``os.replace`` is
atomic on one file system). A reader sees the old file or the new one, never a mix.

- A write that fails removes its temporary file; the target keeps its previous content.
  Ctrl-C during a write takes effect as soon as it is over (``_ctrl_c_after``).
- A process killed outright (SIGKILL, a power cut) cannot clean up: its temporary
  files are found by :func:`sweep_temporaries` (a run folder is swept when a run or a
  resume of it starts, see :mod:`dlc.engine.context`).
- A full disk (``ENOSPC``, or a quota: ``EDQUOT``) is a :class:`DiskFull` error that
  names the file, the space it needs and the space left, instead of an ``OSError``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from dlc.errors import DlcError
from dlc.humanize import format_bytes

#: the temporary name of ``write_atomic``: ``.<name>.tmp<pid>``
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp(?P<pid>\d+)$")
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class DiskFull(DlcError):
    """A file could not be written because its disk (or the user's quota) is full.

    ``path``: the file; ``needed``: the bytes it needs (None: unknown); ``free``: the
    bytes left on that disk. The previous content of ``path``, if any, is unchanged."""

    def __init__(self, path: Path, needed: int | None, free: int | None, existed: bool):
        self.path, self.needed, self.free = Path(path), needed, free
        need = f"it needs {format_bytes(needed)}" if needed is not None else "it needs more space"
        left = f"{format_bytes(free)} free" if free is not None else "the free space is unknown"
        if needed is not None and free is not None and needed > free:
            todo = f"free at least {format_bytes(needed - free)} more there"
        else:
            todo = "free some space there (or raise your disk quota)"
        kept = f" The previous {self.path.name} is unchanged." if existed else " Nothing was written."
        super().__init__(
            f"the disk is full: cannot write {self.path} ({need}, {left} on that disk); {todo}, then run again.{kept}"
        )


def is_disk_full(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in _FULL


def disk_full(path: Path, needed: int | None, existed: bool) -> DiskFull:
    """The :class:`DiskFull` error for ``path``, with the free space measured now."""
    free = None
    for p in (Path(path).parent, *Path(path).parents):
        try:
            free = shutil.disk_usage(p).free
            break
        except OSError:
            continue
    return DiskFull(path, needed, free, existed)


def _open_temporary(tmp: Path) -> IO[bytes]:
    """The temporary file a write goes to (a seam: the fault-injection tests replace it
    to fill the disk, slow the write down or kill the process in the middle of it)."""
    return open(tmp, "wb")


class _Counter:
    """A file that only counts what is written to it: the size of a content that a full
    disk did not let us write."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, b: Any) -> int:
        n = memoryview(b).nbytes
        self.n += n
        return n

    def tell(self) -> int:
        return self.n

    def flush(self) -> None: ...

    def seekable(self) -> bool:
        return False


def _size_of(content: bytes | str | Callable[[IO[bytes]], Any], written: int) -> int:
    """The bytes ``content`` takes (a writing function is run again into a counter);
    ``written`` (what reached the disk before it filled) when that fails."""
    if isinstance(content, str):
        return len(content.encode("utf-8"))
    if isinstance(content, (bytes, bytearray, memoryview)):
        return memoryview(content).nbytes
    counter = _Counter()
    try:
        content(counter)
    except Exception:  # noqa: BLE001 - a writer that needs a real file: what reached the disk
        return written
    return max(counter.n, written)


def write_atomic(path: str | Path, content: bytes | str | Callable[[IO[bytes]], Any]) -> Path:
    """Write ``content`` (bytes, text, or a function that writes to a binary file) to
    ``path`` atomically; creates the parent folder. Returns the path.

    Whatever happens (an error, Ctrl-C), the temporary file is removed and ``path``
    holds its old content or the new one; a full disk raises :class:`DiskFull`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(path, None, False) from None
        raise
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with _ctrl_c_after():
        return _write(path, tmp, content)


@contextmanager
def _ctrl_c_after() -> Iterator[None]:
    """Ctrl-C during a write takes effect when the write is over (a few milliseconds):
    torch.save turns a KeyboardInterrupt raised inside its writes into a RuntimeError
    (an "internal error" for the command line), and a write is short. The handlers that
    were in place then get the signals, in order (a fit's first Ctrl-C asks it to stop,
    the second raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread() or not callable(signal.getsignal(signal.SIGINT)):
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    caught: list = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        for frame in caught:
            handler = signal.getsignal(signal.SIGINT)
            if callable(handler):
                handler(signal.SIGINT, frame)


def _write(path: Path, tmp: Path, content: bytes | str | Callable[[IO[bytes]], Any]) -> Path:
    f = None
    try:
        with _open_temporary(tmp) as raw:
            f = _Watched(raw)
            if callable(content):
                content(f)
            else:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(tmp, path)
    except BaseException as e:  # also Ctrl-C: the temporary file must not stay behind
        # a writer may report a failed write as another error (torch.save: a RuntimeError);
        # _Watched kept the original: a full disk, or Ctrl-C inside the write
        original = f.error if f is not None and f.error is not None else e
        full = is_disk_full(e) or is_disk_full(original)
        written = 0
        if full:
            try:
                written = tmp.stat().st_size
            except OSError:
                pass
        _remove(tmp)
        if full:
            raise disk_full(path, _size_of(content, written), path.exists()) from None
        if original is not e and not isinstance(original, Exception):  # KeyboardInterrupt, SystemExit
            raise original from None
        raise
    return path


class _Watched:
    """A file, as given to a writing function, that remembers the error of a failed write
    (torch.save turns any into a RuntimeError: a full disk, even Ctrl-C)."""

    def __init__(self, f: IO[bytes]):
        self._f, self.error = f, None

    def write(self, b: Any) -> int:
        try:
            return self._f.write(b)
        except BaseException as e:
            self.error = e
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def append(fd: int, data: bytes, path: str | Path) -> None:
    """Append ``data`` to the file open as ``fd`` (``path``, for messages), whole or not
    at all: a write cut short (a full disk, Ctrl-C) is truncated away, so that a file of
    records (metrics.jsonl) never holds half of one. Unbuffered: nothing is pending in
    memory when the process is killed."""
    end = os.lseek(fd, 0, os.SEEK_END)
    try:
        view = memoryview(data)
        while view:
            view = view[_write_fd(fd, view) :]
    except BaseException as e:
        try:
            os.ftruncate(fd, end)
        except OSError:
            pass
        if is_disk_full(e):
            raise disk_full(Path(path), len(data), True) from None
        raise


def _write_fd(fd: int, data: memoryview) -> int:
    """``os.write`` (a seam: the fault-injection tests fill the disk here too)."""
    return os.write(fd, data)


def _remove(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:  # a read-only folder: nothing was written there either
        pass


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """``obj`` as indented JSON (paths, numpy and one-element tensors as plain values)."""
    return write_atomic(path, json.dumps(obj, indent=2, default=jsonable) + "\n")


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (another user's counts as alive)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, it is someone else's
        return True
    return True


def sweep_temporaries(folder: str | Path, *, only_dead: bool = True) -> list[Path]:
    """Remove the temporary files of :func:`write_atomic` (``.<name>.tmp<pid>``) left
    under ``folder`` (and its subfolders) by processes that were killed while writing.

    ``only_dead``: keep those of a process that is still running (and never this
    process's own). ``False`` removes every other process's temporaries: for a folder
    this process holds locked, where no other process may be writing (a pid of a dead
    process may have been reused). Never raises; returns what was removed."""
    removed: list[Path] = []
    try:
        found = [p for p in Path(folder).rglob(".*.tmp*") if TEMPORARY.match(p.name)]
    except OSError:
        return removed
    for p in sorted(found):
        pid = int(TEMPORARY.match(p.name)["pid"])
        if pid == os.getpid() or (only_dead and pid_alive(pid)):
            continue
        try:
            if p.is_file() and not p.is_symlink():
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    return removed


def jsonable(o: Any) -> Any:
    """The ``default`` hook for ``json.dumps``: plain values for what JSON does not know."""
    import dataclasses

    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):  # numpy scalars, one-element arrays and tensors
        try:
            return o.item()
        except (ValueError, RuntimeError):
            pass
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    return repr(o)


def user_cache_dir() -> Path:
    """The per-user cache: $DLC_CACHE_DIR, else $XDG_CACHE_HOME/dlc, else ~/.cache/dlc."""
    if os.environ.get("DLC_CACHE_DIR"):
        return Path(os.environ["DLC_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "dlc"
    return Path.home() / ".cache" / "dlc"
