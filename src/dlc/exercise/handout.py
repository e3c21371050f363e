"""``dlc exercise``: the student version of a lab, as a hand-out folder.

For a lab ``ID`` (module ``M``) the folder gets::

    labs/M.py          the lab module, each solution region replaced by its stub
    notebooks/ID.py    the lab's notebook (jupytext), with the task cells put in:
                       the lecture's words for each task, the stubbed code, the check

The student works in the notebook alone: its task cells define the functions, ``check``
grades them there, and ``run_lab`` in the same notebook runs the lab with them. The
lab module is there for those who prefer an editor: ``dlc run labs/M.py`` runs it and
``dlc check ID labs/M.py`` grades it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from dlc.errors import UsageError
from dlc.exercise.regions import student_source, tasks_in
from dlc.io import write_atomic

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"  # in a source checkout


def _cells(text: str) -> tuple[str, list[str]]:
    """A jupytext percent file: its header and its cells (each starting with its # %% line)."""
    parts = re.split(r"(?m)^(?=# %%)", text)
    return parts[0], parts[1:]


def _definition_sources(source: str) -> dict[str, str]:
    """Top-level function and class sources, by name (decorators included)."""
    lines = source.splitlines()
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            found[node.name] = "\n".join(lines[first - 1 : node.end_lineno])
    return found


def _imports(source: str) -> list[str]:
    lines = source.splitlines()
    out = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module in ("__future__", "dlc.exercise", "dlc.labs"):
            continue  # the registry and the exercise plumbing are not the student's business
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append("\n".join(lines[node.lineno - 1 : node.end_lineno]))
    return out


def _private_names(code: str, module_names: set[str]) -> list[str]:
    used = {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}
    return sorted(n for n in used if n.startswith("_") and n in module_names)


def _drop_task_imports(cell: str, module: str, tasks: list[str]) -> str:
    """A notebook cell that imports a task from dlc's lab module would replace the
    student's own: take those names out of its imports."""
    pattern = re.compile(rf"^(\s*)from {re.escape(module)} import (.+)$", re.M)

    def keep(m: re.Match) -> str:
        names = [n.strip() for n in m.group(2).split(",")]
        left = [n for n in names if n.split(" as ")[0].strip() not in tasks]
        if not left:
            them = f"the task {names[0]} is" if len(names) == 1 else f"the tasks {', '.join(names)} are"
            return f"{m.group(1)}# ({them} yours, defined above)"
        return f"{m.group(1)}from {module} import {', '.join(left)}"

    return pattern.sub(keep, cell)


def student_notebook(lab_id: str, module, notebook_text: str, student_module_text: str) -> str:
    """The lab's notebook with its task cells: set-up, then per task its explanation,
    the stubbed code and the check."""
    from dlc.exercise.grade import lab_tasks

    _, tasks = lab_tasks(lab_id)
    header, cells = _cells(notebook_text)
    defs = _definition_sources(student_module_text)
    names = set(vars(module))
    private = sorted({p for t in tasks for p in _private_names(defs[t.name], names)})
    setup = [
        "# %% [markdown]",
        "# ## Your tasks",
        "# Write each task below (replace the `raise NotImplementedError` lines), run its cell, then",
        "# the check under it: it compares your code with dlc's on seeded inputs and tells you",
        "# what to fix. The lab's other code comes from dlc; `run_lab` further down uses your versions.",
        "",
        "# %%",
        "from dlc import check",
        *_imports(student_module_text),
        f"from {module.__name__} import *  # noqa: F403 (the lab's helpers)",
    ]
    if private:
        setup.append(f"from {module.__name__} import {', '.join(private)}")
    blocks = ["\n".join(setup) + "\n"]
    for t in tasks:
        explain = [f"# ### Task `{t.name}`", *(f"# {line}" for line in _wrap(t.hint))]
        blocks.append("# %% [markdown]\n" + "\n".join(explain) + "\n")
        blocks.append("# %%\n" + defs[t.name] + "\n")
        blocks.append(f'# %%\ncheck("{lab_id}", "{t.name}")\n')
    rest = [_drop_task_imports(c, module.__name__, [t.name for t in tasks]) for c in cells[1:]]
    return header + cells[0] + "\n".join(blocks) + "\n" + "".join(rest)


def _wrap(text: str, width: int = 86) -> list[str]:
    import textwrap

    return textwrap.wrap(text + ("" if text.endswith(".") else "."), width)


def write_exercise(lab_id: str, folder: str | Path) -> list[Path]:
    """Write the student files of one lab into ``folder``; the paths written."""
    from dlc.exercise.grade import lab_tasks

    module, _ = lab_tasks(lab_id)  # a lab without a task is refused here
    source_path = Path(module.__file__)
    source = source_path.read_text(encoding="utf-8")
    student = student_source(source, lab_id, str(source_path))
    folder = Path(folder)
    written = [write_atomic(folder / "labs" / source_path.name, student)]
    notebook = NOTEBOOKS / f"{lab_id}.py"
    if notebook.is_file():
        text = student_notebook(lab_id, module, notebook.read_text(encoding="utf-8"), student)
        written.append(write_atomic(folder / "notebooks" / f"{lab_id}.py", text))
    return written


def labs_with_tasks() -> list[str]:
    """Every lab id whose module marks at least one solution region."""
    from dlc.labs import _HERE, catalog

    found = []
    for lab_id, info in catalog().items():
        path = _HERE / f"{info.module.rsplit('.', 1)[1]}.py"
        if tasks_in(path.read_text(encoding="utf-8"), str(path)):
            found.append(lab_id)
    return found


def cli_exercise(lab_id: str | None, folder: str, all_labs: bool) -> int:
    if all_labs and lab_id:  # `dlc exercise --all DIR`: the one positional is the folder
        if folder != "exercises":
            raise UsageError("dlc exercise --all [DIR]: give a folder, not a lab id")
        lab_id, folder = None, lab_id
    if not all_labs and not lab_id:
        raise UsageError("which lab? `dlc exercise perceptron [DIR]`, or `dlc exercise --all [DIR]` for every lab")
    ids = labs_with_tasks() if all_labs else [lab_id]
    for i in ids:
        for path in write_exercise(i, folder):
            print(f"wrote {path}")
    print(f"{len(ids)} lab(s) in {folder}: open the notebooks, write the tasks, then `dlc check LAB`")
    return 0
