"""Temporary files of the data layer, and sweeping what a killed process left behind.

The data layer writes big files (caches of 8-150 MB, downloads, extracted archives) to
a hidden temporary name first and renames it into place. A process killed with SIGKILL
cannot remove its temporary file, so every temporary name carries its writer's process
id and host: ``.<target>.<pid>-<host>-<random><suffix>``. The next process that reads or
writes the folder removes (``sweep``) the temporaries whose writer is dead -- same host
and no such process -- or that nobody has written to for ``STALE_S`` seconds (a name of
an older dlc, without a pid, or a pid reused by another process).

A failed first download must not leave empty folders either: ``new_folders_removed_on_error``
removes the folders a block created when it fails.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dlc.io import pid_alive  # one test of a process's life, shared with run folders

STALE_S = 3600.0  # a temporary file untouched this long is abandoned, whoever wrote it
HOST = hashlib.sha1(socket.gethostname().encode(), usedforsecurity=False).hexdigest()[:6]
_OWNER = re.compile(r"\.(?P<pid>\d+)-(?P<host>[0-9a-f]{6})-[a-z0-9_]+(\.[a-z]+)?$")


def temp_prefix(target: str) -> str:
    """The prefix of a temporary name for ``target``: hidden, with this process's pid and host."""
    return f".{target}.{os.getpid()}-{HOST}-"


def mkstemp(folder: Path, target: str, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new temporary file in ``folder`` for ``target`` (see ``temp_prefix``): (fd, path)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=temp_prefix(target), suffix=suffix)
    return fd, Path(tmp)


def mkdtemp(folder: Path, target: str) -> Path:
    """A new temporary folder in ``folder`` for ``target`` (see ``temp_prefix``)."""
    return Path(tempfile.mkdtemp(dir=folder, prefix=temp_prefix(target)))


def is_stale(path: Path, now: float | None = None) -> bool:
    """Whether the temporary ``path`` was abandoned: its writer (pid in the name, this host) is
    dead, or nothing was written to it for ``STALE_S`` seconds."""
    m = _OWNER.search(path.name)
    if m and m["host"] == HOST and not pid_alive(int(m["pid"])):
        return True
    try:
        age = (time.time() if now is None else now) - _last_write(path)
    except OSError:
        return False  # gone already
    return age > STALE_S


def _last_write(path: Path) -> float:
    """The newest modification time of ``path`` or, for a folder, of anything in it."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for top, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(top, name)).st_mtime)
                except OSError:
                    continue
    return newest


def sweep(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """Remove the stale temporaries (files or folders) in ``folder`` matching the glob ``patterns``.

    Never raises: a folder that is missing or read-only (a shared data set) is left as it is.
    Returns what was removed.
    """
    removed: list[Path] = []
    folder = Path(folder)
    try:
        found = {p for pattern in patterns for p in folder.glob(pattern)}
    except OSError:
        return removed
    now = time.time()
    for p in sorted(found):
        if not is_stale(p, now):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except FileNotFoundError:  # another process swept it first
            continue
        except OSError:
            continue
    return removed


@contextmanager
def new_folders_removed_on_error(folder: Path) -> Iterator[None]:
    """Run a block that may create ``folder`` (and its missing parents); if the block fails,
    remove those of them that it created and that are still empty, deepest first."""
    created = []
    p = Path(folder)
    while not (p.exists() or p.is_symlink()) and p != p.parent:
        created.append(p)
        p = p.parent
    try:
        yield
    except BaseException:
        for d in created:
            try:
                d.rmdir()  # only when empty: whatever was put there is kept
            except FileNotFoundError:  # removed already (by a nested block)
                continue
            except OSError:
                break
        raise
