"""Shared test set-up: real data from ../shared/data when present, quiet small runs."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

if "PYTORCH_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["PYTORCH_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("MPLBACKEND", "Agg")
# Data caches of the test session stay in the repository's (ignored) pytest cache, not in ~/.cache.
os.environ.setdefault("DLC_CACHE_DIR", str(ROOT / ".pytest_cache" / "dlc-data-cache"))


def _data_dir():
    d = os.environ.get("PYTORCH_DATA_DIR")
    return Path(d) if d else None


def have_mnist() -> bool:
    d = _data_dir()
    return bool(d) and (d / "MNIST" / "raw").is_dir()


def have_cifar() -> bool:
    d = _data_dir()
    return bool(d) and ((d / "cifar-10-batches-bin").is_dir() or (d / "cifar-10-batches-py").is_dir())


requires_mnist = pytest.mark.skipif(not have_mnist(), reason="MNIST not found in $PYTORCH_DATA_DIR")
requires_cifar = pytest.mark.skipif(not have_cifar(), reason="CIFAR-10 not found in $PYTORCH_DATA_DIR")


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


if os.environ.get("PYTEST_XDIST_WORKER"):
    # CI runs two workers on two cores: one intra-op thread each avoids oversubscription.
    import torch

    torch.set_num_threads(1)
