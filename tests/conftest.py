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


# Skip marks that ask dlc.data itself whether a set is there (an empty MNIST/raw/ is not MNIST).
from tests.data.available import requires_cifar, requires_mnist  # noqa: E402, F401


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


if os.environ.get("PYTEST_XDIST_WORKER"):
    # CI runs two workers on two cores: one intra-op thread each avoids oversubscription.
    import torch

    torch.set_num_threads(1)
