"""`dlc data` and `dlc data fetch`: the table, missing sets with the places searched, invalid sets."""

import pytest

import dlc.data as data
from dlc import cli
from tests.data import formats


def test_report_on_the_real_folder(capsys):
    from tests.conftest import _data_dir

    if _data_dir() is None:
        pytest.skip("no $PYTORCH_DATA_DIR")
    assert cli.main(["data"]) == 0
    out = capsys.readouterr().out
    for name in data.names():
        assert name in out
    lines = {line.split()[0]: line for line in out.splitlines() if line and line.split()[0] in data.names()}
    if (_data_dir() / "MNIST" / "raw").is_dir():
        assert "ok" in lines["mnist"] and "60000 + 10000" in lines["mnist"] and str(_data_dir()) in lines["mnist"]
    if (_data_dir() / "cifar-10-batches-bin").is_dir():
        assert "50000 + 10000" in lines["cifar10"] and "184.4 MB" in lines["cifar10"]


def test_report_missing_and_invalid(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "root"
    assert data.cli_report(str(root)) == 0  # nothing there: missing is not an error
    out = capsys.readouterr().out
    assert "0 verified, 6 missing" in out
    assert str(root / "MNIST" / "raw") in out and str(tmp_path / "data" / "cifar-10-batches-bin") in out
    assert "dlc data fetch NAME" in out

    images, labels = formats.mnist_like(10)
    raw = root / "MNIST" / "raw"
    formats.write_mnist_split(raw, images, labels, train=True)
    formats.write_mnist_split(raw, images, labels, train=False)
    # a training image file cut short: its header still announces 60,000 images
    formats.write(raw / "train-images-idx3-ubyte", formats.idx_bytes(images, dims=(60_000, 28, 28)))
    assert data.cli_report(str(root)) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and "header says 60000 items" in out and "truncated" in out


def test_fetch_when_already_present(capsys):
    from tests.conftest import have_mnist

    if not have_mnist():
        pytest.skip("MNIST not found")
    assert cli.main(["data", "fetch", "mnist"]) == 0
    assert "already here" in capsys.readouterr().out


def test_fetch_set_without_download(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data.cli_fetch("cats-vs-dogs", str(tmp_path)) == 1
    assert "no checksummed download" in capsys.readouterr().err
