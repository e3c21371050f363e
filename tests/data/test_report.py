"""`dlc data` and `dlc data fetch`: the table, missing sets with the places searched, invalid sets."""

import pytest

import dlc.data as data
from dlc import cli
from tests.data import formats
from tests.data.available import requires_mnist


def test_report_on_the_real_folder(capsys):
    from dlc.data import CIFAR10, MNIST, REGISTRY
    from tests.data.available import found

    if not any(found(s) for s in REGISTRY.values()):
        pytest.skip("no data set found ($PYTORCH_DATA_DIR, ./data): nothing to report on")
    assert cli.main(["data"]) == 0
    out = capsys.readouterr().out
    for name in data.names():
        assert name in out
    lines = {line.split()[0]: line for line in out.splitlines() if line and line.split()[0] in data.names()}
    if found(MNIST):
        folder = MNIST.find("train")[0].folder
        assert "ok" in lines["mnist"] and "60000 + 10000" in lines["mnist"] and str(folder) in lines["mnist"]
    if found(CIFAR10) and CIFAR10.find("train")[0].layout.fmt == "cifar-bin":
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


@requires_mnist
def test_fetch_when_already_present(capsys):
    assert cli.main(["data", "fetch", "mnist"]) == 0
    assert "already here" in capsys.readouterr().out


def test_fetch_set_without_download(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PYTORCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data.cli_fetch("cats-vs-dogs", str(tmp_path)) == 1
    assert "no checksummed download" in capsys.readouterr().err
