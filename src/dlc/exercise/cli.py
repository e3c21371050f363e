"""The ``dlc check`` command: one file, a hand-out folder, or a teacher's submissions."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

from dlc.errors import UsageError
from dlc.exercise.grade import format_report, grade_file, gradescope


def module_file(lab_id: str) -> str:
    from dlc.labs import catalog

    return catalog()[lab_id].module.rsplit(".", 1)[1] + ".py"


def find_answer(lab_id: str, folder: Path) -> Path | None:
    """The student's file for a lab in a hand-out folder: its notebook, else its lab file."""
    for path in (
        folder / "notebooks" / f"{lab_id}.py",
        folder / "notebooks" / f"{lab_id}.ipynb",
        folder / "labs" / module_file(lab_id),
        folder / f"{lab_id}.py",
        folder / f"{lab_id}.ipynb",
        folder / module_file(lab_id),
    ):
        if path.is_file():
            return path
    return None


def _grade_one(lab_id, path, tasks, timeout) -> tuple[list, str]:
    reports, problems = grade_file(lab_id, path, tasks, task_seconds=timeout)
    where = "dlc's own solution" if path is None else str(path)
    return reports, format_report(lab_id, where, reports, problems)


def _known_lab(lab_id: str) -> None:
    """Refuse a lab id that is not one, saying what was probably meant (a path given first)."""
    from dlc.labs import catalog, get

    if lab_id in catalog():
        return
    if Path(lab_id).exists():
        raise UsageError(
            f"{lab_id!r} is a path, not a lab: name the lab first, `dlc check LAB {lab_id}` "
            f"(a mini-project folder: `dlc check digit-pairs {lab_id}` or `dlc check mini-framework {lab_id}`)"
        )
    get(lab_id)  # raises UnknownLab, with the close matches


def cli_check(
    lab_id: str | None,
    path: str | None,
    *,
    task: list[str] | None,
    reference: bool,
    all_labs: bool,
    submissions: str | None,
    results: str,
    scores: str,
    timeout: float,
    quick: bool = False,
) -> int:
    from dlc.exercise.handout import labs_with_tasks
    from dlc.io import write_json_atomic

    if submissions:
        if not lab_id:
            raise UsageError("--submissions grades one lab: dlc check LAB --submissions DIR")
        _known_lab(lab_id)
        return _submissions(lab_id, Path(submissions), task, Path(scores), timeout)
    if all_labs:
        if lab_id and path:
            raise UsageError("dlc check --all [DIR]: DIR is the hand-out folder (default .)")
        folder = Path(path or lab_id or ".")
        ids = labs_with_tasks()
    else:
        if not lab_id:
            raise UsageError("dlc check LAB [PATH]: which lab? (`dlc exercise --all DIR` lists them as it writes)")
        _known_lab(lab_id)
        folder = Path(".")
        ids = [lab_id]
    started = time.monotonic()
    every: list = []
    for i in ids:
        if reference:
            answer = None
        elif path and not all_labs:
            answer = Path(path)
            if answer.is_dir():  # a mini-project: the student's own package, graded by its scenario
                from dlc.exercise.miniprojects import GRADERS

                if i not in GRADERS:
                    raise UsageError(f"{answer} is a folder; `dlc check {i}` grades a file (a notebook or lab file)")
                reports, problems = GRADERS[i](answer, timeout, quick=quick)
                print(format_report(i, str(answer), reports, problems, f"dlc check {i} {answer}"), flush=True)
                every.extend((i, r) for r in reports)
                continue
            if not answer.is_file():
                raise UsageError(f"no file {answer}: give the file with your answers (`dlc exercise {i}` writes one)")
        else:
            answer = find_answer(i, folder)
            if answer is None:
                hint = f"`dlc exercise {i} {folder}` writes the hand-out" if not all_labs else "skipped"
                if not all_labs:
                    raise UsageError(f"no answers to {i} in {folder.resolve()}: give the file, or {hint}")
                print(f"{i}: no answer file in {folder}, skipped")
                continue
        reports, text = _grade_one(i, answer, task, timeout)
        print(text, flush=True)
        every.extend((i, r) for r in reports)
    if not every:
        raise UsageError(f"nothing to grade in {folder.resolve()}")
    summary = gradescope("", [r for _, r in every])
    for t, (i, r) in zip(summary["tests"], every, strict=True):
        t["name"] = f"{i}: {r.task}"
    summary["execution_time"] = round(time.monotonic() - started, 1)
    write_json_atomic(results, summary)
    passed = sum(r.status == "passed" for _, r in every)
    print(
        f"{passed} of {len(every)} task(s) passed, score {summary['score']:.2f} / {summary['max_score']} "
        f"in {summary['execution_time']:.0f} s; results in {results}"
    )
    return 0 if passed == len(every) else 1


def _submission_file(lab_id: str, entry: Path) -> Path | None:
    if entry.is_file():
        return entry if entry.suffix in (".py", ".ipynb") else None
    found = find_answer(lab_id, entry)
    if found is None:  # a folder with one notebook or script in it
        candidates = sorted(p for p in entry.rglob("*") if p.suffix in (".py", ".ipynb"))
        found = candidates[0] if len(candidates) == 1 else None
    return found


def _submissions(lab_id: str, folder: Path, task: list[str] | None, scores: Path, timeout: float) -> int:
    from dlc.io import write_atomic

    if not folder.is_dir():
        raise UsageError(f"--submissions needs a folder with one file or folder per student, got {folder}")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    if not entries:
        raise UsageError(f"{folder} is empty: put one file or folder per student in it")
    rows, names = [], None
    for n, entry in enumerate(entries, start=1):
        answer = _submission_file(lab_id, entry)
        student = entry.stem if entry.is_file() else entry.name
        if answer is None:
            rows.append({"student": student, "total": 0.0, "note": "no answer file found"})
            print(f"[{n}/{len(entries)}] {student}: no answer file found")
            continue
        reports, _ = grade_file(lab_id, answer, task, task_seconds=timeout)
        names = names or [r.task for r in reports]
        row = {"student": student, **{r.task: round(r.score, 4) for r in reports}}
        row["total"] = round(sum(r.score for r in reports), 4)
        row["note"] = "; ".join(f"{r.task} {r.status}" for r in reports if r.status != "passed")
        rows.append(row)
        print(f"[{n}/{len(entries)}] {student}: {row['total']:.2f} / {len(reports)}", flush=True)
    out = io.StringIO()
    writer = csv.DictWriter(out, ["student", *(names or []), "total", "note"], restval="")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(scores, out.getvalue())
    print(f"scores of {len(rows)} submission(s) in {scores}")
    return 0
