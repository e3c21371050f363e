"""Reading a student's answers: the names a file defines, never its cells or positions.

A student answers in a copy of the lab module, in the lab's notebook (a jupytext
``.py`` or an ``.ipynb``), or in a notebook's own kernel. From a file, only the
top-level definitions are run (imports, ``def``, ``class`` and assignments of plain
values), one statement at a time, so that a notebook's experiment cells are not run
and one broken cell does not hide the others. They run in a namespace that starts as a
copy of dlc's own lab module, so a task may use the lab's helpers; the student's
objects are those the file itself defines.
"""

from __future__ import annotations

import ast
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dlc.errors import UsageError

STUDENT_MODULE = "dlc_student"  # the __module__ of what a student's file defines


@dataclass
class Answers:
    where: str
    objects: dict[str, Any]  # task name -> the student's function or class
    problems: list[str] = field(default_factory=list)  # statements that failed, with their line


def reference_module(lab_id: str) -> ModuleType:
    import importlib

    from dlc.labs import get

    return importlib.import_module(get(lab_id).info.module)


def notebook_source(path: Path) -> str:
    """The code of a notebook (.ipynb: its code cells; otherwise the file), with IPython's
    magics and shell escapes commented out so that it parses."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text)["cells"]
            text = "\n\n".join(
                "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                for c in cells
                if c.get("cell_type") == "code"
            )
        except (ValueError, KeyError, TypeError) as e:
            raise UsageError(f"{path} is not a readable .ipynb notebook ({e}); give the .py or a valid notebook") from e
    lines = [("# " + line) if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines()]
    return "\n".join(lines) + "\n"


def _plain_value(node: ast.AST) -> bool:
    return not any(isinstance(n, ast.Call | ast.Await | ast.Yield | ast.NamedExpr) for n in ast.walk(node))


def _kept(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return True
    if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
        return _plain_value(stmt.value)
    return False


@contextmanager
def registry_kept():
    """Running a lab file registers its ``@lab`` again; keep dlc's registry as it was."""
    from dlc import labs

    saved = dict(labs._REGISTRY)
    try:
        yield
    finally:
        labs._REGISTRY.clear()
        labs._REGISTRY.update(saved)


def load_answers(path: str | Path, module: ModuleType, names: list[str]) -> Answers:
    """The objects called ``names`` that the file at ``path`` defines."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no file {path}: give the student's lab file or notebook (`dlc exercise` writes them)")
    source = notebook_source(path)
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as e:
        return Answers(str(path), {}, [f"line {e.lineno}: SyntaxError: {e.msg} (nothing in the file could be read)"])
    import sys

    # a real module object: dataclasses and pickle look classes' modules up in sys.modules
    student = ModuleType(STUDENT_MODULE)
    ns: dict[str, Any] = student.__dict__
    ns.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    ns.update(__file__=str(path), __builtins__=__builtins__)
    sys.modules[STUDENT_MODULE] = student
    problems = []
    with registry_kept():
        for stmt in tree.body:
            if not _kept(stmt):
                continue
            code = compile(ast.Module(body=[stmt], type_ignores=[]), str(path), "exec")
            try:
                exec(code, ns)
            except Exception as e:  # noqa: BLE001 (a student's code may raise anything)
                if isinstance(e, NameError) and isinstance(stmt, ast.Assign | ast.AnnAssign):
                    continue  # `m = result.metrics` in a notebook names what only its experiments make
                problems.append(
                    f"line {stmt.lineno}: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                )
    objects = {n: ns[n] for n in names if getattr(ns.get(n), "__module__", None) == STUDENT_MODULE}
    return Answers(str(path), objects, problems)


def main_answers(names: list[str]) -> Answers:
    """What the running notebook (or script) itself defines: objects of ``__main__``."""
    import sys

    main = sys.modules.get("__main__")
    found = {n: getattr(main, n) for n in names if getattr(getattr(main, n, None), "__module__", None) == "__main__"}
    return Answers("this notebook", found)


@contextmanager
def patched(module: ModuleType, objects: dict[str, Any]):
    """The lab module with the student's objects in place of its own, for one run."""
    saved = {n: getattr(module, n) for n in objects}
    try:
        for n, obj in objects.items():
            setattr(module, n, obj)
        yield
    finally:
        for n, obj in saved.items():
            setattr(module, n, obj)
