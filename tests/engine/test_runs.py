"""`dlc runs` and `dlc runs show`: run folders as a table, and one run in detail."""

from dataclasses import dataclass

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
