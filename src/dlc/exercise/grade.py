"""``dlc check``: grade a student's answers to a lab's tasks, tier by tier.

Each file is graded in a worker process (``python -m dlc.exercise.grade``) that reports
one task at a time as a JSON line; a task that loops forever or kills the process is
stopped by a time limit and reported, and a fresh worker goes on with the other tasks.
The last tier, "the lab learns with your code", runs the lab at ``--tiny`` once, with
every task that passed its other tiers put in place of dlc's own, and applies the lab's
own check (dlc's, not the student's copy). The report is printed, and written as a
Gradescope ``results.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlc.errors import UsageError
from dlc.exercise.tasks import TIER_TITLES, Grader, Task, TierResult

TASK_SECONDS = 60.0  # the time limit of one task's unit tiers
LEARNS_SECONDS = 600.0  # the time limit of the lab's --tiny run
STARTUP_SECONDS = 120.0  # the time limit of a worker's start (Python, torch, the student's file)


@dataclass
class TaskReport:
    task: str
    hint: str
    tiers: list[TierResult] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)  # the tiers this task has, in order

    @property
    def not_attempted(self) -> bool:
        return any(t.message.startswith("not attempted") for t in self.tiers)

    @property
    def score(self) -> float:
        if self.not_attempted:  # a stub is defined, but earns nothing
            return 0.0
        return sum(t.passed for t in self.tiers) / len(self.expected)

    @property
    def status(self) -> str:
        if self.not_attempted:
            return "not attempted"
        return "passed" if self.score == 1 else "failed"

    def as_dict(self) -> dict:
        return {
            "task": self.task,
            "status": self.status,
            "score": self.score,
            "tiers": [t.__dict__ for t in self.tiers],
            "expected": self.expected,
        }


# -- the tasks of a lab ---------------------------------------------------------------------


def lab_tasks(lab_id: str) -> tuple[Any, list[Task]]:
    """dlc's own lab module and its tasks, checked against its solution regions."""
    from dlc.exercise.load import reference_module
    from dlc.exercise.regions import tasks_in

    module = reference_module(lab_id)
    tasks = list(getattr(module, "TASKS", []))
    marked = tasks_in(Path(module.__file__).read_text(encoding="utf-8"), module.__file__)
    declared = [t.name for t in tasks]
    if not marked:
        raise UsageError(f"lab {lab_id!r} has no exercise yet (no solution region in {module.__name__})")
    if sorted(marked) != sorted(declared):
        raise RuntimeError(f"{module.__name__}: solution regions for {marked} but TASKS for {declared}")
    return module, tasks


def expected_tiers(task: Task) -> list[str]:
    tiers = ["exists", "runs"] + (["shape", "values"] if task.cases else []) + (["gradient"] if task.grad else [])
    return tiers + (["learns"] if task.learns else [])


# -- grading in this process (the worker, and notebooks) ---------------------------------


def grade_objects(module: Any, tasks: list[Task], objects: dict[str, Any], only: list[str] | None = None):
    """Yield each task's unit tiers (exists ... gradient) for the student's objects."""
    for task in tasks:
        if only is not None and task.name not in only:
            continue
        yield task, grade_task(module, task, objects.get(task.name))


def _globals_of(obj: Any) -> dict | None:
    """The namespace a student's function (or a class's methods) looks names up in."""
    if hasattr(obj, "__globals__"):
        return obj.__globals__
    for v in vars(obj).values() if isinstance(obj, type) else ():
        if hasattr(v, "__globals__"):
            return v.__globals__
    return None


def grade_task(module: Any, task: Task, student: Any) -> list[TierResult]:
    """The task's unit tiers. A task that calls another task still unwritten (its stub
    raises) is graded again with dlc's own version of that one, so that each task is
    judged on its own code."""
    tiers = Grader(task, getattr(module, task.name)).grade(student)
    needed: list[str] = []
    while tiers and tiers[-1].message.startswith("needs the task"):
        other = tiers[-1].message.split("`")[1]
        namespace = _globals_of(student)
        if namespace is None or other in needed or not hasattr(module, other):
            break
        needed.append(other)
        saved = {n: namespace.get(n) for n in needed}
        try:
            namespace.update({n: getattr(module, n) for n in needed})
            tiers = Grader(task, getattr(module, task.name)).grade(student)
        finally:
            for n, v in saved.items():
                if v is None:
                    namespace.pop(n, None)
                else:
                    namespace[n] = v
    return tiers


def run_learns(lab_id: str, module: Any, objects: dict[str, Any]) -> TierResult:
    """The lab at --tiny with the student's objects in place; dlc's own check decides."""
    from dlc.exercise.load import patched
    from dlc.exercise.regions import is_stub_error
    from dlc.labs import run_lab

    with tempfile.TemporaryDirectory(prefix="dlc-check-") as runs, patched(module, objects):
        try:
            result = run_lab(lab_id, size="tiny", force_cpu=True, quiet=True, runs_dir=runs)
        except Exception as e:  # noqa: BLE001 (a student's code may raise anything)
            if is_stub_error(e):
                return TierResult("learns", False, f"the lab needs another task first: {e}")
            msg = str(e).splitlines()[0][:300] if str(e) else ""
            return TierResult("learns", False, f"the lab's --tiny run raised {type(e).__name__}: {msg}")
    failed = [v for v in result.verdicts if not v.passed]
    if failed:
        return TierResult("learns", False, "the lab's check failed: " + "; ".join(map(str, failed)))
    return TierResult("learns", True, result.line)


def _worker(argv: list[str]) -> int:
    """python -m dlc.exercise.grade LAB PATH|--reference TASKS... [--learns]: JSON lines."""
    from dlc.exercise.load import load_answers

    lab_id, path, *names = argv
    learns = "--learns" in names
    names = [n for n in names if n != "--learns"]
    module, tasks = lab_tasks(lab_id)
    answers = load_answers(module.__file__ if path == "--reference" else path, module, [t.name for t in tasks])
    print(json.dumps({"loaded": answers.where, "problems": answers.problems}), flush=True)
    if learns:
        objects = {n: answers.objects[n] for n in names if n in answers.objects}
        print(json.dumps({"learns": run_learns(lab_id, module, objects).__dict__}), flush=True)
        return 0
    for task in tasks:
        if task.name in names:
            # said first, so that a task stopped by the time limit is known to exist
            print(json.dumps({"start": task.name, "exists": task.name in answers.objects}), flush=True)
            tiers = grade_task(module, task, answers.objects.get(task.name))
            print(json.dumps({"task": task.name, "tiers": [t.__dict__ for t in tiers]}), flush=True)
    return 0


# -- the parent: workers with time limits ------------------------------------------------


def _run_worker(args: list[str], seconds: float, on_line, module: str = "dlc.exercise.grade") -> str | None:
    """Run ``python -m module ARGS``, passing each JSON object it prints on a line to
    ``on_line``; the error if it stopped early (time limit, crash), None if it finished.
    Its stderr goes to a file, so a student's code that writes much there cannot block it."""
    import selectors

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=errors,
        env=env,
        start_new_session=True,
    )
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    # starting Python and torch and reading the file has its own, generous limit; each
    # task then gets ``seconds`` from its start
    limit = max(seconds, STARTUP_SECONDS)
    deadline = time.monotonic() + limit
    buffer = b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return f"stopped after the time limit of {limit:.0f} s (an endless loop, or far too slow)"
            if not sel.select(timeout=min(left, 1.0)):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # the student's own prints
                if not isinstance(message, dict):
                    continue  # a student's print(0.5) is JSON too
                on_line(message)
                limit = seconds
                deadline = time.monotonic() + seconds  # each step has its own limit
        proc.wait(timeout=30)
        if proc.returncode != 0:
            errors.seek(0)
            err = errors.read()[-20000:].decode(errors="replace").strip().splitlines()
            return f"the grading process crashed (exit {proc.returncode}): {err[-1] if err else 'no message'}"
        return None
    finally:
        if proc.poll() is None:
            import signal

            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        sel.close()
        errors.close()


def grade_file(
    lab_id: str,
    path: str | Path | None,
    only: list[str] | None = None,
    task_seconds: float = TASK_SECONDS,
    learns_seconds: float = LEARNS_SECONDS,
) -> tuple[list[TaskReport], list[str]]:
    """Grade one file (None: dlc's own solution) task by task; the reports and the
    problems met while reading the file."""
    _, tasks = lab_tasks(lab_id)
    if only:
        unknown = [n for n in only if n not in {t.name for t in tasks}]
        if unknown:
            raise UsageError(
                f"lab {lab_id!r} has no task {', '.join(unknown)}; its tasks: {', '.join(t.name for t in tasks)}"
            )
        tasks = [t for t in tasks if t.name in only]
    reports = {t.name: TaskReport(t.name, t.hint, expected=expected_tiers(t)) for t in tasks}
    where = "--reference" if path is None else str(Path(path).resolve())
    problems: list[str] = []
    pending = [t.name for t in tasks]

    def on_line(m: dict) -> None:
        if "problems" in m:
            problems[:] = m["problems"]
        if "start" in m:
            started[m["start"]] = m["exists"]
        if "task" in m:
            reports[m["task"]].tiers = [TierResult(**t) for t in m["tiers"]]
            pending.remove(m["task"])
        if "learns" in m:
            learned.append(TierResult(**m["learns"]))

    learned: list[TierResult] = []
    started: dict[str, bool] = {}
    while pending:
        stopped = _run_worker([lab_id, where, *pending], task_seconds, on_line)
        if stopped is None and not pending:
            break
        name = pending.pop(0)  # the task being graded when the worker stopped
        why = TierResult("runs", False, stopped or "the grading process stopped")
        if name not in started:  # it stopped while reading the file
            why = TierResult("exists", False, f"reading the file {why.message}")
        reports[name].tiers = [TierResult("exists", True)] + [why] if started.get(name) else [why]
    ready = _ready_to_run(list(reports.values()))
    if ready and learns_seconds > 0:
        stopped = _run_worker([lab_id, where, *ready, "--learns"], learns_seconds, on_line)
        outcome = learned[0] if learned else TierResult("learns", False, stopped or "the lab's run stopped")
        for n in ready:
            reports[n].tiers.append(outcome)
    return list(reports.values()), problems


def _ready_to_run(reports: list[TaskReport]) -> list[str]:
    """The tasks whose every tier but "learns" passed: they take part in the lab's run."""
    return [
        r.task
        for r in reports
        if r.expected[-1:] == ["learns"] and len(r.tiers) == len(r.expected) - 1 and all(t.passed for t in r.tiers)
    ]


# -- the report ------------------------------------------------------------------------------


def format_report(
    lab_id: str, where: str, reports: list[TaskReport], problems: list[str], again: str | None = None
) -> str:
    """The printed report; ``again`` is the command that grades a task again (default
    ``dlc check LAB --task TASK``)."""
    lines = [f"{lab_id}: grading {where}"]
    for p in problems:
        lines.append(f"  note: part of the file did not run, {p}")
    for r in reports:
        if r.not_attempted:  # the stub is still there: nothing to say but what to write
            lines.append(f"  {r.task}: not attempted")
            lines.append(f"    task: {r.hint}")
            lines.append(f"    then: {again or f'dlc check {lab_id} --task {r.task}'}")
            continue
        got = sum(t.passed for t in r.tiers)
        lines.append(f"  {r.task}: {r.status} ({got}/{len(r.expected)} tiers)")
        for t in r.tiers:
            mark = "ok  " if t.passed else "FAIL"
            text = TIER_TITLES[t.tier] + (f": {t.message}" if t.message and not t.passed else "")
            lines.append(f"    [{mark}] {text}")
        if r.status != "passed":
            lines.append(f"    hint: {r.hint}")
            lines.append(f"    then: {again or f'dlc check {lab_id} --task {r.task}'}")
    total = sum(r.score for r in reports)
    lines.append(f"  score: {total:.2f} / {len(reports)}")
    return "\n".join(lines)


def gradescope(lab_id: str, reports: list[TaskReport]) -> dict:
    """Gradescope's results.json: one test per task, scored by the share of its tiers passed."""
    tests = []
    for r in reports:
        out = [
            f"{'ok' if t.passed else 'FAIL'} {TIER_TITLES[t.tier]}" + (f": {t.message}" if t.message else "")
            for t in r.tiers
        ]
        if r.status != "passed":
            out.append(f"hint: {r.hint}")
        tests.append(
            {
                "name": f"{lab_id}: {r.task}",
                "score": round(r.score, 4),
                "max_score": 1,
                "status": "passed" if r.status == "passed" else "failed",
                "output": "\n".join(out) or r.status,
            }
        )
    return {"score": round(sum(t["score"] for t in tests), 4), "max_score": len(tests), "tests": tests}


# -- notebooks: the same checks, in the kernel ---------------------------------------------


def check(lab_id: str, task: str | None = None, *, learns: bool | None = None) -> list[TaskReport]:
    """Grade what this notebook (or script) defines for ``lab_id``'s tasks, and print the
    report. The lab's --tiny run ("it learns") is part of it when all tasks are checked
    (``learns`` says otherwise)."""
    from dlc.exercise.load import main_answers

    module, tasks = lab_tasks(lab_id)
    if task is not None and task not in {t.name for t in tasks}:
        raise UsageError(f"lab {lab_id!r} has no task {task!r}; its tasks: {', '.join(t.name for t in tasks)}")
    chosen = [t for t in tasks if task in (None, t.name)]
    answers = main_answers([t.name for t in chosen])
    learns = task is None if learns is None else learns
    reports = []
    for t, tiers in grade_objects(module, chosen, answers.objects):
        expected = [x for x in expected_tiers(t) if learns or x != "learns"]
        reports.append(TaskReport(t.name, t.hint, tiers, expected))
    ready = _ready_to_run(reports)
    if ready:
        outcome = run_learns(lab_id, module, {n: answers.objects[n] for n in ready})
        for r in reports:
            if r.task in ready:
                r.tiers.append(outcome)
    print(format_report(lab_id, answers.where, reports, []))
    return reports


if __name__ == "__main__":
    raise SystemExit(_worker(sys.argv[1:]))
