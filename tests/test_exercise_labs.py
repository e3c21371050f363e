"""Every lab's exercise: its tasks match its solution regions, the student version keeps
no solution text and reports every task "not attempted", and dlc's own solution passes
every tier but the last.

The last tier ("the lab learns with your code") runs the lab at --tiny with the task in
place and applies the lab's check: for dlc's own solution that is exactly the lab's own
test (tests/labs/), so it is not run a second time here; tests/test_exercise.py runs
that tier for real.
"""

import ast
from pathlib import Path

import pytest

from dlc.exercise.grade import expected_tiers, grade_objects, lab_tasks
from dlc.exercise.handout import labs_with_tasks, write_exercise
from dlc.exercise.load import load_answers
from dlc.exercise.regions import find_regions, solution_lines, stub
from dlc.labs import catalog

LABS = labs_with_tasks()


def test_every_lab_has_a_task():
    missing = sorted(set(catalog()) - set(LABS))
    assert not missing, f"labs without an exercise: {missing}"


def _outside_regions(source: str) -> str:
    lines = source.splitlines()
    for r in reversed(find_regions(source)):
        del lines[r.start - 1 : r.end]
    return "\n".join(lines)


@pytest.mark.parametrize("lab_id", LABS)
def test_student_version(lab_id, tmp_path):
    module, tasks = lab_tasks(lab_id)  # also: TASKS and the regions name the same tasks
    source = Path(module.__file__).read_text(encoding="utf-8")
    written = {p.parent.name: p for p in write_exercise(lab_id, tmp_path)}
    student = written["labs"].read_text(encoding="utf-8")

    outside = _outside_regions(source)
    leaked = [line for line in solution_lines(source) if line not in outside and line in student]
    assert not leaked, f"solution text left in the student version: {leaked}"
    for t in tasks:
        assert stub(lab_id, t.name) in student

    names = [t.name for t in tasks]
    for path in written.values():  # the lab file and the notebook alike
        ast.parse(path.read_text(encoding="utf-8"))
        answers = load_answers(path, module, names)
        assert answers.problems == [], answers.problems
        assert sorted(answers.objects) == sorted(names), f"{path.name} does not define every task"
        for task, tiers in grade_objects(module, tasks, answers.objects):
            assert tiers[-1].message.startswith("not attempted"), (task.name, tiers[-1])
    if "notebooks" in written:
        notebook = written["notebooks"].read_text(encoding="utf-8")
        for t in tasks:
            assert f'check("{lab_id}", "{t.name}")' in notebook


@pytest.mark.parametrize("lab_id", LABS)
def test_reference_passes_every_tier(lab_id):
    module, tasks = lab_tasks(lab_id)
    answers = load_answers(module.__file__, module, [t.name for t in tasks])
    assert answers.problems == []
    for task, tiers in grade_objects(module, tasks, answers.objects):
        failed = [f"{t.tier}: {t.message}" for t in tiers if not t.passed]
        assert not failed, f"{task.name}: {failed}"
        want = [x for x in expected_tiers(task) if x != "learns"]
        assert [t.tier for t in tiers] == want
        assert task.hint and task.cases is not None, f"{task.name}: a task needs a hint and seeded cases"
