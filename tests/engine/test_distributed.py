"""Several processes (torchrun, gloo on the CPU): the same training as one process, one
run folder, and a SIGKILLed run that resumes to the same end."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("ddp_script.py")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is missing")


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return env


def _command(nproc, *args):
    if nproc == 1:
        return [sys.executable, str(SCRIPT), *args]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        str(SCRIPT),
        *args,
    ]


def run(nproc, runs_dir, *args, timeout=240):
    out = subprocess.run(
        _command(nproc, str(runs_dir), *args), env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return _final(runs_dir)


def _final(runs_dir):
    runs = [p.parent for p in Path(runs_dir).glob("ddp-test/*/config.json")]
    assert len(runs) == 1, f"expected one run folder, found {runs}"
    return runs[0], torch.load(runs[0] / "final.pt", weights_only=True)


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (from /proc), children first."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _wait_gone(pids: list[int], timeout: float = 30) -> None:
    """Wait until the processes have exited (zombies count as gone: their files are closed)."""
    deadline = time.time() + timeout
    for pid in pids:
        while time.time() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                break
            if state in ("Z", "X"):
                break
            time.sleep(0.01)


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path):
    _, one = run(1, tmp_path / "one", "--batch", "40", "--epochs", "3")
    folder, two = run(2, tmp_path / "two", "--batch", "40", "--epochs", "3")
    assert two["world"] == 2 and one["world"] == 1
    for k, w in one["weights"].items():
        torch.testing.assert_close(two["weights"][k], w, rtol=1e-4, atol=1e-5)
    # the epoch metrics are means over every sample of every process: the same numbers
    for a, b in zip(one["history"], two["history"]):
        assert a.keys() == b.keys()
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-6), k
    # only rank 0 wrote: one folder, one record per epoch, one set of checkpoints
    assert [p.name for p in (tmp_path / "two").iterdir()] == ["ddp-test"]
    records = [json.loads(s) for s in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert json.loads((folder / "config.json").read_text())["world_size"] == 2


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc to find torchrun's workers")
def test_two_processes_killed_then_resumed_end_as_uninterrupted(tmp_path):
    args = ["--batch", "40", "--epochs", "6", "--every", "4"]
    _, reference = run(2, tmp_path / "ref", *args)

    runs = tmp_path / "killed"
    proc = subprocess.Popen(
        _command(2, str(runs), *args, "--sleep", "0.05"),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        last = None
        while time.time() < deadline:  # wait for a mid-run checkpoint, then kill everything
            found = list(runs.glob("ddp-test/*/checkpoints/last.pt"))
            if found and found[0].stat().st_size and time.time() - found[0].stat().st_mtime > 0.01:
                last = found[0]
                state = torch.load(last, weights_only=False)
                if 8 <= state["step"] < 50:
                    break
            time.sleep(0.05)
        assert last is not None, "no checkpoint was written in time"
    finally:
        # torchrun starts its workers in sessions of their own: killing its process group
        # leaves them running (and writing the run folder). Kill the whole tree.
        tree = [proc.pid, *_descendants(proc.pid)]
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        _wait_gone(tree[1:])
    folder = last.parents[1]
    assert not (folder / "final.pt").exists(), "the run finished before it could be killed"
    killed_at = torch.load(last, weights_only=False)["step"]
    assert 0 < killed_at < 60

    run(2, runs, *args, "--resume", str(folder))
    resumed = torch.load(folder / "final.pt", weights_only=True)
    assert resumed["history"] == reference["history"]
    for k, w in reference["weights"].items():
        assert torch.equal(resumed["weights"][k], w), k


@pytest.mark.skipif(
    not (Path(os.environ.get("PYTORCH_DATA_DIR", "/nonexistent")) / "MNIST").is_dir(),
    reason="MNIST not found in $PYTORCH_DATA_DIR",
)
def test_dlc_run_nproc_launches_torchrun_and_writes_one_run_folder(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlc",
            "run",
            "lecture-convnet",
            "--tiny",
            "--nproc",
            "2",
            "--epochs",
            "1",
            "--quiet",
            "--force_cpu",
            "--runs_dir",
            str(tmp_path),
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("lecture-convnet: test error") == 1  # the result line, from rank 0 only
    runs = list(tmp_path.glob("lecture-convnet/*/summary.json"))
    assert len(runs) == 1 and len(list(tmp_path.glob("lecture-convnet/*"))) == 1
    summary = json.loads(runs[0].read_text())
    assert summary["world_size"] == 2 and summary["metrics"]["train_samples"] == 500
