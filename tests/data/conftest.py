"""Data tests: a private cache folder for the whole package, and writers of the real file formats."""

import os

import pytest


@pytest.fixture(scope="package", autouse=True)
def private_cache(tmp_path_factory):
    """DLC_CACHE_DIR in a temporary folder, so the tests neither read nor fill ~/.cache/dlc."""
    old = os.environ.get("DLC_CACHE_DIR")
    path = tmp_path_factory.mktemp("dlc-cache")
    os.environ["DLC_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("DLC_CACHE_DIR", None)
    else:
        os.environ["DLC_CACHE_DIR"] = old


@pytest.fixture(scope="package")
def mnist_loads():
    """Full MNIST (train and test) loaded twice in one process: the cold parse, then from the cache.

    The only MNIST cold parse of the test session; tests needing the arrays use this.
    """
    import time

    import dlc.data as data
    from tests.data.available import requires_mnist

    if requires_mnist.args[0]:  # the skip condition: MNIST not found
        pytest.skip(requires_mnist.kwargs["reason"])
    import torch  # noqa: F401  (imported before timing: the timing is of the data, not of torch)

    t0 = time.perf_counter()
    train = data.load("mnist", train=True)
    test = data.load("mnist", train=False)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    train2 = data.load("mnist", train=True)
    test2 = data.load("mnist", train=False)
    cached = time.perf_counter() - t0
    return {"train": train, "test": test, "again": (train2, test2), "cold_s": cold, "cached_s": cached}


@pytest.fixture
def dead_pid():
    """The pid of a process that has exited (and been reaped): what a SIGKILLed writer leaves in its names."""
    import subprocess
    import sys

    from dlc.data import debris

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not debris.pid_alive(proc.pid)
    return proc.pid
