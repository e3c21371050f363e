"""Text and photo loaders on files the tests write, the Dataset views, and the Pillow requirement."""

import sys

import numpy as np
import pytest
import torch

import dlc.data as data
from dlc.data import images, text
from dlc.errors import DataError, DlcError


def test_sentence_pairs_parsing(tmp_path):
    root = tmp_path
    (root / "text").mkdir()
    (root / "text" / "eng-fra-5k.txt").write_text(
        "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org\nHi.\tSalut !\tCC-BY\n\n", encoding="utf-8"
    )
    assert data.load("eng-fra", data_dir=root) == [("Go.", "Va !"), ("Hi.", "Salut !")]
    ds = data.dataset("eng-fra", data_dir=root)
    assert len(ds) == 2 and ds[1] == ("Hi.", "Salut !")


def test_full_pairs_from_gzip(tmp_path, monkeypatch):
    import gzip

    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "eng-fra-tatoeba-2017.txt.gz").write_bytes(
        gzip.compress("I see.\tJe comprends.\nÇa va?\tÇa va ?\n".encode())
    )
    assert data.load("eng-fra", data_dir=tmp_path, full=True)[1] == ("Ça va?", "Ça va ?")
    with pytest.raises(DataError, match="English-French sentence pairs \\(5k\\) not found"):
        data.load("eng-fra", data_dir=tmp_path)


def test_bad_pairs_line_and_bad_encoding(tmp_path):
    with pytest.raises(DataError, match="f.txt, line 2: expected 'English<TAB>French'"):
        text.parse_pairs("a\tb\nno tab here\n", "f.txt")
    p = tmp_path / "t.txt"
    p.write_bytes(b"caf\xe9")
    with pytest.raises(DataError, match="not UTF-8"):
        text.read_text(p)


def test_text_missing_message(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as e:
        data.load("tinyshakespeare", data_dir=tmp_path / "x")
    msg = str(e.value)
    assert str(tmp_path / "x" / "text" / "tinyshakespeare.txt") in msg
    assert str(tmp_path / "data" / "tinyshakespeare" / "input.txt") in msg
    assert "dlc data fetch tinyshakespeare" in msg and "PYTORCH_DATA_DIR" in msg


def test_tinyshakespeare_download_checks_md5(tmp_path, monkeypatch):
    """Served through a file:// URL: the real corpus passes its md5; other text does not."""
    real, searched = text.TINYSHAKESPEARE.find()
    if real is None:
        pytest.skip(f"the real Tiny Shakespeare is not found (searched {', '.join(map(str, searched))})")
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    res = text.TINYSHAKESPEARE.downloads[0]
    monkeypatch.setattr(text.TINYSHAKESPEARE, "downloads", [type(res)(res.filename, res.md5, (real.as_uri(),))])
    s = data.load("tinyshakespeare", data_dir=tmp_path / "d", download=True)
    assert len(s) == 1_115_394 and (tmp_path / "d" / "text" / "tinyshakespeare.txt").is_file()

    fake = tmp_path / "fake.txt"
    fake.write_text("To be or not to be")
    monkeypatch.setattr(text.TINYSHAKESPEARE, "downloads", [type(res)(res.filename, res.md5, (fake.as_uri(),))])
    with pytest.raises(DataError, match="md5 mismatch"):
        data.load("tinyshakespeare", data_dir=tmp_path / "e", download=True)
    assert not (tmp_path / "e").exists()  # the failed download removed the folders it created


def _photos(root, split, n_per_class):
    from PIL import Image

    for c, color in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        d = root / "cats-vs-dogs" / split / c
        d.mkdir(parents=True)
        for i in range(n_per_class):
            Image.new("RGB", (40 + 10 * i, 30), color).save(d / f"{c[:-1]}.{i}.jpg")


def test_photo_folders(tmp_path):
    _photos(tmp_path, "train", 3)
    _photos(tmp_path, "validation", 2)
    items = data.load("cats-vs-dogs", train=True, data_dir=tmp_path)
    assert [y for _, y in items] == [0, 0, 0, 1, 1, 1]
    x, y = images.decode_all(items, size=16)
    assert x.shape == (6, 3, 16, 16) and x.dtype == torch.uint8
    assert (x[:3, 0].float().mean() > 150) and (x[3:, 2].float().mean() > 150)  # red cats, blue dogs
    assert images.decode(items[-1][0], size=(8, 12), crop=False).shape == (3, 8, 12)
    assert len(data.load("cats-vs-dogs", train="val", data_dir=tmp_path)) == 4


def test_corrupt_photo(tmp_path):
    _photos(tmp_path, "train", 1)
    bad = tmp_path / "cats-vs-dogs" / "train" / "cats" / "cat.9.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="cat.9.jpg: cannot decode"):
        images.decode(bad)
    with pytest.raises(DataError, match="not a JPEG or PNG"):
        images.CATS_VS_DOGS.verify(data.load("cats-vs-dogs", data_dir=tmp_path))


def _png(width: int, height: int) -> bytes:
    """A PNG header of the given size, correct checksums, no pixels (written by hand)."""
    import struct
    import zlib

    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + iend


@pytest.mark.parametrize(
    "name,content,why",
    [
        ("bomb.png", _png(100_000, 100_000), "refused to decode"),  # DecompressionBombError before
        ("cut.png", _png(40, 30), "cannot decode"),  # a header, no pixels
        ("zero.jpg", b"", "cannot decode"),
        ("folder.jpg", None, "cannot decode"),
    ],
)
def test_damaged_photos_are_data_errors(tmp_path, name, content, why):
    pytest.importorskip("PIL", reason="decoding photos needs Pillow (pip install 'dlc[images]')")
    p = tmp_path / name
    p.mkdir() if content is None else p.write_bytes(content)
    with pytest.raises(DataError, match=why) as e:
        images.decode(p)
    assert type(e.value) is DataError and str(p) in str(e.value)
    if content is None:
        with pytest.raises(DataError, match="cannot read the file") as e:
            images.CATS_VS_DOGS.verify([(p, 0)])
        assert str(p) in str(e.value)


def test_damaged_text_files_are_data_errors(tmp_path):
    import gzip

    whole = gzip.compress(b"a\tb\n" * 1000)
    for name, content in [("cut.txt.gz", whole[: len(whole) // 2]), ("bad.txt.gz", whole[:20] + b"\xff" * 30)]:
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(DataError, match="corrupt or truncated") as e:
            text.read_text(p)
        assert str(p) in str(e.value)


def test_missing_pillow_says_how_to_install(tmp_path, monkeypatch):
    _photos(tmp_path, "train", 1)
    item = data.load("cats-vs-dogs", data_dir=tmp_path)[0]
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    with pytest.raises(DlcError, match="pip install pillow"):
        images.decode(item[0])


def test_tensor_dataset_view(tmp_path):
    from tests.data import formats

    imgs, labels = formats.mnist_like(10_000, seed=8)
    formats.write_mnist_split(tmp_path / "MNIST" / "raw", imgs, labels)
    ds = data.dataset(
        "mnist", train=False, data_dir=tmp_path, transform=lambda x: x.float() / 255, target_transform=lambda y: y + 100
    )
    assert len(ds) == 10_000 and len(ds.classes) == 10
    x, y = ds[3]
    assert x.dtype == torch.float32 and x.shape == (28, 28)
    assert np.allclose(x.numpy(), imgs[3] / 255) and int(y) == labels[3] + 100
    loader = torch.utils.data.DataLoader(ds, batch_size=64)
    xb, yb = next(iter(loader))
    assert xb.shape == (64, 28, 28) and yb.shape == (64,)


def test_text_has_no_sample_view():
    with pytest.raises(DataError, match="one text, not a set of samples"):
        data.dataset("tinyshakespeare")
