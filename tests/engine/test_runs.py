"""`dlc runs` and `dlc runs show`: run folders as a table, and one run in detail."""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from dlc.cli import main
from dlc.engine import RunContext, Supervised, fit
from dlc.engine.callbacks import Checkpoint, Curves, MetricsLogger
from dlc.engine.runs import describe, find_runs, format_table
from dlc.labs import Result, verdict


@dataclass
class Cfg:
    lr: float = 0.25


def make_runs(root):
    x = torch.randn(60, 2)
    y = (x[:, 0] > 0).long()
    with RunContext.open("lab-one", Cfg(), runs_dir=root, quiet=True, size="tiny") as ctx:
        m = nn.Linear(2, 2)
        fit(
            Supervised(m, torch.optim.SGD(m.parameters(), lr=0.1)),
            (x, y),
            ctx,
            epochs=2,
            batch_size=30,
            callbacks=[MetricsLogger(), Curves(), Checkpoint()],
        )
        result = Result("test error 1.00% (1/100), 2 epochs", metrics={"test_error": 0.01})
        result.verdicts = [verdict("test error below chance", 0.01, "<", 0.5)]
        ctx.finish(result)
        finished = ctx.dir
    with RunContext.open("lab-two", Cfg(), runs_dir=root, quiet=True) as ctx:
        m = nn.Linear(2, 2)
        fit(
            Supervised(m, torch.optim.SGD(m.parameters(), lr=0.1)),
            (x, y),
            ctx,
            epochs=1,
            batch_size=30,
            callbacks=[MetricsLogger(), Checkpoint()],
        )
        unfinished = ctx.dir  # no summary.json: as if it had been killed
    return finished, unfinished


def test_list_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # a wide terminal: the result column is not cut
    finished, unfinished = make_runs(tmp_path)
    assert set(find_runs(tmp_path)) == {finished, unfinished}
    capsys.readouterr()  # (finishing a run prints its result line)
    assert main(["runs", "--runs_dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["lab", "when", "size", "duration", "result", "folder"]
    one = next(line for line in out if line.startswith("lab-one"))
    assert "test error 1.00% (1/100), 2 epochs" in one and str(finished) in one and "tiny" in one
    two = next(line for line in out if line.startswith("lab-two"))
    assert "unfinished after epoch 1; resumable" in two


def test_show_run(tmp_path, capsys):
    finished, _ = make_runs(tmp_path)
    capsys.readouterr()
    assert main(["runs", "show", str(finished)]) == 0
    out = capsys.readouterr().out
    assert "result: test error 1.00%" in out
    assert "lr=0.25" in out and "test_error" in out
    assert "[pass] test error below chance: 0.01 < 0.5" in out
    for name in ("config.json", "metrics.jsonl", "summary.json", "curves.png", "checkpoints/last.pt"):
        assert name in out


def test_show_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["runs", "show", str(tmp_path)]) == 1
    assert "not a run folder" in capsys.readouterr().err


def test_no_runs(tmp_path, capsys):
    assert main(["runs", "--runs_dir", str(tmp_path / "none")]) == 0
    assert "no runs" in capsys.readouterr().out


def test_table_cuts_long_results():
    row = {
        "lab": "x",
        "when": "2024-01-01 10:00",
        "size": "tiny",
        "duration": "1.0 s",
        "result": "r" * 500,
        "folder": "runs/x/1",
    }
    table = format_table([row], width=100)
    assert all(len(line) <= 100 for line in table.splitlines())
    assert "…" in table


def test_describe_durations(tmp_path):
    finished, _ = make_runs(tmp_path)
    d = describe(finished)
    assert d["duration"].endswith(" s") and d["lab"] == "lab-one"


DAMAGE = {
    "config.json not JSON": ("config.json", "{oops"),
    "config.json a list": ("config.json", "[1, 2]"),
    "config.json not UTF-8": ("config.json", b"\xff\xfe\x00"),
    "a lab that is a number": ("config.json", '{"lab": 3, "size": "tiny"}'),
    "a config that is text": ("config.json", '{"lab": "lab-one", "config": "lr=1"}'),
    "summary.json not JSON": ("summary.json", '{"line": "test error'),
    "summary a string": ("summary.json", '"done"'),
    "a duration of text": ("summary.json", '{"line": "ok", "duration_s": "ten seconds"}'),
    "a start time that is a number": ("summary.json", '{"line": "ok", "started": 1700000000}'),
    "a line that is a list": ("summary.json", '{"line": ["ok"]}'),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_list_runs_skips_a_damaged_run_folder_and_says_so(tmp_path, capsys, monkeypatch, damage):
    monkeypatch.setenv("COLUMNS", "250")
    finished, unfinished = make_runs(tmp_path)
    name, content = DAMAGE[damage]
    (unfinished / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    capsys.readouterr()
    assert main(["runs", "--runs_dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert str(finished) in out and str(unfinished) not in out  # the others are listed
    (line,) = err.splitlines()  # one line, naming the folder and what is wrong
    assert line.startswith(f"dlc runs: skipped the damaged run folder {unfinished}: {name}"), line
    assert main(["runs", "show", str(unfinished)]) == 1
    out, err = capsys.readouterr()
    assert f"{unfinished} is a damaged run folder ({name}" in err and "Traceback" not in err


def test_list_runs_tolerates_damaged_metrics_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    _, unfinished = make_runs(tmp_path)
    with open(unfinished / "metrics.jsonl", "a") as f:
        f.write('[1, 2]\n{"kind": "epoch", "epo')  # a record of another shape, then half a record
    capsys.readouterr()
    assert main(["runs", "--runs_dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "unfinished after epoch 1; resumable" in out and err == ""
