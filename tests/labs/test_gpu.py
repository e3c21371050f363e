"""gpu at --tiny: it measures every device present (the CPU here, with 1 and all threads),
its throughputs are sane and agree across devices; the device-independent parts
(timing, GFLOP/s, errors, options) are unit-tested; the CUDA paths run where CUDA exists."""

import time

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import get as get_lab
from dlc.labs import gpu, make_config
from tests.labs.helpers import assert_checks, run_tiny


def test_gpu_lab_at_tiny_on_the_cpu(runs_dir):
    result = run_tiny("gpu", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert not m["cuda"] and m["gpus"] == []
    assert result.line.startswith("no GPU found: the CPU's float32 product runs at")
    assert m["sizes"] == [32, 256]
    cores = gpu.cpu_cores()
    devices = {r["device"] for r in m["throughput"]}
    assert devices == {"cpu, 1 thread", f"cpu, {cores} thread{'s' if cores != 1 else ''}"}
    # every (device, dtype, size) was measured once, with a positive finite rate
    assert len(m["throughput"]) == len(devices) * 2 * 2
    assert all(0 < r["gflops"] < float("inf") and r["seconds"] > 0 for r in m["throughput"])
    assert {r["dtype"] for r in m["throughput"]} == {"float32", "float64"}
    # the float32 product differs from float64 by rounding only; float64 agrees to 1e-12
    for r in m["agreement"]:
        assert r["relative_error"] < (1e-4 if r["dtype"] == "float32" else 1e-12)
    assert m["pinned"] == [] and m["model_moves"] == []  # nothing to copy to without CUDA
    # on the CPU the unsynchronised and synchronised timings measure the same work
    assert len(m["sync"]) == 1 and m["sync"][0]["device"] == "cpu"
    d = result.run_dir
    for name in ("throughput.png", "timing.png", "throughput.md"):
        assert (d / name).is_file(), name
    table = (d / "throughput.md").read_text()
    assert "| cpu, 1 thread | float32 |" in table and "n=256" in table


def test_gflops_and_relative_error():
    assert gpu.gflops(1000, 1.0) == pytest.approx(2.0)  # 2 n^3 = 2e9 operations in 1 s
    assert gpu.gflops(10, 2e-6) == pytest.approx(1.0)
    ref = torch.tensor([[1.0, -4.0], [2.0, 0.0]])
    assert gpu.relative_error(ref, ref) == 0.0
    assert gpu.relative_error(ref + torch.tensor([[0.0, 0.4], [0.0, 0.0]]), ref) == pytest.approx(0.1)


def test_time_call_repeats_short_calls_and_keeps_the_fastest():
    calls, syncs = [], []
    seconds = gpu.time_call(lambda: calls.append(1), lambda: syncs.append(1), repeats=3, min_time=0.005)
    assert 0 < seconds < 0.005
    assert len(calls) > 10  # a call of microseconds is repeated to last min_time
    assert len(syncs) >= 4  # warm-up, calibration, then each timed run waits for the device

    def slow():
        time.sleep(0.003)

    assert (
        0.003 <= gpu.time_call(slow, lambda: None, repeats=2, min_time=0.001) < 0.5
    )  # a sleep lasts at least its time


def test_cpu_agreement_rows_are_within_tolerance():
    target = gpu.Target(torch.device("cpu"), threads=1)
    rows = gpu.agreement_rows(target, [torch.float32, torch.float64], n=64)
    assert [r["dtype"] for r in rows] == ["float32", "float64"]
    assert all(r["relative_error"] < r["tolerance"] for r in rows)
    assert target.label == "cpu, 1 thread"
    assert gpu.Target(torch.device("cpu"), threads=4).label == "cpu, 4 threads"


def test_throughput_rows_restore_the_thread_count():
    before = torch.get_num_threads()
    cfg = make_config(get_lab("gpu"), "tiny")
    rows = gpu.throughput_rows(gpu.Target(torch.device("cpu"), threads=1), [16], [torch.float32], cfg)
    assert torch.get_num_threads() == before
    assert rows[0]["n"] == 16 and rows[0]["device"] == "cpu, 1 thread" and rows[0]["gflops"] > 0


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("sizes", "32,abc", "--sizes"),
        ("sizes", "0", "--sizes"),
        ("dtypes", "float8", "--dtypes"),
        ("repeats", 0, "--repeats"),
        ("min_time", 0.0, "--min_time"),
    ],
)
def test_bad_options_are_refused(option, value, message):
    with pytest.raises(UsageError, match=message):
        make_config(get_lab("gpu"), "tiny", **{option: value})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_lab_uses_every_gpu(runs_dir):
    result = run_tiny("gpu", runs_dir, force_cpu=False)
    assert_checks(result)
    m = result.metrics
    assert m["cuda"] and len(m["gpus"]) == torch.cuda.device_count()
    assert m["sync_ratio"] > 1
    assert all(p["copy_exact"] and p["pinned_gb_s"] > 0 for p in m["pinned"])
    assert all(r["parameter_device"].startswith("cuda") for r in m["model_moves"])
    assert {r["dtype"] for r in m["throughput"] if r["device"].startswith("cuda")} >= {"float32", "float16"}
