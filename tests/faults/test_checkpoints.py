"""Damaged, foreign and malicious checkpoints: a resume refuses them with one clear
DlcError that names what is wrong (both sides, for a foreign one), changes nothing in
the run folder, and never runs code from the file; a damage that does not matter (a
flipped bit in zip padding) resumes exactly.

The run folder under test was killed at step 30 (fit a finished, fit b mid-way: both
``a-last.pt`` and ``b-last.pt`` exist); each test damages a copy of it.
"""

import io
import os
import pickle
import random
import shutil
import signal

import pytest
import torch

from dlc.engine import checkpoint as ckpt
from dlc.errors import DlcError
from tests.faults.harness import (
    Cfg,
    Fault,
    assert_same_run,
    debris,
    in_child,
    run_folders,
    run_here,
    snapshot,
)

RNG = random.Random(1959)


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A run folder killed at step 30, and a finished run of another lab."""
    root = tmp_path_factory.mktemp("stopped")
    status = in_child(run_here, root / "runs", Fault("step", "kill", 30), None, root / "log", report=root / "r")
    assert status == -signal.SIGKILL
    (d,) = run_folders(root / "runs")
    assert {p.name for p in (d / "checkpoints").iterdir()} >= {"a-last.pt", "b-last.pt", "b-best.pt"}
    other = root / "other"
    assert in_child(run_here, other, None, None, root / "log", None, 0, "fault-other", report=root / "r") == 0
    (o,) = [p.parent for p in other.glob("fault-other/*/config.json")]
    return d, o


def copy_of(stopped, tmp_path):
    d = tmp_path / "runs" / "fault-test" / stopped[0].name
    shutil.copytree(stopped[0], d)
    return d


def refused(tmp_path, d, *patterns, cfg=None, seed=0):
    """Resuming ``d`` fails with one DlcError whose message holds every pattern, and
    nothing in the folder changed (contents and modification times)."""
    before = snapshot(d)
    report = tmp_path / "report.txt"
    status = in_child(run_here, d.parents[1], None, d, tmp_path / "log", cfg, seed, report=report)
    message = report.read_text() if report.exists() else ""
    assert status == 1, message
    assert message.startswith("DlcError: "), message
    assert "Traceback" not in message and "KeyError" not in message, message
    for p in patterns:
        assert p in message, f"{p!r} not in: {message}"
    assert snapshot(d) == before, "a refused resume changed the run folder"
    assert debris(d) == []
    return message


def resumes_exactly(tmp_path, d, reference):
    report = tmp_path / "report.txt"
    status = in_child(run_here, d.parents[1], None, d, tmp_path / "log", report=report)
    assert status == 0, report.read_text() if report.exists() else status
    assert_same_run(reference.run, d)


# -- truncated and corrupted ---------------------------------------------------------------

TRUNCATE = [RNG.random() for _ in range(6)] + [0.0]


@pytest.mark.parametrize("fraction", [round(f, 3) for f in TRUNCATE])
def test_truncated_checkpoint(tmp_path, stopped, fraction):
    d = copy_of(stopped, tmp_path)
    p = d / "checkpoints" / "b-last.pt"
    data = p.read_bytes()
    p.write_bytes(data[: int(fraction * len(data))])
    refused(tmp_path, d, str(p), "truncated, damaged or not a file torch.save wrote", "move it away")


FLIPS = [(RNG.random(), RNG.randrange(8)) for _ in range(8)]


@pytest.mark.parametrize("where, bit", [(round(w, 3), b) for w, b in FLIPS])
def test_corrupted_checkpoint(tmp_path, stopped, reference, where, bit):
    """One flipped bit: refused (a checksum or the archive's structure), or, where the
    bit is not read (padding), the resume is exact: never a silently different run."""
    d = copy_of(stopped, tmp_path)
    p = d / "checkpoints" / "b-last.pt"
    data = bytearray(p.read_bytes())
    data[int(where * len(data))] ^= 1 << bit
    p.write_bytes(bytes(data))
    try:
        ckpt.load(p)
    except DlcError:
        refused(tmp_path, d, str(p), "cannot read the checkpoint")
    else:
        resumes_exactly(tmp_path, d, reference)


def test_a_flipped_bit_in_the_weights_is_caught_by_the_checksum(tmp_path, stopped):
    """torch.load does not check the zip's CRC-32: a flipped bit of a weight would load."""
    d = copy_of(stopped, tmp_path)
    p = d / "checkpoints" / "b-last.pt"
    state = torch.load(p, weights_only=True)
    w = state["step_state"]["models"]["model"]["0.weight"]
    raw = w.numpy().tobytes()
    data = bytearray(p.read_bytes())
    i = data.find(raw)
    assert i > 0
    data[i + 5] ^= 0x10
    p.write_bytes(bytes(data))
    assert not torch.equal(torch.load(p, weights_only=True)["step_state"]["models"]["model"]["0.weight"], w)
    refused(tmp_path, d, "does not match its checksum")


# -- foreign ---------------------------------------------------------------------------------


def _edit(p, change):
    state = torch.load(p, weights_only=True)
    change(state)
    torch.save(state, p)


FOREIGN = [
    "another lab",
    "another run of the lab",
    "another fit",
    "a best checkpoint",
    "a model's state_dict",
    "a tensor",
    "format 2",
    "a missing key",
    "a wrong type",
    "weights of another shape",
    "not torch at all",
]


@pytest.mark.parametrize("kind", FOREIGN)
def test_foreign_checkpoint(tmp_path, stopped, reference, kind):
    d = copy_of(stopped, tmp_path)
    p = d / "checkpoints" / "b-last.pt"
    other_run = stopped[1]
    if kind == "another lab":  # a last.pt of a run of another lab, copied in
        shutil.copy(other_run / "checkpoints" / "b-last.pt", p)
        refused(tmp_path, d, "belongs to a run of 'fault-other'", "not to this run of 'fault-test'", str(other_run))
    elif kind == "another run of the lab":
        shutil.copy(reference.run / "checkpoints" / "b-last.pt", p)
        theirs = ckpt.load(p)["identity"]["run_id"]
        ours = ckpt.load(d / "checkpoints" / "a-last.pt")["identity"]["run_id"]
        refused(tmp_path, d, "another run of 'fault-test'", theirs, ours, str(reference.run))
    elif kind == "another fit":
        shutil.copy(d / "checkpoints" / "a-last.pt", p)
        refused(tmp_path, d, "fit 'a' #1", "not of fit 'b' #1")
    elif kind == "a best checkpoint":
        shutil.copy(d / "checkpoints" / "b-best.pt", p)
        refused(tmp_path, d, "not a resumable dlc checkpoint")
    elif kind == "a model's state_dict":
        torch.save({"model": torch.nn.Linear(2, 2).state_dict()}, p)
        refused(tmp_path, d, "not a resumable dlc checkpoint (it holds model)")
    elif kind == "a tensor":
        torch.save(torch.zeros(3), p)
        refused(tmp_path, d, "not a dlc checkpoint (it holds a Tensor)")
    elif kind == "format 2":
        _edit(p, lambda s: (s.pop("format"), s.update(version=2)))
        refused(tmp_path, d, "older dlc (checkpoint format 2")
    elif kind == "a missing key":
        _edit(p, lambda s: s.pop("rng"))
        refused(tmp_path, d, "damaged (it has no 'rng')")
    elif kind == "a wrong type":
        _edit(p, lambda s: s.update(batch="2"))
        refused(tmp_path, d, "damaged ('batch' is a str)")
    elif kind == "weights of another shape":
        _edit(p, lambda s: s["step_state"]["models"]["model"].update({"0.weight": torch.zeros(3, 3)}))
        refused(tmp_path, d, "does not fit this run's models")
    elif kind == "not torch at all":
        p.write_text("this is not a checkpoint\n")
        refused(tmp_path, d, "not a file torch.save wrote")


@pytest.mark.parametrize(
    "change, patterns",
    [
        ({"cfg": Cfg(lr=0.1)}, ["other options", "lr=0.3 there, 0.1 here", "only epochs may change"]),
        ({"seed": 1}, ["other options", "seed=0 there, 1 here"]),
        ({"cfg": Cfg(epochs=2)}, ["already trained 3 epochs", "cannot be shortened", "at least 3 epochs"]),
    ],
    ids=["other options", "another seed", "fewer epochs"],
)
def test_resumed_with_other_options(tmp_path, stopped, change, patterns):
    d = copy_of(stopped, tmp_path)
    refused(tmp_path, d, *patterns, **change)


# -- malicious -------------------------------------------------------------------------------


class Payload:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('the payload ran')",))


def test_the_payload_is_live(tmp_path):
    """The control: plain unpickling does run it (so the tests below mean something)."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.read_text() == "the payload ran"


@pytest.mark.parametrize("packing", ["torch.save", "legacy torch.save", "raw pickle"])
def test_malicious_checkpoint_runs_nothing(tmp_path, stopped, packing):
    d = copy_of(stopped, tmp_path)
    p = d / "checkpoints" / "b-last.pt"
    marker = tmp_path / "ran"
    state = torch.load(p, weights_only=True)
    state["step_state"]["extra"] = Payload(marker)
    if packing == "torch.save":
        torch.save(state, p)
        patterns = ["refused to load", "could run arbitrary code"]
    elif packing == "legacy torch.save":
        buf = io.BytesIO()
        torch.save(state, buf, _use_new_zipfile_serialization=False)
        p.write_bytes(buf.getvalue())
        patterns = ["not a file torch.save wrote"]
    else:
        p.write_bytes(pickle.dumps(state))
        patterns = ["not a file torch.save wrote"]
    with pytest.raises(DlcError):
        ckpt.load(p)
    refused(tmp_path, d, str(p), *patterns)
    assert not marker.exists(), "the checkpoint's code ran"
    assert not os.path.exists(marker)
