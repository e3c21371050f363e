"""A full disk, simulated with a patched writer (``dlc.io``'s seams: the temporary file of
every atomic write, and the appends to metrics.jsonl): from a random point on, every
write fails with ENOSPC. The run stops with a DiskFull error naming the file, the space
it needs and the space left; the last good checkpoints stay readable; no temporary file
and no lock stay behind; metrics.jsonl holds only whole records; and once there is room
again, the resumed run ends exactly as the uninterrupted one."""

import json
import random
import re

import pytest

from dlc import io as dio
from dlc.engine import checkpoint as ckpt
from tests.faults.harness import STEPS, Fault, hurt_then_resume

RNG = random.Random(2024)
FULL_AT_WRITE = [round(RNG.random(), 3) for _ in range(8)]
FULL_AT_STEP = sorted(RNG.sample(range(1, STEPS + 1), 4))

_SIZE = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def _needed(message: str) -> float:
    m = re.search(r"it needs ([\d.]+) (B|kB|MB|GB)", message)
    assert m, message
    return float(m[1]) * _SIZE[m[2]]


def _check_left(reference):
    def inspect(folder, report, struck):
        assert report.startswith("DiskFull: the disk is full: cannot write "), report
        assert "free on that disk" in report and "Traceback" not in report, report
        (failed,) = re.findall(r"cannot write (\S+) \(", report)
        name = failed.rsplit("/", 1)[-1]
        if struck[0]["path"]:  # a file written atomically: the one the fault struck
            assert failed == struck[0]["path"], (failed, struck)
        if folder is None:
            return  # it failed before producing anything: no run folder
        assert dio.TEMPORARY.match(name) is None
        for p in ckpt.find(folder):  # the last good checkpoints stay valid
            ckpt.load_resumable(p, None)
        leftovers = [p.name for p in folder.rglob(".*")]
        assert leftovers == [], f"left behind: {leftovers}"
        for line in (folder / "metrics.jsonl").read_text().splitlines():
            json.loads(line)  # whole records only
        same = reference.run / failed.split(f"{folder.name}/", 1)[1]
        if same.is_file() and name != "metrics.jsonl":  # the space asked for: the file's size
            assert 0.5 * same.stat().st_size <= _needed(report) <= 2 * same.stat().st_size, report

    return inspect


@pytest.mark.parametrize("u", FULL_AT_WRITE)
def test_disk_full_at_a_write(tmp_path, reference, u):
    n = 1 + int(u * reference.writes)
    hurt_then_resume(tmp_path, reference, Fault("write", "full", n), 1, inspect=_check_left(reference))


@pytest.mark.parametrize("step", FULL_AT_STEP)
def test_disk_full_at_a_step(tmp_path, reference, step):
    """The disk fills during a step: the next record of metrics.jsonl cannot be written."""

    def inspect(folder, report, struck):
        _check_left(reference)(folder, report, struck)
        assert "metrics.jsonl" in report and _needed(report) < 1000, report

    hurt_then_resume(tmp_path, reference, Fault("step", "full", step), 1, inspect=inspect)
