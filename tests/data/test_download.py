"""Downloads and archives: checksum before the move, atomic rename, no traversal, nothing half-written."""

import hashlib
import io
import tarfile
import urllib.error

import numpy as np
import pytest
import torch

import dlc.data as data
from dlc.data import download
from dlc.data.download import Resource
from dlc.data.tensors import CIFAR10, MNIST
from dlc.errors import DataError
from tests.data import formats
from tests.data.available import requires_mnist


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


@pytest.fixture
def served(tmp_path):
    """A file to 'download' through a file:// URL."""
    src = tmp_path / "server" / "payload.bin"
    src.parent.mkdir()
    content = bytes(range(256)) * 5000
    src.write_bytes(content)
    return src, content


def test_download_through_a_file_url(tmp_path, served):
    src, content = served
    dest = tmp_path / "dest"
    got = download.download(Resource("payload.bin", _md5(content), (src.as_uri(),)), dest, quiet=True)
    assert got == dest / "payload.bin" and got.read_bytes() == content
    assert [p.name for p in dest.iterdir()] == ["payload.bin"]  # no temporary file left


def test_wrong_md5_is_refused_and_nothing_is_left(tmp_path, served):
    src, _ = served
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as e:
        download.download(Resource("payload.bin", "0" * 32, (src.as_uri(),)), dest, quiet=True)
    assert "md5 mismatch" in str(e.value) and src.as_uri() in str(e.value)
    assert not dest.exists()  # neither the file nor the folder the download created


def test_next_mirror_is_tried(tmp_path, served):
    src, content = served
    dest = tmp_path / "dest"
    urls = ((tmp_path / "nowhere.bin").as_uri(), src.as_uri())
    got = download.download(Resource("payload.bin", _md5(content), urls), dest, quiet=True)
    assert got.read_bytes() == content


class _Interrupted(io.BytesIO):
    """A response that delivers one chunk, then the user presses Ctrl-C."""

    headers = {"Content-Length": "999999"}

    def read(self, n=-1):
        if self.tell() > 0:
            raise KeyboardInterrupt
        return super().read(min(n, 1000))


@pytest.mark.parametrize("exc", [KeyboardInterrupt, ConnectionResetError])
def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch, exc):
    class Resp(_Interrupted):
        def read(self, n=-1):
            if self.tell() > 0:
                raise exc()
            return super().read(n)

    monkeypatch.setattr(download, "urlopen", lambda url: Resp(b"x" * 5000))
    dest = tmp_path / "dest"
    expected = KeyboardInterrupt if exc is KeyboardInterrupt else DataError
    with pytest.raises(expected):
        download.download(Resource("f.gz", "0" * 32, ("http://example.invalid/f.gz",)), dest, quiet=True)
    assert not dest.exists()
    dest.mkdir()  # a folder that was there before is kept, and left empty
    with pytest.raises(expected):
        download.download(Resource("f.gz", "0" * 32, ("http://example.invalid/f.gz",)), dest, quiet=True)
    assert dest.is_dir() and list(dest.iterdir()) == []


def _no_network(url):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def test_no_network_error_names_urls(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "urlopen", _no_network)
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as e:
        data.load("mnist", train=False, data_dir=tmp_path / "d", download=True)
    msg = str(e.value)
    assert "ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz" in msg
    assert "yann.lecun.com/exdb/mnist/t10k-images-idx3-ubyte.gz" in msg
    assert "name resolution" in msg
    assert not list((tmp_path / "d").rglob("*.gz"))


def test_cli_fetch_without_network_fails_cleanly(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(download, "urlopen", _no_network)
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data.cli_fetch("fashion-mnist", str(tmp_path / "d")) == 1
    err = capsys.readouterr().err
    assert "could not download" in err and "fashion-mnist.s3-website.eu-central-1.amazonaws.com" in err
    assert data.cli_fetch("no-such-set", None) == 2


@requires_mnist
def test_fetch_mnist_test_split_from_a_mirror(tmp_path, monkeypatch):
    """The official t10k files (byte-exact in the offline folder) served as a mirror: md5 passes."""
    found, _ = MNIST.find("test")
    if not all(f.suffix == ".gz" for f in found.files):
        pytest.skip(f"the official t10k-*.gz files are not in {found.folder} (only their unpacked copies)")
    mirror = found.folder.as_uri() + "/"
    monkeypatch.delenv("PYTORCH_DATA_DIR")  # else the files are simply found there
    monkeypatch.chdir(tmp_path)
    patched = {
        split: [Resource(r.filename, r.md5, (mirror + r.filename,)) for r in res]
        for split, res in MNIST.file_downloads.items()
    }
    monkeypatch.setattr(MNIST, "file_downloads", patched)
    root = tmp_path / "fresh"
    x, y = data.load("mnist", train=False, data_dir=root, download=True)
    assert x.shape == (10_000, 28, 28) and y[:5].tolist() == [7, 2, 1, 0, 4]
    assert sorted(p.name for p in (root / "MNIST" / "raw").glob("*.gz")) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]


_TYPES = {
    "sym": tarfile.SYMTYPE,
    "hard": tarfile.LNKTYPE,
    "dir": tarfile.DIRTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def _tar(path, members, mode="w:gz"):
    """members: (name, bytes) for files, (name, ('sym'|'hard', target)) for links,
    (name, ('dir'|'chr'|'blk'|'fifo',)) for folders, devices and pipes."""
    with tarfile.open(path, mode) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type = _TYPES[content[0]]
                info.linkname = content[1] if len(content) > 1 else ""
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def test_safe_extraction(tmp_path):
    dest = tmp_path / "dest"
    arc = _tar(tmp_path / "ok.tar.gz", [("top/a.txt", b"a"), ("top/sub/b.txt", b"bb")])
    written = download.extract_tar(arc, dest)
    assert sorted(p.relative_to(dest).as_posix() for p in written) == ["top/a.txt", "top/sub/b.txt"]
    assert (dest / "top" / "sub" / "b.txt").read_bytes() == b"bb"
    assert not list(dest.glob(".dlc-extract-*"))


@pytest.mark.parametrize(
    "members,why",
    [
        ([("top/ok.txt", b"1"), ("top/../../evil.txt", b"x")], "'..'"),
        ([("top/ok.txt", b"1"), ("/tmp/dlc-evil-absolute.txt", b"x")], "absolute path"),
        ([("top/ok.txt", b"1"), ("top/link", ("sym", "../../evil.txt"))], "points outside"),
        ([("top/ok.txt", b"1"), ("top/link", ("sym", "/etc/passwd"))], "points outside"),
        ([("top/ok.txt", b"1"), ("top/hard", ("hard", "../evil.txt"))], "points outside"),
    ],
)
def test_traversal_is_refused_and_nothing_is_written(tmp_path, members, why):
    dest = tmp_path / "a" / "dest"
    arc = _tar(tmp_path / "bad.tar.gz", members)
    with pytest.raises(DataError) as e:
        download.extract_tar(arc, dest)
    assert "refused" in str(e.value) and why in str(e.value)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "a" / "evil.txt").exists()
    assert not __import__("os").path.exists("/tmp/dlc-evil-absolute.txt")
    assert not dest.exists()  # checked before anything is written; the folder it made is gone


def test_cifar_archive_fetch_extracts_and_loads(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    images = np.zeros((10_000, 3, 32, 32), dtype=np.uint8)  # compresses fast; the labels are random
    images[:, 1, 5, 7] = np.arange(10_000) % 256
    labels = rng.integers(0, 10, 10_000, dtype=np.uint8)
    arc = _tar(
        tmp_path / "cifar-10-binary.tar.gz",
        [
            ("cifar-10-batches-bin/test_batch.bin", formats.cifar_bin_bytes(images, labels)),
            ("cifar-10-batches-bin/batches.meta.txt", "\n".join(CIFAR10.classes).encode()),
        ],
    )
    md5 = download.md5sum(arc)
    monkeypatch.setattr(
        CIFAR10,
        "archives",
        [
            Resource("cifar-10-binary.tar.gz", "f" * 32, ((tmp_path / "x").as_uri(),)),  # fails: missing
            Resource("cifar-10-python.tar.gz", md5, (arc.as_uri(),)),
        ],
    )
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "root"
    x, y = data.load("cifar10", train=False, data_dir=root, download=True)
    assert torch.equal(y, torch.from_numpy(labels.astype(np.int64)))
    assert x.shape == (10_000, 3, 32, 32) and torch.equal(x[:, 1, 5, 7], torch.arange(10_000) % 256)
    assert not list(root.glob("*.tar.gz"))  # the archive is removed after extraction


# -- truncated, corrupt and odd archives: a DataError naming the archive, nothing written --------


def _refused(arc, dest) -> str:
    with pytest.raises(DataError) as e:
        download.extract_tar(arc, dest)
    assert type(e.value) is DataError and str(arc) in str(e.value)
    return str(e.value)


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []


_BIG = bytes(range(256)) * 400  # 100 kB of poorly compressible content


@pytest.mark.parametrize(
    "mode,cut",
    [
        ("w:gz", 0.5),  # in the middle of a member's values: EOFError before
        ("w:gz", 0.05),  # in the first member
        ("w:gz", -4),  # only the gzip trailer's length is missing: was extracted as if whole
        ("w:gz", -8),  # the whole trailer (CRC and length)
        ("w", 0.5),  # a plain tar cut in a member: tarfile.ReadError before
        ("w:bz2", 0.5),
        ("w:xz", 0.5),
    ],
)
def test_truncated_archive(tmp_path, mode, cut):
    whole = _tar(tmp_path / "whole", [("top/a.bin", _BIG), ("top/b.bin", _BIG[::-1])], mode).read_bytes()
    n = int(len(whole) * cut) if cut > 0 else len(whole) + cut
    arc = tmp_path / "cut.tar"
    arc.write_bytes(whole[:n])
    dest = tmp_path / "dest"
    msg = _refused(arc, dest)
    assert "truncated or corrupt" in msg or "not a readable tar archive" in msg
    assert "download" in msg  # what to do
    assert not dest.exists()


def test_corrupt_byte_in_the_compressed_stream(tmp_path):
    whole = bytearray(_tar(tmp_path / "whole.tar.gz", [("top/a.bin", _BIG)]).read_bytes())
    whole[len(whole) // 2] ^= 0xFF
    arc = tmp_path / "bad.tar.gz"
    arc.write_bytes(bytes(whole))
    assert "truncated or corrupt" in _refused(arc, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize(
    "members,why",
    [
        ([("top/a", b"1"), ("top/a/b", b"2")], "'top/a' is both a file and a folder"),  # FileExistsError before
        ([("top/a", ("dir",)), ("top/a", b"2")], "'top/a' is both a file and a folder"),
        ([("top/a", b"1"), ("top/a", b"2")], "'top/a' is listed twice"),  # the second silently won
        ([("top/a", b"1"), ("./top//a", b"2")], "is listed twice"),  # the same path, spelled differently
        ([("top/dev", ("chr",))], "it is a character device"),
        ([("top/dev", ("blk",))], "it is a block device"),
        ([("top/pipe", ("fifo",))], "it is a named pipe"),
        ([("top/ok", b"1"), ("", b"2")], "a file needs a name"),
    ],
)
def test_odd_members_are_refused_and_nothing_is_written(tmp_path, members, why):
    arc = _tar(tmp_path / "odd.tar.gz", members)
    dest = tmp_path / "dest"
    assert why in _refused(arc, dest)
    assert not dest.exists()


def test_folders_listed_twice_and_the_dot_folder_are_fine(tmp_path):
    members = [("./", ("dir",)), ("./top", ("dir",)), ("./top/a", b"1"), ("top/", ("dir",)), ("top/b", b"2")]
    arc = _tar(tmp_path / "ok.tar.gz", members)
    download.extract_tar(arc, tmp_path / "dest")
    assert _files(tmp_path / "dest") == ["top", "top/a", "top/b"]


@pytest.mark.parametrize("in_the_way", ["folder", "file"])
def test_something_in_the_way_in_the_target_folder(tmp_path, in_the_way):
    dest = tmp_path / "dest"
    if in_the_way == "folder":
        (dest / "top" / "a").mkdir(parents=True)  # IsADirectoryError before
        (dest / "top" / "a" / "mine").write_text("keep")
        why = f"{dest / 'top' / 'a'} is a folder"
    else:
        dest.mkdir()
        (dest / "top").write_text("keep")  # FileExistsError before
        why = f"{dest / 'top'} is a file where the archive has a folder"
    before = _files(dest)
    arc = _tar(tmp_path / "ok.tar.gz", [("top/b", b"2"), ("top/a", b"1")])
    msg = _refused(arc, dest)
    assert why in msg and "move it away" in msg
    assert _files(dest) == before  # nothing extracted, nothing of the user's touched, no staging folder


def test_target_folder_is_a_file(tmp_path):
    dest = tmp_path / "dest"
    dest.write_text("keep")
    arc = _tar(tmp_path / "ok.tar.gz", [("top/a", b"1")])
    assert "cannot extract into" in _refused(arc, dest)
    assert dest.read_text() == "keep"


def test_not_enough_free_space(tmp_path, monkeypatch):
    import collections

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(download.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    arc = _tar(tmp_path / "big.tar.gz", [("top/a.bin", _BIG)])
    msg = _refused(arc, tmp_path / "dest")
    assert "needs 102.4 kB" in msg and "1.0 kB free" in msg and "--data_dir" in msg
    assert not (tmp_path / "dest").exists()


def test_interrupted_extraction_leaves_nothing(tmp_path, monkeypatch):
    real_copy, calls = download._copy, []

    def copy_then_interrupt(src, out, archive):
        calls.append(out)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_copy(src, out, archive)

    monkeypatch.setattr(download, "_copy", copy_then_interrupt)
    arc = _tar(tmp_path / "ok.tar.gz", [("top/a", b"1"), ("top/b", b"2")])
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(KeyboardInterrupt):
        download.extract_tar(arc, dest)
    assert _files(dest) == []  # the first file was staged, never moved into place; staging removed


def test_stale_extraction_folders_of_killed_processes_are_swept(tmp_path, dead_pid):
    import os
    import time

    from dlc.data import debris

    dest = tmp_path / "dest"
    dead = dest / f".dlc-extract.{dead_pid}-{debris.HOST}-abcd1234"
    live = dest / f".dlc-extract.{os.getpid()}-{debris.HOST}-efgh5678"
    old = dest / ".dlc-extract-x1y2z3ab"  # an older dlc's name, without a pid
    for d in (dead, live, old):
        (d / "cifar-10-batches-bin").mkdir(parents=True)
        (d / "cifar-10-batches-bin" / "data_batch_1.bin").write_bytes(b"x" * 1000)
    two_hours_ago = time.time() - 7200
    for p in (old / "cifar-10-batches-bin" / "data_batch_1.bin", old / "cifar-10-batches-bin", old):
        os.utime(p, (two_hours_ago, two_hours_ago))
    download.extract_tar(_tar(tmp_path / "ok.tar.gz", [("top/a", b"1")]), dest)
    assert not dead.exists() and not old.exists()
    assert live.exists()  # a running process's extraction is left alone
    assert (dest / "top" / "a").read_bytes() == b"1"


# -- an offline first run leaves nothing behind -------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "tinyshakespeare"])
def test_offline_first_load_leaves_no_folder(tmp_path, monkeypatch, name):
    monkeypatch.setattr(download, "urlopen", _no_network)
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as e:  # into ./data, the default
        data.load(name, download=True)
    assert type(e.value) is DataError and "name resolution" in str(e.value)
    assert list(tmp_path.iterdir()) == []  # no data/MNIST/raw/ (was left empty)
    with pytest.raises(DataError):  # into a given folder, several levels deep
        data.load(name, data_dir=tmp_path / "a" / "b", download=True)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "data").mkdir()  # a folder that was there before is kept (and left empty)
    with pytest.raises(DataError):
        data.load(name, download=True)
    assert _files(tmp_path) == ["data"]


def test_offline_cli_fetch_leaves_no_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(download, "urlopen", _no_network)
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data.cli_fetch("mnist", None) == 1
    assert "could not download" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_verified_file_is_kept_when_a_later_one_fails(tmp_path, monkeypatch, served):
    """Fetching a split is two files: the first, verified, stays (with its folder) for the next try."""
    src, content = served
    good = Resource("t10k-images-idx3-ubyte.gz", _md5(content), (src.as_uri(),))
    bad = Resource("t10k-labels-idx1-ubyte.gz", "0" * 32, ((tmp_path / "nowhere").as_uri(),))
    monkeypatch.setattr(MNIST, "file_downloads", {"test": [good, bad], "train": []})
    with pytest.raises(DataError):
        MNIST.fetch(tmp_path / "root", splits=("test",), quiet=True)
    assert _files(tmp_path / "root") == ["MNIST", "MNIST/raw", "MNIST/raw/t10k-images-idx3-ubyte.gz"]


def test_stale_partial_downloads_of_killed_processes_are_swept(tmp_path, served, dead_pid):
    import os
    import time

    from dlc.data import debris

    src, content = served
    dest = tmp_path / "dest"
    dest.mkdir()
    names = {
        "dead": f".payload.bin.{dead_pid}-{debris.HOST}-abcd1234.part",
        "live": f".payload.bin.{os.getpid()}-{debris.HOST}-efgh5678.part",
        "old": ".payload.bin.x1y2z3ab.part",  # an older dlc's name: swept by age
        "fresh": ".payload.bin.k9l8m7nb.part",
        "other host": f".payload.bin.{dead_pid}-000000-abcd1234.part",  # its pid means nothing here
        "other file": f".other.bin.{dead_pid}-{debris.HOST}-abcd1234.part",  # another download's
    }
    for n in names.values():
        (dest / n).write_bytes(b"x" * 5000)
    two_hours_ago = time.time() - 7200
    os.utime(dest / names["old"], (two_hours_ago, two_hours_ago))
    download.download(Resource("payload.bin", _md5(content), (src.as_uri(),)), dest, quiet=True)
    left = {p.name for p in dest.iterdir()}
    assert left == {"payload.bin"} | {names[k] for k in ("live", "fresh", "other host", "other file")}
