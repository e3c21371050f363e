"""Downloads that never leave a half-written or unverified file in place.

A file is streamed to a temporary file in its target folder, its md5 is compared with
the official value, and only then is it renamed into place (``os.replace`` is atomic
within a folder). Any failure -- a wrong checksum, a dropped connection, Ctrl-C --
removes the temporary file. Mirrors are tried in order. Archives are checked member
by member before anything is extracted, so a name like ``../x`` or ``/etc/x`` or a
link cannot write outside the target folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dlc.errors import DataError

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
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{resource.filename}.", suffix=".part")
    tmp_path = Path(tmp)
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
    """Fetch ``resource`` into ``dest_dir`` (verified, atomically); return the final path."""
    dest_dir = Path(dest_dir)
    final = dest_dir / resource.filename
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"cannot create {dest_dir} for the download: {e}; "
            "choose a writable folder with --data_dir or PYTORCH_DATA_DIR"
        ) from e
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


def _check_member(member: tarfile.TarInfo, dest: Path, archive: Path) -> PurePosixPath:
    name = PurePosixPath(member.name)
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
        raise DataError(f"{archive}: refused to extract {member.name!r}: not a plain file or folder")
    return name


def extract_tar(archive: Path, dest: Path) -> list[Path]:
    """Extract a (gzipped) tar into ``dest`` safely; return the files written.

    Every member is checked before anything is written; files are extracted into a
    temporary folder inside ``dest`` and then renamed into place, so an interrupted
    extraction leaves no partial file.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive}: not a readable tar archive ({e}); delete it and download again") from e
    written: list[Path] = []
    with tar:
        members = tar.getmembers()
        names = [_check_member(m, dest, archive) for m in members]
        staging = Path(tempfile.mkdtemp(dir=dest, prefix=".dlc-extract-"))
        try:
            staged = []
            for m, name in zip(members, names):
                if not m.isfile():
                    continue
                out = staging.joinpath(*name.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                with src, open(out, "wb") as f:
                    shutil.copyfileobj(src, f, CHUNK)
                staged.append((out, dest.joinpath(*name.parts)))
            for out, final in staged:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(out, final)
                written.append(final)
        except (tarfile.TarError, EOFError) as e:
            raise DataError(f"{archive}: the archive is corrupt or truncated ({e})") from e
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return written
