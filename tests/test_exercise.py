"""Exercises: solution regions, student versions, grading tiers, and `dlc check`.

The mechanism is tested on the perceptron lab (fast) and on a small task defined here;
tests/test_exercise_labs.py runs the same checks on every lab."""

import csv
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from dlc.exercise.grade import check, format_report, grade_file, lab_tasks
from dlc.exercise.handout import write_exercise
from dlc.exercise.regions import RegionError, find_regions, student_source
from dlc.exercise.tasks import Grader, Task

ROOT = Path(__file__).resolve().parents[1]
PERCEPTRON = ROOT / "src" / "dlc" / "labs" / "perceptron.py"


# -- regions ---------------------------------------------------------------------------------


def test_regions_block_and_line():
    source = (
        "def f(x):\n"
        '    """doc"""\n'
        "    ### BEGIN SOLUTION\n"
        "    y = x + 1\n"
        "    return y\n"
        "    ### END SOLUTION\n"
        "\n"
        "class C:\n"
        "    def g(self):\n"
        "        return 2  # SOLUTION\n"
    )
    regions = find_regions(source)
    assert [(r.task, r.start, r.end, r.indent) for r in regions] == [("f", 3, 6, "    "), ("C", 10, 10, "        ")]
    student = student_source(source, "lab")
    assert 'raise NotImplementedError("dlc check lab f")' in student
    assert '        raise NotImplementedError("dlc check lab C")' in student
    assert "x + 1" not in student and "return 2" not in student
    assert '"""doc"""' in student  # the task's statement stays


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "without an ### END SOLUTION"),
        ("def f():\n    return 1\n    ### END SOLUTION\n", "without a ### BEGIN SOLUTION"),
        (
            "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
            "inside the region opened on line 2",
        ),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "inside the body of a top-level function or class"),
        ("def f():\n    x = 1\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n", "an empty solution region"),
        (
            "def f():\n    ### BEGIN SOLUTION\n    return 1\n\ndef g():\n    ### END SOLUTION\n    pass\n",
            "must stay inside one task",
        ),
    ],
)
def test_bad_regions_are_refused(source, message):
    with pytest.raises(RegionError, match=message):
        student_source(source, "lab", "lab.py")


# -- grading tiers on a task defined here ------------------------------------------------------


def _reference(x):
    return x.sin() * 2


class _WrongBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin() * 2

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos()  # the factor 2 is missing


SINE = Task(
    "double_sine", hint="2 sin(x)", cases=lambda g: [(torch.randn(3, 4, generator=g, dtype=torch.float64),)], grad=True
)


def _tiers(student):
    return [(t.tier, t.passed) for t in Grader(SINE, _reference).grade(student)]


def test_tiers_stop_at_the_first_failure():
    assert _tiers(_reference) == [(t, True) for t in ("exists", "runs", "shape", "values", "gradient")]
    assert _tiers(None) == [("exists", False)]
    assert _tiers(lambda x: (_ for _ in ()).throw(NotImplementedError("dlc check lab double_sine")))[-1] == (
        "runs",
        False,
    )
    assert _tiers(lambda x: x.sin()[0] * 2)[-1] == ("shape", False)
    assert _tiers(lambda x: x.sin())[-1] == ("values", False)
    assert _tiers(_WrongBackward.apply)[-1] == ("gradient", False)


def test_tier_messages_say_expected_and_got():
    wrong_shape = Grader(SINE, _reference).grade(lambda x: x.sin()[0] * 2)[-1]
    assert wrong_shape.message == "case 1: expected shape (3, 4), got (4,)"
    wrong_values = Grader(SINE, _reference).grade(lambda x: x.sin())[-1]
    assert (
        wrong_values.message.startswith("case 1 at index [0, 0]: expected ") and "values differ" in wrong_values.message
    )
    stub = Grader(SINE, _reference).grade(
        lambda x: (_ for _ in ()).throw(NotImplementedError("dlc check lab double_sine"))
    )[-1]
    assert stub.message.startswith("not attempted")
    crash = Grader(SINE, _reference).grade(lambda x: 1 / 0)[-1]
    assert crash.message == "case 1: raised ZeroDivisionError: division by zero"


def test_class_task_gets_the_reference_weights():
    task = Task(
        "Net",
        hint="a linear layer",
        cases=lambda g: [(torch.randn(5, 3, generator=g, dtype=torch.float64),)],
        build=lambda c: c(),
        grad=True,
    )

    class Ref(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)

        def forward(self, x):
            return self.lin(x).tanh()

    class Student(Ref):
        def forward(self, x):
            return torch.tanh(x @ self.lin.weight.T + self.lin.bias)

    class Wrong(Ref):
        def forward(self, x):
            return torch.tanh(x @ self.lin.weight.T)

    assert all(t.passed for t in Grader(task, Ref).grade(Student))
    assert Grader(task, Ref).grade(Wrong)[-1].tier == "values"


# -- the perceptron hand-out, end to end ---------------------------------------------------------


def _dlc(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "dlc", *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_untouched_handout_is_not_attempted_and_fails(tmp_path):
    written = write_exercise("perceptron", tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "labs/perceptron.py",
        "notebooks/perceptron.py",
    ]
    out = _dlc("check", "perceptron", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "grading notebooks/perceptron.py" in out.stdout
    assert out.stdout.count(": not attempted") == 2
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == 0 and results["max_score"] == 2
    assert [t["name"] for t in results["tests"]] == ["perceptron: predict", "perceptron: train_perceptron"]


def _answer(tmp_path, predict_body: str, bias_update: str = "b = b + y[n]") -> Path:
    """A copy of the perceptron lab with ``predict``'s line and the bias update replaced."""
    text = PERCEPTRON.read_text()
    text = text.replace("return torch.where(x @ w + b > 0, 1.0, -1.0).to(x.dtype)  # SOLUTION", predict_body)
    text = text.replace("b = b + y[n]", bias_update)
    path = tmp_path / "answer.py"
    path.write_text(text)
    return path


def test_wrong_answers_fail_at_their_tier_and_an_endless_loop_is_stopped(tmp_path):
    wrong_dtype = _answer(tmp_path, "return x @ w + b > 0", "b = b - y[n]")
    reports, problems = grade_file("perceptron", wrong_dtype, learns_seconds=0)
    assert problems == []
    predict, train = reports
    assert (
        predict.tiers[-1].tier == "shape"
        and "expected dtype torch.float64, got torch.bool" in predict.tiers[-1].message
    )
    assert train.tiers[-1].tier == "values" and train.status == "failed"
    text = format_report("perceptron", "answer.py", reports, problems)
    assert "hint: the sign of w.x + b" in text and "score: 1.00 / 2" in text  # 2 of 5 tiers, then 3 of 5

    endless = _answer(tmp_path, "return x @ w + b > 0", "while True:\n                    pass")
    reports, _ = grade_file("perceptron", endless, task_seconds=8, learns_seconds=0)
    predict, train = reports
    assert train.tiers[-1].tier == "runs" and "time limit of 8 s" in train.tiers[-1].message
    assert [t.tier for t in train.tiers] == ["exists", "runs"]
    # the report of the other task is kept
    assert predict.tiers[-1].tier == "shape" and "got torch.bool" in predict.tiers[-1].message


def test_a_right_answer_passes_every_tier_and_the_lab_learns(tmp_path):
    right = _answer(tmp_path, "return torch.where(x @ w + b <= 0, -1.0, 1.0).to(x.dtype)")
    reports, _ = grade_file("perceptron", right)
    assert [(r.task, r.status) for r in reports] == [("predict", "passed"), ("train_perceptron", "passed")]
    assert [t.tier for t in reports[0].tiers] == ["exists", "runs", "shape", "values", "learns"]


def test_a_file_with_a_syntax_error_is_reported_not_crashed(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("def predict(w, b, x:\n    return 1\n")
    reports, problems = grade_file("perceptron", broken)
    assert problems and "SyntaxError" in problems[0]
    assert all(r.tiers == [r.tiers[0]] and r.tiers[0].tier == "exists" and not r.tiers[0].passed for r in reports)


def test_teacher_grades_a_folder_of_submissions(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.py").write_text(PERCEPTRON.read_text())
    write_exercise("perceptron", subs / "bob")  # bob handed in the untouched hand-out folder
    out = _dlc("check", "perceptron", "--submissions", "subs", "--scores", "s.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "s.csv").open())}
    assert float(rows["alice"]["total"]) == 2 and float(rows["bob"]["total"]) == 0
    assert rows["bob"]["note"] == "predict not attempted; train_perceptron not attempted"
    assert "[2/2] bob: 0.00 / 2" in out.stdout


# -- a student's own code runs ---------------------------------------------------------------


def test_dlc_run_and_python_run_a_students_copy(tmp_path):
    wrong = _answer(tmp_path, "return torch.where(x @ w + b > 0, 1.0, -1.0).to(x.dtype)", "b = b - y[n]")
    out = _dlc("run", str(wrong), "--tiny", "--runs_dir", "runs", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "[FAIL] training error on the separable set" in out.stdout  # the copy ran, not dlc's lab
    assert list((tmp_path / "runs" / "perceptron").iterdir())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = subprocess.run(
        [sys.executable, str(wrong), "--tiny", "--runs_dir", "runs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert script.returncode == 0 and "[FAIL] training error" in script.stdout, script.stderr


def test_running_the_stubbed_handout_says_which_task_to_write(tmp_path):
    write_exercise("perceptron", tmp_path)
    out = _dlc("run", "labs/perceptron.py", "--tiny", "--runs_dir", "runs", cwd=tmp_path)
    assert out.returncode == 1
    assert "the task `train_perceptron` is not written yet" in out.stderr and "Traceback" not in out.stderr


@pytest.fixture
def fake_notebook(monkeypatch):
    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    return main


def test_check_and_run_lab_use_what_the_notebook_defines(fake_notebook, tmp_path, capsys):
    from dlc.labs import run_lab

    def predict(w, b, x):
        return torch.where(x @ w + b > 0, 1.0, -1.0).to(x.dtype)

    predict.__module__ = "__main__"
    fake_notebook.predict = predict
    (report,) = check("perceptron", "predict")
    assert report.status == "passed" and [t.tier for t in report.tiers] == ["exists", "runs", "shape", "values"]
    (not_written,) = check("perceptron", "train_perceptron")
    assert not_written.tiers[0].message == "define `train_perceptron` (the task's function or class)"

    def broken(w, b, x):
        raise RuntimeError("the notebook's predict ran")

    broken.__module__ = "__main__"
    fake_notebook.predict = broken
    with pytest.raises(RuntimeError, match="the notebook's predict ran"):
        run_lab("perceptron", size="tiny", runs_dir=tmp_path, quiet=True)
    module, _ = lab_tasks("perceptron")
    assert module.predict.__module__ == "dlc.labs.perceptron"  # put back after the run


def test_a_task_is_graded_on_its_own_code_when_another_is_not_written():
    from dlc.exercise.grade import grade_task

    reference = types.ModuleType("fake_lab")
    exec("def helper(x):\n    return x + 1\n\ndef main_task(x):\n    return helper(x) * 2\n", reference.__dict__)
    student_ns = {}
    exec(
        "def helper(x):\n    raise NotImplementedError('dlc check fake helper')\n\n"
        "def main_task(x):\n    return helper(x) * 2\n",
        student_ns,
    )
    task = Task("main_task", hint="twice helper", cases=lambda g: [(torch.randn(3, generator=g, dtype=torch.float64),)])
    tiers = grade_task(reference, task, student_ns["main_task"])
    assert all(t.passed for t in tiers) and [t.tier for t in tiers][-1] == "values"
    assert student_ns["helper"] is not reference.helper  # the student's namespace is put back

    student_ns["main_task"] = eval("lambda x: helper(x) * 3", student_ns)
    tiers = grade_task(reference, task, student_ns["main_task"])
    assert tiers[-1].tier == "values" and not tiers[-1].passed  # wrong on its own code, not "not attempted"


def test_exercise_all_writes_every_lab(tmp_path):
    from dlc.exercise.handout import labs_with_tasks

    out = _dlc("exercise", "--all", "handout", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    ids = labs_with_tasks()
    assert f"{len(ids)} lab(s) in handout" in out.stdout
    assert len(list((tmp_path / "handout" / "labs").glob("*.py"))) == len(ids)
    assert len(list((tmp_path / "handout" / "notebooks").glob("*.py"))) == len(ids)
    bad = _dlc("exercise", cwd=tmp_path)
    assert bad.returncode == 2 and "which lab?" in bad.stderr


def test_check_names_the_lab_first_and_refuses_an_unknown_one(tmp_path):
    (tmp_path / "my_project").mkdir()
    out = _dlc("check", "my_project", cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert "'my_project' is a path, not a lab: name the lab first, `dlc check LAB my_project`" in out.stderr
    assert "`dlc check digit-pairs my_project`" in out.stderr and "Traceback" not in out.stderr
    out = _dlc("check", "perceptorn", cwd=tmp_path)
    assert out.returncode == 2 and "no lab called 'perceptorn'. Did you mean: perceptron?" in out.stderr
    assert not (tmp_path / "results.json").exists()
