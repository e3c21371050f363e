"""A fast second load: the parsed arrays saved as memory-mappable ``.npy`` files.

Parsing MNIST means gunzipping ~10 MB and validating it; reading a ``.npy`` is a
memory map. The cache sits beside the raw files (``<raw folder>/dlc-cache/``) or, when
that folder is read-only, in the user cache (``locate.user_cache_dir()``). Its file
names carry a key made of the raw files' paths, sizes and modification times, so a
changed raw file is never served from a stale cache.

A cache is never trusted on its name alone: beside each pair of arrays a stamp
(``<name>.stamp.json``) records, when the pair was written, each file's identity
(inode, size, modification and change times, in ns) and a CRC-32 of the labels. A
read checks the stamp (two ``stat`` calls and a checksum of the labels, well under a
millisecond for MNIST) and the labels' range (``check``), so a cache altered after it
was validated -- rewritten, edited in place, even with its modification time put back
(the change time cannot be) -- is rebuilt from the raw files instead of served.

Files are written to a temporary name and renamed (``os.replace``), so a reader never
sees half a cache; the temporary name carries the writer's pid (``dlc.data.debris``), and
temporaries of a killed writer are swept the next time the cache is read or written.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dlc.data import debris
from dlc.data.locate import user_cache_dir

FORMAT = 1  # bump when the cached arrays change meaning
SUBDIR = "dlc-cache"
# the temporary files of a cache write (see _write_file), swept when stale
TEMPORARIES = (".*.npy.*.tmp", ".*.stamp.json.*.tmp")


def key(raw_files: list[Path], tag: str) -> str:
    """``<where>-<version>``: a hash of the raw files' absolute paths, then of their sizes and mtimes.

    The first part names which files a cache belongs to (so caches of different data
    folders can share the user cache), the second which version of them.
    """
    where = hashlib.sha1(f"{FORMAT}|{tag}".encode())
    version = hashlib.sha1()
    for p in raw_files:
        st = Path(p).stat()
        where.update(f"|{Path(p).resolve()}".encode())
        version.update(f"|{st.st_size}|{st.st_mtime_ns}".encode())
    return f"{where.hexdigest()[:8]}-{version.hexdigest()[:12]}"


def _paths(folder: Path, tag: str, k: str) -> tuple[Path, Path]:
    return folder / f"{tag}-{k}.images.npy", folder / f"{tag}-{k}.labels.npy"


def _stamp_path(folder: Path, tag: str, k: str) -> Path:
    return folder / f"{tag}-{k}.stamp.json"


def _identity(path: Path) -> list[int]:
    """What changes whenever a file is written: inode, size, modification and change times (ns).

    The change time (ctime) is set by the kernel on every write, rename or ``utime``, and
    cannot be set back by a program, so restoring the modification time does not hide an edit.
    """
    st = os.stat(path)
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _crc(array: np.ndarray) -> int:
    return zlib.crc32(memoryview(np.ascontiguousarray(array)).cast("B"))


def locations(raw_folder: Path) -> list[Path]:
    """Where a cache may be: beside the raw files first, then the user cache."""
    return [Path(raw_folder) / SUBDIR, user_cache_dir()]


def _read(folder: Path, tag: str, k: str, check: Callable | None):
    """The cached pair if its stamp vouches for both files and ``check`` passes, else None."""
    images_p, labels_p = _paths(folder, tag, k)
    stamp_p = _stamp_path(folder, tag, k)
    if not (images_p.is_file() and labels_p.is_file() and stamp_p.is_file()):
        return None
    try:
        stamp = json.loads(stamp_p.read_text())
        if (
            stamp.get("format") != FORMAT
            or stamp["images"] != _identity(images_p)
            or stamp["labels"] != _identity(labels_p)
        ):
            return None  # written or replaced since the stamp was made: not what was validated
        images = np.load(images_p, mmap_mode="r", allow_pickle=False)
        labels = np.load(labels_p, mmap_mode="r", allow_pickle=False)
        if _crc(labels) != stamp["labels_crc32"]:
            return None
        if check is not None:
            check(images, labels)
        return images, labels
    except Exception:  # noqa: BLE001 - an unreadable or inconsistent cache is rebuilt, never trusted
        return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_file(path: Path, write: Callable) -> None:
    """``write(f)`` to a temporary file beside ``path``, then rename it into place."""
    fd, tmp = debris.mkstemp(path.parent, path.name, ".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a cache is as readable as its data
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_npy(path: Path, array: np.ndarray) -> None:
    _write_file(path, lambda f: np.save(f, np.ascontiguousarray(array), allow_pickle=False))


def writable(folder: Path) -> bool:
    """Whether ``folder`` (or the nearest existing parent) may be written to.

    The permission bits are honoured even for root, who could write anyway: a folder
    marked read-only (like a shared data set) is left alone.
    """
    p = Path(folder)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        mode = p.stat().st_mode
    except OSError:
        return False
    return os.access(p, os.W_OK) and bool(mode & 0o222)


def _write(folder: Path, tag: str, k: str, images: np.ndarray, labels: np.ndarray) -> None:
    if not writable(folder):
        raise PermissionError(13, "read-only folder", str(folder))
    images_p, labels_p = _paths(folder, tag, k)
    stamp_p = _stamp_path(folder, tag, k)
    with debris.new_folders_removed_on_error(folder):
        folder.mkdir(parents=True, exist_ok=True)
        debris.sweep(folder, TEMPORARIES)
        try:
            stamp_p.unlink(missing_ok=True)  # the pair is about to change: nothing vouches for it meanwhile
            _write_npy(images_p, images)
            _write_npy(labels_p, labels)
            stamp = {
                "format": FORMAT,
                "images": _identity(images_p),
                "labels": _identity(labels_p),
                "labels_crc32": _crc(labels),
            }
            _write_file(stamp_p, lambda f: f.write(json.dumps(stamp).encode()))
        except BaseException:
            for p in (images_p, labels_p, stamp_p):  # a pair without its stamp is never read: drop it
                p.unlink(missing_ok=True)
            raise
    # drop older versions of this cache (the same raw files, changed since)
    current = {images_p, labels_p, stamp_p}
    for old in folder.glob(f"{tag}-{k.split('-')[0]}-*"):
        if old not in current and old.name.endswith((".npy", ".stamp.json")):
            old.unlink(missing_ok=True)


def cached(
    raw_folder: Path,
    raw_files: list[Path],
    tag: str,
    build: Callable[[], tuple[np.ndarray, np.ndarray]],
    check: Callable | None = None,
) -> tuple[np.ndarray, np.ndarray, Path | None]:
    """(images, labels, cache file or None): from the cache if valid, else ``build()`` then saved.

    The arrays returned from the cache are read-only memory maps; ``check(images,
    labels)`` may raise to reject a cache (it is then rebuilt).
    """
    k = key(raw_files, tag)
    for folder in locations(raw_folder):  # every place, whichever serves: a killed writer's files go
        debris.sweep(folder, TEMPORARIES)
    for folder in locations(raw_folder):
        hit = _read(folder, tag, k, check)
        if hit is not None:
            return hit[0], hit[1], _paths(folder, tag, k)[0]
    images, labels = build()
    errors = []
    for folder in locations(raw_folder):
        try:
            _write(folder, tag, k, images, labels)
            return images, labels, _paths(folder, tag, k)[0]
        except OSError as e:  # read-only data folder: try the user cache
            errors.append(f"{folder}: {e.strerror or e}")
    warnings.warn(
        "dlc.data: could not write a cache (" + "; ".join(errors) + "); "
        "the data will be parsed again next time. Set DLC_CACHE_DIR to a writable folder.",
        stacklevel=3,
    )
    return images, labels, None
