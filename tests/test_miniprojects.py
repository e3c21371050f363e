"""The two mini-project graders: dlc's own packages score 100%; broken ones fail at the tier
that names their fault (a wrong backward, gradients that do not accumulate, autograd used,
a model too large, a training that does nothing), and an endless loop is stopped without
losing the other tasks' reports."""

import textwrap
from pathlib import Path

import pytest

from dlc.cli import main
from dlc.errors import UsageError
from dlc.exercise.miniprojects import GRADERS, RULES_TIER, scan_rules
from tests.conftest import requires_mnist

REFERENCE = Path(__file__).resolve().parents[1] / "src" / "dlc" / "exercise" / "reference"


def package(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return folder


def by_task(reports) -> dict:
    return {r.task: r for r in reports}


def failed_at(report) -> tuple[str, str]:
    """The tier a task failed at, and its message."""
    bad = [t for t in report.tiers if not t.passed]
    assert bad, f"{report.task} passed: {report.tiers}"
    return bad[0].tier, bad[0].message


# -- mini-framework --------------------------------------------------------------------------


def test_dlc_framework_scores_full_marks_from_the_command_line(tmp_path, capsys):
    results = tmp_path / "results.json"
    code = main(["check", "mini-framework", str(REFERENCE / "mini_framework"), "--results", str(results)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "score: 12.00 / 12" in out  # 6 modules + 4 of the 2022 edition + the scenario + the rule
    assert "disc scenario, ReLU: train error" in out  # the scenario's errors are shown
    assert results.is_file()


BROKEN_FRAMEWORK = {
    "framework": """
        from dlc.scratch.modules import SGD, LossMSE, ReLU, Sequential
        from dlc.scratch.modules import Linear as _Linear
        from dlc.scratch.modules import Tanh as _Tanh


        class Linear(_Linear):
            def backward(self, grad):  # overwrites the parameters' gradients instead of adding to them
                self.grad_weight.copy_(grad.t() @ self.input)
                self.grad_bias.copy_(grad.sum(0))
                return grad @ self.weight


        class Tanh(_Tanh):
            def backward(self, grad):  # a wrong derivative
                return grad * (1 - self.output)


        class Sigmoid:
            def forward(self, x):  # a wrong forward
                self.output = x.tanh()
                return self.output

            def backward(self, grad):
                return grad * self.output * (1 - self.output)

            def param(self):
                return []
        """,
}


def test_a_broken_framework_fails_where_it_is_wrong(tmp_path, capsys):
    folder = package(tmp_path / "proj2", **BROKEN_FRAMEWORK)
    reports, problems = GRADERS["mini-framework"](folder, 60, quick=True)
    assert problems == []
    r = by_task(reports)
    assert list(r) == [
        "Linear",
        "ReLU",
        "Tanh",
        "Sequential",
        "LossMSE",
        "SGD",
        "Sigmoid",
        "disc scenario",
        "autograd off",
    ]  # the optional modules it does not define are not graded
    tier, message = failed_at(r["Linear"])
    assert tier == "gradient" and "accumulate" in message
    tier, message = failed_at(r["Tanh"])
    assert tier == "gradient" and "Tanh().backward" in message
    tier, message = failed_at(r["Sigmoid"])
    assert tier == "values" and "Sigmoid().forward" in message
    for ok in ("ReLU", "Sequential", "LossMSE", "SGD", "disc scenario", "autograd off"):
        assert r[ok].status == "passed", (ok, r[ok].tiers)  # dlc's own modules, the scenario with ReLU
    total = sum(x.score for x in reports)
    assert 6 < total < len(reports)


def test_a_missing_module_fails_to_exist_and_the_scenario_needs_it(tmp_path):
    folder = package(tmp_path / "proj2", framework="from dlc.scratch.modules import Linear, ReLU, Sequential, Tanh\n")
    r = by_task(GRADERS["mini-framework"](folder, 60, quick=True)[0])
    tier, message = failed_at(r["LossMSE"])
    assert tier == "exists" and "LossMSE or MSE" in message
    assert failed_at(r["SGD"])[0] == "exists"
    tier, message = failed_at(r["disc scenario"])
    assert tier == "exists" and "LossMSE" in message and "SGD" in message
    assert r["Linear"].status == "passed"


AUTOGRAD_FRAMEWORK = {
    "__init__": "from .modules import *\n",
    "modules": """
        import torch
        import torch.nn as nn
        from dlc.scratch.modules import SGD, LossMSE, ReLU, Sequential

        __all__ = ["Linear", "ReLU", "Tanh", "Sequential", "LossMSE", "SGD"]


        class Tanh:
            def forward(self, x):
                self.x = x
                return x.tanh()

            def backward(self, grad):  # lets autograd do the work: against the project's rule
                with torch.enable_grad():
                    x = self.x.clone().requires_grad_()
                    return torch.autograd.grad(x.tanh(), x, grad)[0]

            def param(self):
                return []


        class Linear:
            def __init__(self, n_in, n_out):
                self.layer = nn.Linear(n_in, n_out)  # torch.nn's module

            def forward(self, x):
                return self.layer(x)

            def backward(self, grad):
                return grad @ self.layer.weight

            def param(self):
                return [(self.layer.weight, torch.zeros_like(self.layer.weight))]
        """,
}


def test_autograd_and_torch_nn_break_the_rule(tmp_path):
    folder = package(tmp_path / "proj2", **AUTOGRAD_FRAMEWORK)
    r = by_task(GRADERS["mini-framework"](folder, 60, quick=True)[0])
    tier, message = failed_at(r["Tanh"])
    assert tier == "runs" and "torch.autograd.grad()" in message  # refused while it runs
    assert failed_at(r["Linear"])[0] != "exists"
    tier, message = failed_at(r["autograd off"])
    assert tier == RULES_TIER
    assert "modules.py:3: uses torch.nn.Linear" not in message  # the import alone is no use
    assert "uses torch.nn.Linear" in message and "torch.autograd" in message
    assert r["ReLU"].status == "passed"


def test_an_endless_loop_is_stopped_and_the_other_tasks_are_reported(tmp_path):
    folder = package(
        tmp_path / "proj2",
        framework="""
        from dlc.scratch.modules import SGD, Linear, LossMSE, ReLU, Sequential, Tanh


        class Sigmoid:
            def forward(self, x):
                while True:
                    pass

            def backward(self, grad):
                return grad

            def param(self):
                return []
        """,
    )
    reports, _ = GRADERS["mini-framework"](folder, 8, quick=True)
    r = by_task(reports)
    tier, message = failed_at(r["Sigmoid"])
    assert tier == "runs" and "time limit of 8 s" in message
    for ok in ("Linear", "ReLU", "Tanh", "Sequential", "LossMSE", "SGD", "disc scenario", "autograd off"):
        assert r[ok].status == "passed", (ok, r[ok].tiers)  # graded before, and by a fresh worker after


def test_a_package_that_cannot_be_read_is_reported(tmp_path):
    folder = package(tmp_path / "proj2", framework="raise SystemExit(3)\n")
    reports, problems = GRADERS["mini-framework"](folder, 60, quick=True)
    assert any("framework.py: importing it raised SystemExit" in p for p in problems)
    assert all(r.tiers[0].tier == "exists" and not r.tiers[0].passed for r in reports)


def test_not_a_package_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not a folder"):
        GRADERS["mini-framework"](tmp_path / "missing", 10)
    with pytest.raises(UsageError, match="no .py file"):
        GRADERS["digit-pairs"](tmp_path, 10)


def test_the_rule_scan_reads_imports_aliases_and_grad_switches(tmp_path):
    package(
        tmp_path,
        ok="""
        import torch
        from torch.nn.functional import fold, unfold
        import torch.nn.functional as F
        torch.set_grad_enabled(False)
        w = torch.empty(3, 3)
        torch.nn.init.normal_(w)
        y = F.unfold(w[None, None], 2)
        """,
        bad="""
        import torch as T
        from torch import nn
        from torch.autograd import grad
        import torch.nn.functional as F
        x = T.ones(2, requires_grad=True)
        y = F.relu(x)
        layer = nn.Linear(2, 2)
        T.set_grad_enabled(True)
        """,
        test_against_torch="import torch.nn\nz = torch.nn.Linear(2, 2)\n",  # a unit test may compare with torch
    )
    found = scan_rules(tmp_path)
    assert [f.split(":")[0] for f in found] == ["bad.py"] * 5
    said = {int(f.split(":")[1]): f.split(":", 2)[2] for f in found}
    assert set(said) == {4, 6, 7, 8, 9}
    assert "torch.autograd" in said[4] and "requires_grad" in said[6]
    assert "torch.nn.functional.relu" in said[7] and "torch.nn.Linear" in said[8]
    assert "switches autograd on" in said[9]


# -- digit-pairs -------------------------------------------------------------------------------


@requires_mnist
def test_dlc_digit_pairs_scores_full_marks(capsys):
    reports, problems = GRADERS["digit-pairs"](REFERENCE / "digit_pairs", 120, quick=True)
    out = capsys.readouterr().out
    assert problems == []
    assert [r.status for r in reports] == ["passed", "passed"], [r.tiers for r in reports]
    learns = reports[1].tiers[-1].message
    assert "over 2 rounds of 300 pairs" in learns and "±" in learns and "plain convnet" in learns
    assert "round 2/2: test error" in out and "72,320 parameters" in out


@requires_mnist
def test_digit_pairs_too_large_and_not_trained(tmp_path):
    folder = package(
        tmp_path / "proj1",
        __init__="""
        from dlc.models.pairs import DigitPairNet


        def build_model():
            return DigitPairNet(share=False)  # two digit networks: twice the project's size


        def train_model(model, train_input, train_target, train_classes):
            pass  # forgot to train
        """,
    )
    r = by_task(GRADERS["digit-pairs"](folder, 60, quick=True)[0])
    tier, message = failed_at(r["build_model"])
    assert tier == "shape" and "143,166 parameters" in message and "about 70,000" in message
    tier, message = failed_at(r["train_model"])
    assert tier == "runs" and "unchanged" in message
    assert 0 < r["build_model"].score < 1 and 0 < r["train_model"].score < 1
