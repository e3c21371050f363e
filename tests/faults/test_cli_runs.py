"""Real ``dlc run lecture-convnet --tiny --epochs 20`` processes, interrupted with Ctrl-C
(SIGINT) at a random moment (mid-epoch, most likely) and resumed with ``--resume``, for
the lab's own unshuffled batches and for shuffled ones: the resumed run ends exactly as
the uninterrupted one -- its final checkpoint at step 100 (20 epochs of 5 batches), the
120 records of metrics.jsonl (100 steps, 20 epochs), the same test error and metrics.

Unshuffled, the resume is then SIGKILLed and resumed again; shuffled, it is resumed by
two processes at once (one is refused). A resume of the finished run changes nothing.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlc.engine import checkpoint as ckpt
from tests.conftest import requires_mnist
from tests.faults.harness import TIMINGS, debris, snapshot

RNG = random.Random(11)
STEPS, RECORDS = 100, 120


def _dlc(*args):
    return [sys.executable, "-m", "dlc", *args]


def _start(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")  # the same arithmetic in every process
    return subprocess.Popen(_dlc(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc, newer_than: int = 0, timeout: float = 180) -> None:
    t0 = time.time()
    while not (path.is_file() and path.stat().st_mtime_ns > newer_than):
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before {path} was written: {proc.stderr.read()}")
        if time.time() - t0 > timeout:
            proc.kill()
            pytest.fail(f"no checkpoint {path} after {timeout} s")
        time.sleep(0.005)


def _records(run: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(s).items() if k not in TIMINGS}
        for s in (run / "metrics.jsonl").read_text().splitlines()
    ]


@requires_mnist
@pytest.mark.parametrize("shuffle", ["false", "true"], ids=["unshuffled", "shuffled"])
def test_cli_interrupted_mid_epoch_resumes_exactly(tmp_path, shuffle):
    args = ["run", "lecture-convnet", "--tiny", "--epochs", "20", "--force_cpu", "--quiet", "--shuffle", shuffle]
    ref = _start(*args, "--runs_dir", str(tmp_path / "ref"))
    runs = tmp_path / "runs"
    first = _start(*args, "--runs_dir", str(runs))
    deadline = time.time() + 180
    while not list(runs.glob("lecture-convnet/*/config.json")) and time.time() < deadline:
        time.sleep(0.005)
    (d,) = [p.parent for p in runs.glob("lecture-convnet/*/config.json")]
    last = d / "checkpoints" / "last.pt"
    _wait_for(last, first)  # the end of epoch 1
    time.sleep(RNG.uniform(0.0, 0.6))
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    stopped = ckpt.load(last)
    assert 0 < stopped["step"] < STEPS and not (d / "summary.json").exists()
    print(f"interrupted at epoch {stopped['epoch'] + 1}, batch {stopped['batch']} (step {stopped['step']})")
    resume = ["run", "lecture-convnet", "--quiet", "--runs_dir", str(runs), "--resume", str(d)]

    if shuffle == "false":  # resumed, SIGKILLed after its next checkpoint, resumed again
        second = _start(*resume)
        _wait_for(last, second, newer_than=last.stat().st_mtime_ns)
        second.send_signal(signal.SIGKILL)
        second.wait(timeout=60)
        # (a stop at an epoch's end may be saved again at the same step before the kill)
        assert stopped["step"] <= ckpt.load(last)["step"] < STEPS and not (d / "summary.json").exists()
        third = _start(*resume)
        _, err = third.communicate(timeout=300)
        assert third.returncode == 0, err
    else:  # two resumes at once: one proceeds, the other is refused
        two = [_start(*resume), _start(*resume)]
        outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in two]
        assert sorted(rc for rc, _ in outcomes) == [0, 1], outcomes
        (refusal,) = [err for rc, err in outcomes if rc == 1]
        assert "Traceback" not in refusal, refusal
        assert "is in use by process" in refusal or "is a finished run" in refusal, refusal

    _, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err
    (ref_dir,) = list((tmp_path / "ref" / "lecture-convnet").iterdir())
    assert ckpt.load(last)["step"] == ckpt.load(ref_dir / "checkpoints" / "last.pt")["step"] == STEPS
    assert len(_records(d)) == len(_records(ref_dir)) == RECORDS
    assert _records(d) == _records(ref_dir)
    a, b = (json.loads((x / "summary.json").read_text())["metrics"] for x in (ref_dir, d))
    assert a["test_error"] == b["test_error"]
    print(f"{shuffle=}: final step {STEPS}, {RECORDS} records, test error {b['test_error']:.2%} in both runs")
    assert {k: v for k, v in a.items() if k not in TIMINGS} == {k: v for k, v in b.items() if k not in TIMINGS}
    assert debris(d) == []

    # resuming the finished run: it says so, and nothing changes
    before = snapshot(d)
    again = subprocess.run(_dlc(*resume), capture_output=True, text=True, timeout=300)
    said = again.stdout + again.stderr
    assert "is a finished run" in said and "nothing was changed" in said and "Traceback" not in said, said
    assert snapshot(d) == before
