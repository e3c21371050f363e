"""Downloads that never leave a half-written or unverified file in place.

A file is streamed to a temporary file in its target folder, its md5 is compared with
the official value, and only then is it renamed into place (``os.replace`` is atomic
within a folder). Any failure -- a wrong checksum, a dropped connection, Ctrl-C --
removes the temporary file; a process killed outright cannot, so temporary names carry
the writer's pid and the next download sweeps those of dead processes (``debris``). A
failed download removes the folders it created (an offline first run leaves no empty
``data/MNIST/raw/``). Mirrors are tried in order. Archives are read through once and
checked member by member before anything is extracted: a name like ``../x`` or
``/etc/x``, a link, a device, a name listed twice, a truncated or corrupt stream, or
not enough free space is refused with a ``DataError`` naming the archive, and nothing
is written.
"""

from __future__ import annotations

import bz2  # noqa: F401  (tarfile's "r:*" needs it for .tar.bz2)
import errno
import glob
import gzip
import hashlib
import lzma
import os
import shutil
import sys
import tarfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dlc.data import debris
from dlc.errors import DataError
from dlc.humanize import format_bytes

CHUNK = 1 << 20
TIMEOUT_S = 30


@dataclass(frozen=True)
class Resource:
    """A file to download: its name on disk, official md5, and the URLs to try in order."""

    filename: str
    md5: str
    urls: tuple[str, ...]


def urlopen(url: str):
    """Open a URL for reading (a seam for tests: they replace it to simulate failures)."""
    return urllib.request.urlopen(url, timeout=TIMEOUT_S)


def md5sum(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _progress(total: int | None, desc: str, quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, leave=False)


def _stream(url: str, dest_dir: Path, resource: Resource, quiet: bool) -> Path:
    """Download ``url`` to a temporary file in ``dest_dir``; return it once its md5 matched."""
    fd, tmp_path = debris.mkstemp(dest_dir, resource.filename, ".part")
    try:
        h = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urlopen(url) as response:
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            bar = _progress(int(length) if length else None, resource.filename, quiet)
            try:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    out.write(chunk)
                    h.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
        if h.hexdigest() != resource.md5:
            raise DataError(f"md5 mismatch: got {h.hexdigest()}, expected {resource.md5} (corrupt or altered download)")
        return tmp_path
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def download(resource: Resource, dest_dir: Path, quiet: bool = False) -> Path:
    """Fetch ``resource`` into ``dest_dir`` (verified, atomically); return the final path.

    If every URL fails, the folders this call created are removed again.
    """
    dest_dir = Path(dest_dir)
    final = dest_dir / resource.filename
    with debris.new_folders_removed_on_error(dest_dir):
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(
                f"cannot create {dest_dir} for the download: {e}; "
                "choose a writable folder with --data_dir or PYTORCH_DATA_DIR"
            ) from e
        debris.sweep(dest_dir, (f".{glob.escape(resource.filename)}.*.part",))
        failures = []
        for url in resource.urls:
            if not quiet:
                print(f"downloading {url}", file=sys.stderr)
            try:
                tmp = _stream(url, dest_dir, resource, quiet)
            except DataError as e:
                failures.append(f"  {url}: {e}")
                continue
            except OSError as e:  # URLError, HTTPError, timeouts, connection resets
                failures.append(f"  {url}: {getattr(e, 'reason', None) or e}")
                continue
            os.replace(tmp, final)
            return final
        raise DataError(f"could not download {resource.filename}; tried:\n" + "\n".join(failures))


# what reading a damaged archive raises: tarfile's own errors, a cut compressed stream
# (EOFError), a damaged one (zlib/lzma errors; gzip's BadGzipFile and bz2's are OSErrors)
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)
_KINDS = {
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a named pipe (FIFO)",
}
EXTRACT_STAGING = "dlc-extract"  # the temporary folder of an extraction, inside its target


def _corrupt(archive: Path, e: BaseException) -> DataError:
    return DataError(
        f"{archive}: the archive is truncated or corrupt ({type(e).__name__}: {e}); delete it and download it again"
    )


def _check_member(member: tarfile.TarInfo, dest: Path, archive: Path) -> PurePosixPath:
    name = PurePosixPath(member.name)
    if not name.parts:  # "" or "./": the target folder itself
        if member.isdir():
            return name
        raise DataError(f"{archive}: refused to extract {member.name!r}: a file needs a name")
    if name.is_absolute() or member.name.startswith(("/", "\\")) or (name.parts and ":" in name.parts[0]):
        raise DataError(f"{archive}: refused to extract {member.name!r}: absolute path")
    if ".." in name.parts:
        raise DataError(
            f"{archive}: refused to extract {member.name!r}: the name climbs out of the target folder with '..'"
        )
    if member.issym() or member.islnk():
        target = (dest / name.parent / member.linkname) if member.issym() else dest / member.linkname
        outside = not os.path.realpath(target).startswith(os.path.realpath(dest) + os.sep)
        where = "points outside the target folder" if outside else "is a link"
        raise DataError(
            f"{archive}: refused to extract {member.name!r}: it {where} "
            f"({member.linkname!r}); data archives hold only plain files"
        )
    if not (member.isfile() or member.isdir()):
        kind = _KINDS.get(member.type, f"of tar type {member.type!r}")
        raise DataError(
            f"{archive}: refused to extract {member.name!r}: it is {kind}, not a plain file or folder; "
            "data archives hold only plain files"
        )
    return name


def _check_names(members: list[tarfile.TarInfo], names: list[PurePosixPath], archive: Path) -> None:
    """Each file listed once, and no name both a file and a folder (a file's parents are folders)."""
    files: set[PurePosixPath] = set()
    folders: set[PurePosixPath] = set()
    for m, name in zip(members, names):
        if m.isfile():
            if name in files:
                raise DataError(
                    f"{archive}: refused to extract: {m.name!r} is listed twice (a second copy would "
                    "silently replace the first); the archive is damaged or not the data set's: "
                    "delete it and download it again"
                )
            files.add(name)
            folders.update(name.parents)
        else:
            folders.add(name)
    both = sorted(files & folders)
    if both:
        raise DataError(
            f"{archive}: refused to extract: {str(both[0])!r} is both a file and a folder in the archive; "
            "it is damaged or not the data set's: delete it and download it again"
        )


def _check_target(dest: Path, names: list[PurePosixPath], archive: Path) -> None:
    """Nothing in ``dest`` stands in the way: no folder where a file goes, no file where a folder goes."""
    for name in names:
        final = dest.joinpath(*name.parts)
        if final.is_dir() and not final.is_symlink():
            raise DataError(f"{archive}: cannot extract {str(name)!r}: {final} is a folder; move it away and try again")
        for parent in list(name.parents)[:-1]:
            p = dest.joinpath(*parent.parts)
            if (p.exists() or p.is_symlink()) and not p.is_dir():
                raise DataError(
                    f"{archive}: cannot extract {str(name)!r}: {p} is a file where the archive has a folder; "
                    "move it away and try again"
                )


def _check_space(dest: Path, members: list[tarfile.TarInfo], archive: Path) -> None:
    need = sum(m.size for m in members if m.isfile())
    try:
        free = shutil.disk_usage(dest).free
    except OSError:
        return
    if need > free:
        raise DataError(
            f"{archive}: extracting needs {format_bytes(need)} but {dest} has {format_bytes(free)} free; "
            "free some space or choose another data folder with --data_dir or PYTORCH_DATA_DIR"
        )


def _write_error(archive: Path, path: Path, e: OSError) -> DataError:
    if e.errno == errno.ENOSPC:
        return DataError(f"{archive}: the disk is full while writing {path}; free some space and try again")
    return DataError(f"{archive}: cannot write {path} while extracting ({e.strerror or e}); check the folder")


def _copy(src, out: Path, archive: Path) -> None:
    """A member's bytes to ``out``, telling a damaged archive (read) from a failing disk (write)."""
    try:
        f = open(out, "wb")
    except OSError as e:
        raise _write_error(archive, out, e) from e
    with src, f:
        while True:
            try:
                chunk = src.read(CHUNK)
            except _READ_ERRORS as e:
                raise _corrupt(archive, e) from e
            if not chunk:
                return
            try:
                f.write(chunk)
            except OSError as e:
                raise _write_error(archive, out, e) from e


def extract_tar(archive: Path, dest: Path) -> list[Path]:
    """Extract a (compressed) tar into ``dest`` safely; return the files written.

    The whole archive is read and every member checked before anything is written
    (paths, links, devices, names listed twice, a cut or corrupt stream, free space,
    what is already in ``dest``); files are extracted into a temporary folder inside
    ``dest`` and then renamed into place, so an interrupted extraction leaves no partial
    file. Any failure is a ``DataError`` naming the archive; folders it created are removed.
    """
    archive, dest = Path(archive), Path(dest)
    with debris.new_folders_removed_on_error(dest):
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"{archive}: cannot extract into {dest} ({e.strerror or e}); check the folder") from e
        debris.sweep(dest, (f".{EXTRACT_STAGING}*",))
        try:
            tar = tarfile.open(archive, "r:*")
        except (*_READ_ERRORS, OSError) as e:
            raise DataError(f"{archive}: not a readable tar archive ({e}); delete it and download again") from e
        with tar:
            try:
                members = tar.getmembers()
                # read on to the end of the compressed stream: its checksum is verified there
                # (tarfile stops at the end-of-archive blocks, before a cut-off trailer)
                while tar.fileobj.read(CHUNK):
                    pass
            except (*_READ_ERRORS, OSError) as e:
                raise _corrupt(archive, e) from e
            names = [_check_member(m, dest, archive) for m in members]
            _check_names(members, names, archive)
            files = [(m, name) for m, name in zip(members, names) if m.isfile()]
            _check_target(dest, [name for _, name in files], archive)
            _check_space(dest, members, archive)
            return _extract(tar, files, dest, archive)


def _extract(tar: tarfile.TarFile, files, dest: Path, archive: Path) -> list[Path]:
    try:
        staging = debris.mkdtemp(dest, EXTRACT_STAGING)
    except OSError as e:
        raise _write_error(archive, dest, e) from e
    written: list[Path] = []
    try:
        staged = []
        for m, name in files:
            out = staging.joinpath(*name.parts)
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
            except _READ_ERRORS as e:
                raise _corrupt(archive, e) from e
            except OSError as e:
                raise _write_error(archive, out.parent, e) from e
            _copy(src, out, archive)
            staged.append((out, dest.joinpath(*name.parts)))
        for out, final in staged:
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(out, final)
            except OSError as e:
                raise _write_error(archive, final, e) from e
            written.append(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written
