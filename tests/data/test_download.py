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
from tests.conftest import requires_mnist
from tests.data import formats


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
    assert list(dest.iterdir()) == []


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
    assert list(dest.iterdir()) == []


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
    from tests.conftest import _data_dir

    mirror = (_data_dir() / "MNIST" / "raw").as_uri() + "/"
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


def _tar(path, members):
    """members: (name, bytes) for files, or (name, ('sym'|'hard', target)) for links."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE if content[0] == "sym" else tarfile.LNKTYPE
                info.linkname = content[1]
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
    assert list(dest.iterdir()) == []  # checked before anything is written


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
