"""Solution regions: the code a student writes, marked in a lab's source.

Two forms, both inside the body of a top-level function or class (the *task* is the
name of that function or class, so a grader can import it)::

    def train_perceptron(x, y, max_epochs):
        \"\"\"...\"\"\"
        ### BEGIN SOLUTION
        w = torch.zeros(x.size(1))
        ...
        ### END SOLUTION

    def error_rate(w, b, x, y):
        return (predict(w, b, x) != y).double().mean().item()  # SOLUTION

The student version replaces each region by a stub that raises
``NotImplementedError("dlc check LAB TASK")``: the task's name and how to check it, at
the region's indentation; everything else is kept, so the file still imports and runs
up to the first stub.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from dlc.errors import DlcError

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
_LINE = re.compile(r"#\s*SOLUTION\s*$")


class RegionError(DlcError):
    """Markers that do not make a region (unmatched, nested, or outside a task)."""


@dataclass(frozen=True)
class Region:
    task: str  # the top-level function or class holding it
    start: int  # first line replaced (1-based; the BEGIN marker, or the one line)
    end: int  # last line replaced (the END marker, or the one line)
    indent: str

    @property
    def one_line(self) -> bool:
        return self.start == self.end


def _top_level_spans(source: str) -> list[tuple[str, int, int]]:
    """(name, first line, last line) of each top-level def and class; a definition's
    span runs up to the next top-level statement, so that a trailing comment (an END
    marker after the last statement) still belongs to it."""
    body = ast.parse(source).body
    starts = [min([n.lineno] + [d.lineno for d in getattr(n, "decorator_list", [])]) for n in body]
    ends = [s - 1 for s in starts[1:]] + [len(source.splitlines())]
    return [
        (node.name, first, last)
        for node, first, last in zip(body, starts, ends, strict=True)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]


def find_regions(source: str, where: str = "<source>") -> list[Region]:
    """The solution regions of a source text, in order; a :class:`RegionError` names the
    line of any marker that does not make a well-formed region inside a task."""
    lines = source.splitlines()
    try:
        spans = _top_level_spans(source)
    except SyntaxError as e:
        raise RegionError(f"{where}:{e.lineno}: the source does not parse ({e.msg})") from e

    def task_at(lineno: int) -> str:
        for name, first, last in spans:
            if first < lineno <= last:
                return name
        raise RegionError(
            f"{where}:{lineno}: a solution region must be inside the body of a top-level function or class "
            f"(the task a student writes and a grader imports)"
        )

    regions: list[Region] = []
    open_at = None
    for i, line in enumerate(lines, start=1):
        text = line.strip()
        if text == BEGIN:
            if open_at is not None:
                raise RegionError(f"{where}:{i}: {BEGIN} inside the region opened on line {open_at}")
            open_at = i
        elif text == END:
            if open_at is None:
                raise RegionError(f"{where}:{i}: {END} without a {BEGIN}")
            task = task_at(open_at)
            if task_at(i) != task:
                raise RegionError(f"{where}:{open_at}-{i}: a region must stay inside one task ({task})")
            if i == open_at + 1:
                raise RegionError(f"{where}:{open_at}: an empty solution region")
            indent = lines[open_at - 1][: len(lines[open_at - 1]) - len(lines[open_at - 1].lstrip())]
            regions.append(Region(task, open_at, i, indent))
            open_at = None
        elif _LINE.search(line) and not text.startswith("#"):
            if open_at is not None:
                raise RegionError(f"{where}:{i}: a one-line solution inside the region opened on line {open_at}")
            indent = line[: len(line) - len(line.lstrip())]
            regions.append(Region(task_at(i), i, i, indent))
    if open_at is not None:
        raise RegionError(f"{where}:{open_at}: {BEGIN} without an {END}")
    return regions


def stub(lab_id: str, task: str) -> str:
    return f'raise NotImplementedError("dlc check {lab_id} {task}")'


def is_stub_error(e: BaseException) -> bool:
    """The error a stub raises: the task was not attempted (distinct from wrong code)."""
    return isinstance(e, NotImplementedError) and str(e).startswith("dlc check ")


def student_source(source: str, lab_id: str, where: str = "<source>") -> str:
    """The source with every solution region replaced by its stub."""
    lines = source.splitlines()
    out: list[str] = []
    last = 0
    for r in find_regions(source, where):
        out.extend(lines[last : r.start - 1])
        out.append(f"{r.indent}# TODO: write this part ({'one line' if r.one_line else 'several lines'})")
        out.append(r.indent + stub(lab_id, r.task))
        last = r.end
    out.extend(lines[last:])
    text = "\n".join(out) + ("\n" if source.endswith("\n") else "")
    try:
        ast.parse(text)
    except SyntaxError as e:  # a region that ends mid-statement
        raise RegionError(f"{where}: the student version does not parse ({e.msg}, line {e.lineno})") from e
    return text


def solution_lines(source: str, where: str = "<source>") -> list[str]:
    """The code lines inside the regions (stripped, without the markers): what must not
    survive in a student version."""
    lines = source.splitlines()
    found = []
    for r in find_regions(source, where):
        body = [lines[r.start - 1]] if r.one_line else lines[r.start : r.end - 1]
        for line in body:
            code = _LINE.sub("", line).strip()
            if code and not code.startswith("#"):
                found.append(code)
    return found


def tasks_in(source: str, where: str = "<source>") -> list[str]:
    """The task names of a source, in order of first appearance."""
    seen: dict[str, None] = {}
    for r in find_regions(source, where):
        seen.setdefault(r.task)
    return list(seen)
