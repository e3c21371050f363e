"""Graders for the course's two mini-projects: a student's own package, run through the project.

``dlc check mini-framework DIR`` and ``dlc check digit-pairs DIR`` grade a folder, the
student's package, instead of a lab file. Its ``.py`` files are imported (the package's
``__init__.py`` first, if it has one, then every module but ``test*.py`` and ``setup.py``,
one sub-folder deep), and the names each project needs are taken from them, wherever
they are defined; nothing depends on file names, cells or positions. The student's code
runs in a worker process (``python -m dlc.exercise.miniprojects``) with a time limit
per task: one that loops forever is stopped and reported, and a fresh worker goes on
with the other tasks. What the code prints is kept out of the report.

**mini-framework** (EE-559 mini-project 2, a framework without autograd). The package
defines the modules ``Linear(in_features, out_features)``, ``ReLU()``, ``Tanh()``,
``Sequential(*modules)`` and ``LossMSE()`` (the 2022 name ``MSE`` is accepted), each with
``forward(*input)``, ``backward(*gradwrtoutput)`` (the gradient of the loss w.r.t. the
output in, w.r.t. the input out, the parameters' gradients accumulated on the way) and
``param()`` (a list of (parameter, gradient) pairs, empty without parameters); the loss's
``backward()`` takes no argument. ``SGD(model.param(), lr)`` has ``step()`` (and, if
defined, ``zero_grad()``). The 2022 edition's ``Sigmoid``, ``Conv2d(in_channels,
out_channels, kernel_size)``, ``NearestUpsampling(scale_factor)`` and ``Upsampling``
(nearest-neighbour upsampling then a convolution) are graded when the package defines
them. Tasks:

- each module: built, run forward and backward twice (float64), its output compared with
  torch's on the module's own parameters, its input gradient and its parameters'
  (accumulated over the two passes) with torch.autograd's;
- SGD: one step is p - lr g on every parameter;
- "disc scenario", the project's test.py: 1,000 training and 1,000 test points uniform in
  [0, 1]^2, class 1 inside the disc of radius 1/sqrt(2 pi) (inputs standardised with the
  training statistics), 2 -> 25 -> 25 -> 25 -> 2 with ReLU (Tanh if ReLU does not get there),
  LossMSE on one-hot targets, SGD (lr 0.1, batches of 10, 25 epochs), all under
  ``torch.set_grad_enabled(False)``; train and test error must be under 10%, and the test
  error under a quarter of the majority class's;
- "autograd off", the project's rule: no ``torch.autograd``, no ``torch.nn`` (but
  ``torch.nn.init`` and ``fold``/``unfold``), no ``requires_grad``/``enable_grad`` in the
  package's source, and no call into torch.autograd while the student's code runs.

**digit-pairs** (EE-559 mini-project 1). The package defines ``build_model()``, a fresh,
randomly initialised ``torch.nn.Module`` whose forward maps pairs ``(N, 2, 14, 14)`` to the
logits ``(N, 2)`` of "the first digit <= the second" (or a tuple whose first item they are,
e.g. with digit logits for an auxiliary loss), and ``train_model(model, train_input,
train_target, train_classes)``, which trains it in place (the project: 25 epochs).
Tasks: ``build_model`` (an ``nn.Module``, the output's shape, about 70,000 parameters:
52,500 to 87,500) and ``train_model``: rounds of ``generate_pair_sets(1000)`` (new pairs and
a new initialisation each round; inputs standardised with the training statistics), the
test error's mean ± std, which must beat chance by 15 points of accuracy and the mean of
dlc's plain convnet (``PairConvNet``, the project's baseline) trained on the same rounds.
``quick=True`` runs fewer, smaller rounds (2 of 300 pairs, instead of 10 of 1,000).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import math
import os
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlc.errors import UsageError
from dlc.exercise.grade import TaskReport
from dlc.exercise.tasks import TIER_TITLES, Mismatch, TierResult, compare_values

STUDENT_PACKAGE = "dlc_student_package"  # the name a student's package is imported under
SKIPPED_FILES = ("setup.py",)  # never imported (nor test*.py, *_test.py, conftest.py)
SKIPPED_DIRS = {"__pycache__", "venv", ".venv", "env", "site-packages", "build", "dist", "node_modules"}
STARTUP_SECONDS = 120.0  # a worker's start-up (importing torch on a loaded machine), besides the time limit
RTOL, ATOL = 1e-4, 1e-6  # float32 parameters still pass; a wrong formula is off by far more

# -- mini-framework ---------------------------------------------------------------------------

MODULE_TIERS = ["exists", "runs", "shape", "values", "gradient"]
# The tier "autograd off" is reported under: "rules" once tasks.TIER_TITLES has a title for it.
RULES_TIER = "rules" if "rules" in TIER_TITLES else "runs"
FRAMEWORK_TASKS: dict[str, tuple[list[str], str]] = {
    "Linear": (
        MODULE_TIERS,
        "Linear(in, out): forward x w^T + b; backward adds grad^T x to the weight's gradient and the batch sum "
        "of grad to the bias's (accumulating), and returns grad w",
    ),
    "ReLU": (MODULE_TIERS, "ReLU(): backward lets the gradient through where the input was positive, 0 elsewhere"),
    "Tanh": (MODULE_TIERS, "Tanh(): backward multiplies the gradient by 1 - tanh(x)^2"),
    "Sequential": (
        MODULE_TIERS,
        "Sequential(*modules): forward through the modules in order, backward through them in reverse, "
        "param() the list of all their (parameter, gradient) pairs",
    ),
    "LossMSE": (
        MODULE_TIERS,
        "LossMSE() (or MSE()): forward(prediction, target) is the mean of the squared differences, backward() "
        "their gradient 2 (prediction - target) / number of elements",
    ),
    "SGD": (
        ["exists", "runs", "values"],
        "SGD(model.param(), lr): step() subtracts lr times each gradient from its parameter; zero_grad() zeroes "
        "the gradients",
    ),
    "Sigmoid": (MODULE_TIERS, "Sigmoid(): backward multiplies the gradient by s (1 - s), s the output"),
    "Conv2d": (
        MODULE_TIERS,
        "Conv2d(in_channels, out_channels, kernel_size): as torch.nn.functional.conv2d with the module's own "
        "weight (out, in, k, k) and bias; backward as its autograd gradients (unfold/fold make it a matmul)",
    ),
    "NearestUpsampling": (
        MODULE_TIERS,
        "NearestUpsampling(scale_factor): each pixel repeated s x s times; backward sums the gradient over each "
        "s x s block",
    ),
    "Upsampling": (
        MODULE_TIERS,
        "Upsampling(in_channels, out_channels, kernel_size, scale_factor=2, padding=1): nearest-neighbour "
        "upsampling then a convolution with the module's weight",
    ),
    "disc scenario": (
        ["exists", "runs", "learns"],
        "the project's test.py: 2 -> 25 -> 25 -> 25 -> 2 trained with LossMSE and SGD on the disc set, autograd "
        "off; every module above must work first",
    ),
    "autograd off": (
        ["exists", RULES_TIER],
        "no torch.autograd, no torch.nn (but torch.nn.init and fold/unfold), no requires_grad: every gradient "
        "is computed by the modules' own backward",
    ),
}
REQUIRED_MODULES = ("Linear", "ReLU", "Tanh", "Sequential", "LossMSE", "SGD")
OPTIONAL_MODULES = ("Sigmoid", "Conv2d", "NearestUpsampling", "Upsampling")
ALIASES = {"LossMSE": ("LossMSE", "MSE")}  # the 2022 edition's name
SCENARIO = {"n": 1000, "hidden": 25, "epochs": 25, "batch_size": 10, "lr": 0.1}
QUICK_EPOCHS = 12
MAX_ERROR = 0.10  # train and test error, as dlc's lab (mini-framework) checks
MAX_ERROR_VS_MAJORITY = 0.25  # the test error over the majority class's

# -- digit-pairs ----------------------------------------------------------------------------------

PAIRS_TASKS: dict[str, tuple[list[str], str]] = {
    "build_model": (
        ["exists", "runs", "shape"],
        "build_model() returns a fresh torch.nn.Module of about 70,000 parameters, mapping (N, 2, 14, 14) to the "
        "(N, 2) logits of 'first <= second' (or a tuple whose first item they are)",
    ),
    "train_model": (
        ["exists", "runs", "learns"],
        "train_model(model, train_input, train_target, train_classes) trains the model in place (25 epochs); "
        "weight sharing and an auxiliary loss on the digit classes beat the plain convnet",
    ),
}
TARGET_PARAMS = 70_000  # "a model of about 70,000 parameters"
PARAMS_RANGE = (52_500, 87_500)  # +- 25%
ROUNDS, PAIRS = 10, 1000  # the project's "10+ rounds" of generate_pair_sets(1000)
QUICK_ROUNDS, QUICK_PAIRS = 2, 300
CHANCE_MARGIN = 0.15  # test accuracy above chance + 15 points, as dlc's lab (digit-pairs) checks


@dataclass(frozen=True)
class Project:
    tasks: dict[str, tuple[list[str], str]]
    required: tuple[str, ...]  # the tasks every package is graded on
    optional: tuple[str, ...] = ()  # graded when the package defines them


PROJECTS = {
    "mini-framework": Project(FRAMEWORK_TASKS, (*REQUIRED_MODULES, "disc scenario", "autograd off"), OPTIONAL_MODULES),
    "digit-pairs": Project(PAIRS_TASKS, tuple(PAIRS_TASKS)),
}


# -- the parent: workers with time limits ----------------------------------------------------


def _run(args: list[str], seconds: float, on_line) -> str | None:
    """A worker of this module, with ``grade._run_worker``'s time limit and line protocol."""
    from dlc.exercise import grade

    return grade._run_worker(args, seconds, on_line, module=__name__)


def grade_package(
    kind: str, path: str | Path, timeout: float, *, quick: bool = False, echo: bool = True
) -> tuple[list[TaskReport], list[str]]:
    """Grade the package at ``path`` for the mini-project ``kind``: the reports, one per
    task, and the problems met while importing it. ``timeout``: seconds per task (per
    round of digit-pairs' training); ``echo``: print the worker's progress lines."""
    project = PROJECTS[kind]
    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder: `dlc check {kind} DIR` grades the package in DIR")
    if not any(_sources(folder.resolve())):
        raise UsageError(f"{folder} holds no .py file: give the folder of your {kind} package")
    reports: dict[str, TaskReport] = {}
    problems: list[str] = []
    pending: list[str] = []
    listed = [False]
    current: list[str | None] = [None]
    fatal: list[str] = []

    def report(name: str) -> TaskReport:
        if name not in reports:
            tiers, hint = project.tasks[name]
            reports[name] = TaskReport(name, hint, expected=list(tiers))
        return reports[name]

    def on_line(m: Any) -> bool:
        if not isinstance(m, dict):
            return False  # a number the student's code printed, say
        if "tasks" in m and not listed[0]:
            listed[0] = True
            for name in m["tasks"]:
                report(name)
            pending[:] = list(m["tasks"])
        if "problems" in m:
            problems.extend(p for p in m["problems"] if p not in problems)
        if "start" in m:
            current[0] = m["start"]
        if "tier" in m and m.get("task") in reports:
            reports[m["task"]].tiers.append(TierResult(**m["tier"]))
        if "done" in m:
            if m["done"] in pending:
                pending.remove(m["done"])
            current[0] = None
            return True
        if "fatal" in m or "stopped" in m:
            fatal.append(m.get("fatal") or m["stopped"])
        if "progress" in m:
            if echo:
                print(f"  {m['progress']}", flush=True)
            return True
        return "tick" in m  # a long task going on: a new time limit for its next part

    base = [kind, str(folder.resolve()), str(timeout), *(["--quick"] if quick else [])]
    while True:  # the worker keeps the time limit; this one is a backstop that also covers its start-up
        stopped = _run(base + (pending if listed[0] else []), timeout + STARTUP_SECONDS, on_line)
        if not listed[0]:  # the package itself could not be read: every task fails to exist
            why = fatal[0] if fatal else stopped or "the grading process stopped"
            for name in project.required:
                report(name).tiers = [TierResult("exists", False, f"reading the package: {why}")]
            break
        if not pending:
            break
        name = current[0] if current[0] in pending else pending[0]
        pending.remove(name)
        r = reports[name]
        tier = r.expected[min(len(r.tiers), len(r.expected) - 1)]
        why = fatal.pop(0) if fatal else stopped or "the grading process stopped"
        r.tiers.append(TierResult(tier, False, why))
        current[0] = None
    return list(reports.values()), problems


def grade_framework(path, timeout: float, *, quick: bool = False, echo: bool = True):
    """``dlc check mini-framework DIR``: mini-project 2 on the student's framework package."""
    return grade_package("mini-framework", path, timeout, quick=quick, echo=echo)


def grade_digit_pairs(path, timeout: float, *, quick: bool = False, echo: bool = True):
    """``dlc check digit-pairs DIR``: mini-project 1 on the student's package."""
    return grade_package("digit-pairs", path, timeout, quick=quick, echo=echo)


GRADERS = {"mini-framework": grade_framework, "digit-pairs": grade_digit_pairs}


# -- the worker: reading the package ------------------------------------------------------------


def _is_test(path: Path) -> bool:
    return path.name.startswith("test") or path.name.endswith("_test.py") or path.name == "conftest.py"


def _sources(folder: Path):
    """The package's Python files but tests: top level, then one sub-folder deep (each
    folder's ``__init__.py`` first)."""
    for depth, pattern in ((0, "*.py"), (1, "*/*.py")):
        for path in sorted(folder.glob(pattern), key=lambda p: (str(p.parent), p.name != "__init__.py", p.name)):
            if depth and (path.parent.name in SKIPPED_DIRS or path.parent.name.startswith(".")):
                continue
            if path.name in SKIPPED_FILES or _is_test(path):
                continue
            yield path


@dataclass
class Package:
    folder: Path
    objects: dict[str, Any]  # name -> the student's object
    problems: list[str]


def _short(e: BaseException) -> str:
    text = str(e).splitlines()[0][:300] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def load_package(folder: Path, names: dict[str, tuple[str, ...]]) -> Package:
    """Import the package's files and pick, for each wanted name (and its aliases), the
    object it defines, preferring one defined in the package's own files."""
    folder = folder.resolve()
    sys.path.insert(0, str(folder))  # the package's own absolute imports (import framework)
    sys.path.append(str(folder.parent))  # and by its folder's name (from proj2.framework import ...)
    modules, problems = [], []
    is_package = (folder / "__init__.py").is_file()
    for path in _sources(folder):
        rel = path.relative_to(folder).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        dotted = ".".join([STUDENT_PACKAGE, *parts]) if is_package else ".".join(parts)
        try:
            if is_package and not parts:
                spec = importlib.util.spec_from_file_location(
                    STUDENT_PACKAGE, path, submodule_search_locations=[str(folder)]
                )
                module = importlib.util.module_from_spec(spec)
                sys.modules[STUDENT_PACKAGE] = module
                spec.loader.exec_module(module)
            else:
                known = sys.modules.get(dotted)
                if known is not None and getattr(known, "__file__", None) != str(path):
                    dotted = f"{STUDENT_PACKAGE}_{'_'.join(parts)}"  # a name taken by another module
                    spec = importlib.util.spec_from_file_location(dotted, path)
                    module = importlib.util.module_from_spec(spec)
                    sys.modules[dotted] = module
                    spec.loader.exec_module(module)
                else:
                    module = importlib.import_module(dotted)
            modules.append(module)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            problems.append(f"{path.relative_to(folder)}: importing it raised {_short(e)}")
    objects = {}
    for name, aliases in names.items():
        found = [getattr(m, a) for a in aliases for m in modules if callable(getattr(m, a, None))]
        own = [o for o in found if _defined_in(o, folder)]
        if own or found:
            objects[name] = (own or found)[0]
    return Package(folder, objects, problems)


def _defined_in(obj: Any, folder: Path) -> bool:
    try:
        return Path(inspect.getsourcefile(obj) or "").resolve().is_relative_to(folder)
    except TypeError:
        return False


# -- the worker: autograd traps -------------------------------------------------------------------


class AutogradUsed(RuntimeError):
    """The student's code called into torch.autograd (the mini-project's rule: it may not)."""


class _State:
    where: str | None = None  # the student's code running now (None: the grader's own)
    violations: dict[str, list[str]] = {}  # what it did -> where (the student's calls that did it)


def install_traps() -> None:
    """Make torch.autograd's entry points refuse the student's code (and record it)."""
    import torch

    def trap(owner, attr: str, label: str):
        original = getattr(owner, attr)

        def guarded(*args, **kwargs):
            if _State.where is not None:
                message = f"{_State.where} called {label}"
                _State.violations.setdefault(f"called {label}", []).append(_State.where)
                raise AutogradUsed(f"{message}: autograd is off in this project, compute the gradient yourself")
            return original(*args, **kwargs)

        setattr(owner, attr, guarded)

    trap(torch.Tensor, "backward", "Tensor.backward()")
    trap(torch.autograd, "backward", "torch.autograd.backward()")
    trap(torch.autograd, "grad", "torch.autograd.grad()")


@contextmanager
def student(where: str):
    """Run the student's code: autograd off (as the project's test.py), calls into it refused."""
    import torch

    _State.where = where
    try:
        with torch.no_grad():
            yield
            if torch.is_grad_enabled():
                _State.violations.setdefault("switched autograd back on", []).append(where)
    finally:
        _State.where = None


# -- the worker: one module against torch -----------------------------------------------------------


def _tensor_out(value: Any, what: str):
    import torch

    if isinstance(value, tuple | list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, torch.Tensor):
        raise Mismatch(f"{what} must return a tensor, got {type(value).__name__}")
    return value


def _pairs(module: Any, name: str) -> list[tuple]:
    import torch

    param = getattr(module, "param", None)
    if not callable(param):
        raise Mismatch(f"{name} has no param() (the list of (parameter, gradient) pairs, empty without parameters)")
    pairs = list(param() or [])
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and isinstance(pair[0], torch.Tensor)):
            raise Mismatch(f"{name}.param() must list (parameter, gradient) pairs of tensors, got {pair!r:.80}")
    return pairs


def _match(pairs: list[tuple], numels: list[int], name: str) -> list[int]:
    """The index in ``pairs`` of the parameter of each size in ``numels`` (weight, bias, ...)."""
    found = []
    for n in numels:
        i = next((i for i, (p, _) in enumerate(pairs) if p.numel() == n and i not in found), None)
        if i is None:
            sizes = [tuple(p.shape) for p, _ in pairs]
            raise Mismatch(
                f"{name}.param() should hold a parameter of {n} values; it holds parameters of shapes {sizes}"
            )
        found.append(i)
    return found


def _zero(module: Any, pairs: list[tuple]) -> None:
    if callable(getattr(module, "zero_grad", None)):
        module.zero_grad()
    for _, g in pairs:
        if g is not None:
            g.zero_()


def _autograd(fn, inputs: list, grad) -> list:
    """torch.autograd's gradients of <fn(*inputs), grad> w.r.t. the inputs (float64)."""
    import torch

    with torch.enable_grad():
        leaves = [t.detach().double().clone().requires_grad_() for t in inputs]
        out = fn(*leaves)
        return list(torch.autograd.grad((out * grad.double()).sum(), leaves, allow_unused=True))


@dataclass
class ModuleSpec:
    """How to grade one module: build it, what parameters it has, torch's version of it."""

    label: str  # how the report names the call, e.g. "Linear(3, 4)"
    build: Any  # cls -> module
    inputs: list  # the two passes' inputs (float64)
    numels: list[int]  # its parameters' sizes, in the order ``reference`` takes them
    reference: Any  # (x, *params) -> output, in torch (differentiable); None: chosen by ``choose``
    choose: Any = None  # (x, out, params) -> a reference that fits, or raises Mismatch


def grade_module(name: str, cls: Any, specs: list[ModuleSpec], generator) -> list[TierResult]:
    """The tiers of one module: it runs, its shapes, its forward values, its gradients."""
    import torch

    tiers = [TierResult("exists", True)]
    runs = []
    for spec in specs:
        try:
            with student(f"{spec.label}"):
                module = spec.build(cls)
            pairs = _pairs(module, name)
            index = _match(pairs, spec.numels, name)
            params = [pairs[i][0] for i in index]
            dtype = params[0].dtype if params else torch.float64
            _zero(module, pairs)
            passes = []
            for x in spec.inputs:
                x = x.to(dtype)
                reference = spec.reference
                with student(f"{spec.label}.forward"):
                    out = _tensor_out(module.forward(x), f"{spec.label}.forward")
                if reference is None:
                    reference = spec.choose(x, out, params)
                want = reference(x, *params)
                g = torch.randn(want.shape, generator=generator, dtype=torch.float64).to(dtype)
                with student(f"{spec.label}.backward"):
                    gx = _tensor_out(module.backward(g), f"{spec.label}.backward")
                passes.append((x, out, want, g, gx, reference))
            grads = [_pairs(module, name)[i][1] for i in index]
        except Mismatch as e:
            return tiers + [TierResult("runs", False, str(e))]
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            return tiers + [TierResult("runs", False, f"{spec.label}: raised {_short(e)}")]
        runs.append((spec, params, passes, grads))
    tiers.append(TierResult("runs", True))
    try:
        for spec, params, passes, grads in runs:
            for k, (x, out, want, _, gx, _) in enumerate(passes, start=1):
                if tuple(out.shape) != tuple(want.shape):
                    raise Mismatch(
                        f"{spec.label}.forward, pass {k}: expected shape {tuple(want.shape)}, got {tuple(out.shape)}"
                    )
                if tuple(gx.shape) != tuple(x.shape):
                    raise Mismatch(
                        f"{spec.label}.backward, pass {k}: the input's gradient has the input's shape "
                        f"{tuple(x.shape)}, got {tuple(gx.shape)}"
                    )
            for p, g in zip(params, grads, strict=True):
                if not isinstance(g, torch.Tensor) or g.numel() != p.numel():
                    got = tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__
                    raise Mismatch(f"{spec.label}: a parameter of shape {tuple(p.shape)} has a gradient of {got}")
    except Mismatch as e:
        return tiers + [TierResult("shape", False, str(e))]
    tiers.append(TierResult("shape", True))
    try:
        for spec, _, passes, _ in runs:
            for k, (_, out, want, _, _, _) in enumerate(passes, start=1):
                compare_values(out, want, RTOL, ATOL, f"{spec.label}.forward, pass {k}")
    except Mismatch as e:
        return tiers + [TierResult("values", False, str(e) + " (torch's value with your parameters)")]
    tiers.append(TierResult("values", True))
    try:
        for spec, params, passes, grads in runs:
            total = [torch.zeros(p.shape, dtype=torch.float64) for p in params]
            last = None
            for k, (x, _, _, g, gx, reference) in enumerate(passes, start=1):
                want = _autograd(reference, [x, *params], g)
                compare_values(gx, want[0], RTOL, ATOL, f"{spec.label}.backward, pass {k}, the input's gradient")
                last = want[1:]
                total = [t + w.reshape(t.shape) for t, w in zip(total, last, strict=True)]
            for j, (g, want, p) in enumerate(zip(grads, total, params, strict=True)):
                what = f"{spec.label}, the gradient of the parameter of shape {tuple(p.shape)}"
                try:
                    compare_values(g.reshape(want.shape), want, RTOL, ATOL, what + " after two backward passes")
                except Mismatch as e:
                    if len(passes) > 1 and torch.allclose(g.double().reshape(want.shape), last[j].reshape(want.shape)):
                        raise Mismatch(
                            f"{what}: it holds the last backward pass's gradient only; backward must add to "
                            f"the gradients (they accumulate until zeroed)"
                        ) from e
                    raise
    except Mismatch as e:
        return tiers + [TierResult("gradient", False, str(e))]
    tiers.append(TierResult("gradient", True))
    return tiers


def _module_specs(name: str, generator) -> list[ModuleSpec]:
    import torch
    import torch.nn.functional as F

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    def away_from_zero(*shape):
        x = randn(*shape)
        return x + 0.1 * x.sign()

    def linear(x, w, b):
        n_in = x.shape[1]
        weight = w.t() if w.shape[0] == n_in and w.dim() == 2 and w.shape[1] != n_in else w.reshape(-1, n_in)
        return x @ weight.t() + b.reshape(-1)

    if name == "Linear":
        return [ModuleSpec("Linear(3, 4)", lambda c: c(3, 4), [randn(5, 3), randn(2, 3)], [12, 4], linear)]
    if name in ("ReLU", "Tanh", "Sigmoid"):
        fn = {"ReLU": torch.relu, "Tanh": torch.tanh, "Sigmoid": torch.sigmoid}[name]
        return [ModuleSpec(f"{name}()", lambda c: c(), [away_from_zero(4, 6), away_from_zero(1, 3)], [], fn)]
    if name == "Sequential":
        from dlc.scratch import modules as M  # dlc's own layers inside the student's container

        def build(cls):
            layers = [M.Linear(3, 4), M.Tanh(), M.Linear(4, 2)]
            for layer in (layers[0], layers[2]):
                layer.to(dtype=torch.float64)
            try:
                return cls(*layers)
            except TypeError:
                return cls(layers)  # Sequential([...]) is fine too

        def chain(x, w1, b1, w2, b2):
            return torch.tanh(x @ w1.t() + b1) @ w2.t() + b2

        return [
            ModuleSpec(
                "Sequential(Linear(3, 4), Tanh(), Linear(4, 2))",
                build,
                [randn(5, 3), randn(2, 3)],
                [12, 4, 8, 2],
                chain,
            )
        ]
    if name == "Conv2d":

        def conv(stride, padding):
            return lambda x, w, b: F.conv2d(x, w.reshape(3, 2, 3, 3), b.reshape(-1), stride=stride, padding=padding)

        specs = [
            ModuleSpec(
                "Conv2d(2, 3, 3)", lambda c: c(2, 3, 3), [randn(2, 2, 6, 5), randn(1, 2, 4, 4)], [54, 3], conv(1, 0)
            )
        ]
        specs.append(
            ModuleSpec(
                "Conv2d(2, 3, 3, stride=2, padding=1)",
                lambda c: c(2, 3, 3, stride=2, padding=1),
                [randn(2, 2, 7, 6), randn(1, 2, 4, 5)],
                [54, 3],
                conv(2, 1),
            )
        )
        return specs
    if name == "NearestUpsampling":

        def up(x):
            return F.interpolate(x, scale_factor=2, mode="nearest")

        return [ModuleSpec("NearestUpsampling(2)", lambda c: c(2), [randn(2, 3, 3, 4), randn(1, 1, 2, 2)], [], up)]
    if name == "Upsampling":

        def choose(x, out, params):
            w, b = params
            candidates = []
            for s in (2, 3, 4):
                for p in range(3):

                    def ref(x, w, b, s=s, p=p):
                        return F.conv2d(
                            F.interpolate(x, scale_factor=s, mode="nearest"),
                            w.reshape(3, 2, 3, 3),
                            b.reshape(-1),
                            padding=p,
                        )

                    with torch.no_grad():
                        want = ref(x.double(), w.double(), b.double())
                    if want.shape == out.shape:
                        candidates.append(ref)
                        if torch.allclose(want, out.double(), rtol=RTOL, atol=ATOL):
                            return ref
            if candidates:
                return candidates[0]  # the values tier says how far it is
            raise Mismatch(
                f"Upsampling(2, 3, 3, scale_factor=2, padding=1).forward: output of shape {tuple(out.shape)} for an "
                f"input of shape {tuple(x.shape)}: not a nearest-neighbour upsampling then a 3 x 3 convolution"
            )

        return [
            ModuleSpec(
                "Upsampling(2, 3, 3, scale_factor=2, padding=1)",
                lambda c: c(2, 3, 3, scale_factor=2, padding=1),
                [randn(1, 2, 3, 4), randn(2, 2, 2, 2)],
                [54, 3],
                None,
                choose,
            )
        ]
    raise KeyError(name)


def _conv_optional_stride(name: str, cls: Any, specs: list[ModuleSpec]) -> list[ModuleSpec]:
    """Conv2d's strided case only when its constructor takes stride and padding."""
    if name != "Conv2d":
        return specs
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return specs[:1]
    takes = {"stride", "padding"} <= set(params) or any(p.kind == p.VAR_KEYWORD for p in params.values())
    return specs if takes else specs[:1]


def grade_loss(cls: Any, generator) -> list[TierResult]:
    import torch

    tiers = [TierResult("exists", True)]
    label = f"{cls.__name__}()"
    cases = []
    try:
        for shape in ((5, 2), (3, 4)):
            p = torch.randn(*shape, generator=generator, dtype=torch.float64)
            t = torch.randn(*shape, generator=generator, dtype=torch.float64)
            with student(label):
                loss = cls()
                value = loss.forward(p, t)
                try:
                    grad = loss.backward()
                except TypeError:  # a backward that wants its inputs again
                    grad = loss.backward(p, t)
            cases.append((p, t, value, _tensor_out(grad, f"{label}.backward")))
    except Mismatch as e:
        return tiers + [TierResult("runs", False, str(e))]
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        return tiers + [TierResult("runs", False, f"{label}: raised {_short(e)}")]
    tiers.append(TierResult("runs", True))
    for p, _, value, grad in cases:
        numel = value.numel() if isinstance(value, torch.Tensor) else 1
        if not isinstance(value, torch.Tensor | float) or numel != 1:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            return tiers + [
                TierResult("shape", False, f"{label}.forward must return one number (a 0-d tensor), got {got}")
            ]
        if tuple(grad.shape) != tuple(p.shape):
            return tiers + [
                TierResult(
                    "shape",
                    False,
                    f"{label}.backward: expected the prediction's shape {tuple(p.shape)}, got {tuple(grad.shape)}",
                )
            ]
    tiers.append(TierResult("shape", True))
    try:
        for k, (p, t, value, _) in enumerate(cases, start=1):
            compare_values(
                torch.as_tensor(value).reshape(()), ((p - t) ** 2).mean(), RTOL, ATOL, f"{label}.forward, case {k}"
            )
    except Mismatch as e:
        return tiers + [TierResult("values", False, f"{e} (the mean over all elements, as torch.nn.MSELoss)")]
    tiers.append(TierResult("values", True))
    try:
        for k, (p, t, _, grad) in enumerate(cases, start=1):
            want = _autograd(lambda p, t=t: ((p - t) ** 2).mean(), [p], torch.ones((), dtype=torch.float64))[0]
            compare_values(grad, want, RTOL, ATOL, f"{label}.backward, case {k}")
    except Mismatch as e:
        return tiers + [TierResult("gradient", False, str(e))]
    tiers.append(TierResult("gradient", True))
    return tiers


def _make_sgd(cls: Any, model: Any, lr: float):
    """SGD(model.param(), lr), else SGD(model, lr): the two ways the project's students wrote it."""
    try:
        return cls(model.param(), lr)
    except (TypeError, AttributeError):
        return cls(model, lr)


def grade_sgd(cls: Any, generator) -> list[TierResult]:
    import torch

    from dlc.scratch import modules as M

    tiers = [TierResult("exists", True)]
    lr = 0.05
    model = M.Sequential(M.Linear(3, 2), M.Tanh(), M.Linear(2, 2)).to(dtype=torch.float64)
    for _, g in model.param():
        g.copy_(torch.randn(g.shape, generator=generator, dtype=torch.float64))
    before = [(p.clone(), g.clone()) for p, g in model.param()]
    try:
        with student(f"SGD(model.param(), {lr})"):
            optimizer = _make_sgd(cls, model, lr)
            optimizer.step()
        after = [p.clone() for p, _ in model.param()]
        zeroed = None
        if callable(getattr(optimizer, "zero_grad", None)):
            with student("SGD.zero_grad"):
                optimizer.zero_grad()
            zeroed = [g.clone() for _, g in model.param()]
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        return tiers + [TierResult("runs", False, f"SGD(model.param(), {lr}) then step(): raised {_short(e)}")]
    tiers.append(TierResult("runs", True))
    try:
        for k, ((p0, g0), p1) in enumerate(zip(before, after, strict=True), start=1):
            compare_values(p1, p0 - lr * g0, RTOL, ATOL, f"parameter {k} after one step (p - lr g)")
        if zeroed is not None:
            for k, g in enumerate(zeroed, start=1):
                compare_values(g, torch.zeros_like(g), 0, 0, f"gradient {k} after zero_grad()")
    except Mismatch as e:
        return tiers + [TierResult("values", False, str(e))]
    tiers.append(TierResult("values", True))
    return tiers


# -- the worker: the project's scenario and its rule -------------------------------------------------


def _loss_backward(loss: Any, prediction, target):
    try:
        return loss.backward()
    except TypeError:
        return loss.backward(prediction, target)


def _zero_grads(optimizer: Any, model: Any) -> None:
    if callable(getattr(optimizer, "zero_grad", None)):
        optimizer.zero_grad()
    elif callable(getattr(model, "zero_grad", None)):
        model.zero_grad()
    else:
        for _, g in model.param():
            if g is not None:
                g.zero_()


def _disc_network(objects: dict, activation: str, hidden: int):
    Linear, act, Sequential = objects["Linear"], objects[activation], objects["Sequential"]
    layers = [Linear(2, hidden), act(), Linear(hidden, hidden), act(), Linear(hidden, hidden), act(), Linear(hidden, 2)]
    try:
        return Sequential(*layers)
    except TypeError:
        return Sequential(layers)


def run_scenario(objects: dict, activation: str, epochs: int, seed: int = 0) -> dict:
    """The project's test.py with the student's framework: the train and test errors."""
    import torch

    from dlc.data.toy import disc

    cfg = SCENARIO
    x, y = disc(cfg["n"], seed=seed)
    xt, yt = disc(cfg["n"], seed=seed + 1)
    mu, std = x.mean(0), x.std(0)
    torch.manual_seed(seed)
    with student(f"the scenario ({activation})"):
        model = _disc_network(objects, activation, cfg["hidden"])
        criterion = objects["LossMSE"]()
        optimizer = _make_sgd(objects["SGD"], model, cfg["lr"])
        params = model.param()
        dtype = params[0][0].dtype if params else torch.float64
        x, xt = ((x - mu) / std).to(dtype), ((xt - mu) / std).to(dtype)
        target = torch.zeros(len(y), 2, dtype=dtype).scatter_(1, y[:, None], 1.0)
        losses = []
        for _ in range(epochs):
            total = 0.0
            for idx in torch.randperm(len(x)).split(cfg["batch_size"]):
                prediction = model.forward(x[idx])
                loss = criterion.forward(prediction, target[idx])
                _zero_grads(optimizer, model)
                model.backward(_loss_backward(criterion, prediction, target[idx]))
                optimizer.step()
                total += float(loss) * len(idx)
            losses.append(total / len(x))
            if not math.isfinite(losses[-1]):
                raise FloatingPointError(f"the loss became {losses[-1]} at epoch {len(losses)}")
        train_err = float((model.forward(x).argmax(1) != y).double().mean())
        test_err = float((model.forward(xt).argmax(1) != yt).double().mean())
    majority = float((yt == 1).double().mean())
    return {
        "activation": activation,
        "train_error": train_err,
        "test_error": test_err,
        "majority_error": min(majority, 1 - majority),
        "first_loss": losses[0],
        "final_loss": losses[-1],
    }


def _scenario_passed(r: dict) -> bool:
    return (
        r["train_error"] < MAX_ERROR
        and r["test_error"] < MAX_ERROR
        and r["test_error"] < MAX_ERROR_VS_MAJORITY * r["majority_error"]
    )


def _scenario_line(r: dict) -> str:
    return (
        f"{r['activation']}: train error {r['train_error']:.1%}, test error {r['test_error']:.1%} "
        f"(majority class {r['majority_error']:.1%}; loss {r['first_loss']:.3f} -> {r['final_loss']:.3f})"
    )


def grade_scenario(objects: dict, epochs: int, say) -> list[TierResult]:
    needed = ["Linear", "Sequential", "LossMSE", "SGD"]
    missing = [n for n in needed if n not in objects] + ([] if {"ReLU", "Tanh"} & set(objects) else ["ReLU or Tanh"])
    if missing:
        return [TierResult("exists", False, f"the scenario needs {', '.join(missing)}")]
    tiers = [TierResult("exists", True)]
    results = []
    for activation in [a for a in ("ReLU", "Tanh") if a in objects]:
        try:
            r = run_scenario(objects, activation, epochs)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            if not results:
                return tiers + [TierResult("runs", False, f"training with {activation}: raised {_short(e)}")]
            break
        results.append(r)
        say(f"disc scenario, {_scenario_line(r)}")
        if _scenario_passed(r):
            break
    tiers.append(TierResult("runs", True))
    good = [r for r in results if _scenario_passed(r)]
    lines = "; ".join(_scenario_line(r) for r in results)
    if good:
        return tiers + [TierResult("learns", True, lines)]
    return tiers + [
        TierResult(
            "learns",
            False,
            f"{lines}; needed: train and test error under {MAX_ERROR:.0%}, the test error under "
            f"{MAX_ERROR_VS_MAJORITY:.0%} of the majority class's",
        )
    ]


ALLOWED_TORCH_NN = ("torch.nn.init", "torch.nn.functional.fold", "torch.nn.functional.unfold")


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


GRAD_OFF = {  # switching autograd off is what the project asks for
    f"torch.{m}{f}" for m in ("", "autograd.", "autograd.grad_mode.") for f in ("no_grad", "set_grad_enabled")
}


def _forbidden(full: str) -> str | None:
    """What rule ``full`` (a dotted name, resolved to torch's) breaks, if any."""
    if full in GRAD_OFF:
        return None  # set_grad_enabled(True) is caught at the call
    for banned in ("torch.autograd", "torch.func"):
        if full == banned or full.startswith(banned + "."):
            return f"uses {banned}"
    if full == "torch.enable_grad":
        return "switches autograd on (torch.enable_grad)"
    if full.startswith("torch.nn."):
        if any(full == a or full.startswith(a + ".") for a in ALLOWED_TORCH_NN) or full == "torch.nn.functional":
            return None
        return f"uses {full} (torch.nn's modules and functions are off limits)"
    return None


def scan_rules(folder: Path) -> list[str]:
    """The lines of the package's source that break the rule: every .py file, test.py (the
    project's scenario) included, but unit tests (test_*.py, *_test.py, tests/)."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        folders = set(path.relative_to(folder).parts[:-1])
        if folders & (SKIPPED_DIRS | {"tests"}) or (_is_test(path) and path.name != "test.py"):
            continue
        where = path.relative_to(folder)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=str(path))
        except SyntaxError as e:
            found.append(f"{where}:{e.lineno}: does not parse ({e.msg})")
            continue
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        aliases[a.asname] = a.name
                    else:
                        aliases[a.name.split(".")[0]] = a.name.split(".")[0]
                    why = _forbidden(a.name) if a.name.startswith(("torch.autograd", "torch.func")) else None
                    if why:
                        found.append(f"{where}:{node.lineno}: {why}")
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    aliases[a.asname or a.name] = full
                    why = _forbidden(full)
                    if why and full not in ("torch.nn", "torch.nn.functional"):
                        found.append(f"{where}:{node.lineno}: {why}")

        def resolve(dotted: str, aliases: dict = aliases) -> str:
            head, _, rest = dotted.partition(".")
            base = aliases.get(head, head)
            return f"{base}.{rest}" if rest else base

        inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        for node in ast.walk(tree):
            why = None
            if isinstance(node, ast.Attribute) and id(node) not in inner:
                dotted = _dotted(node)
                why = _forbidden(resolve(dotted)) if dotted else None
            elif isinstance(node, ast.Call):
                func = _dotted(node.func) if isinstance(node.func, ast.Attribute | ast.Name) else None
                if func and resolve(func) in GRAD_OFF and resolve(func).endswith("set_grad_enabled"):
                    if not (node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value is False):
                        why = "switches autograd on (torch.set_grad_enabled)"
                if isinstance(node.func, ast.Attribute) and node.func.attr == "requires_grad_":
                    if not (node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value is False):
                        why = "asks autograd for gradients (requires_grad_)"
                for k in node.keywords:
                    if k.arg == "requires_grad" and not (isinstance(k.value, ast.Constant) and k.value.value is False):
                        why = "asks autograd for gradients (requires_grad=...)"
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Attribute) and t.attr == "requires_grad":
                        why = "asks autograd for gradients (.requires_grad = ...)"
            if why:
                found.append(f"{where}:{node.lineno}: {why}")
    return sorted(set(found), key=lambda s: (s.split(":")[0], int(s.split(":")[1])))


def grade_rules(package: Package) -> list[TierResult]:
    """The rule: no autograd and no torch.nn, in the source and while the code runs."""
    import torch

    objects = package.objects
    needed = ("Linear", "Sequential", "LossMSE", "SGD")
    missing = [n for n in needed if n not in objects]
    if missing:
        return [TierResult("exists", False, f"the rule is checked on training steps, which need {', '.join(missing)}")]
    tiers = [TierResult("exists", True)]
    problems = scan_rules(package.folder)
    # a training step, autograd off and its entry points refused
    x = torch.rand(16, 2, dtype=torch.float64)
    target = torch.rand(16, 2, dtype=torch.float64)
    acts = [a for a in ("ReLU", "Tanh") if a in objects]
    try:
        with student("a training step"):
            layers = [objects["Linear"](2, 8)]
            for a in acts:
                layers += [objects[a](), objects["Linear"](8, 8)]
            layers.append(objects["Linear"](8, 2))
            try:
                model = objects["Sequential"](*layers)
            except TypeError:
                model = objects["Sequential"](layers)
            criterion = objects["LossMSE"]()
            optimizer = _make_sgd(objects["SGD"], model, 0.01)
            for _ in range(2):
                prediction = model.forward(x)
                criterion.forward(prediction, target)
                _zero_grads(optimizer, model)
                model.backward(_loss_backward(criterion, prediction, target))
                optimizer.step()
            for p, _ in model.param():
                if p.requires_grad:
                    problems.append("the parameters require gradients (requires_grad): autograd would track them")
                    break
    except AutogradUsed:
        pass  # recorded below
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        problems.append(f"a training step under torch.set_grad_enabled(False) raised {_short(e)}")
    did = [f"{what} (in {', '.join(dict.fromkeys(where))})" for what, where in _State.violations.items()]
    problems = did + problems  # what it did first, then what its source says
    if problems:
        more = f" (and {len(problems) - 6} more)" if len(problems) > 6 else ""
        return tiers + [TierResult(RULES_TIER, False, "; ".join(problems[:6]) + more)]
    return tiers + [TierResult(RULES_TIER, True)]


# -- the worker: digit pairs ---------------------------------------------------------------------


def _pair_logits(output: Any):
    import torch

    logits = output[0] if isinstance(output, tuple | list) and output else output
    if not isinstance(logits, torch.Tensor):
        raise Mismatch(
            f"the model must return the pair logits (a tensor), or a tuple whose first item they are; "
            f"got {type(logits).__name__}"
        )
    return logits


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)  # a shared tensor counts once


def grade_build(build_model: Any, say) -> list[TierResult]:
    import torch

    tiers = [TierResult("exists", True)]
    torch.manual_seed(0)
    try:
        model = build_model()
        if not isinstance(model, torch.nn.Module):
            return tiers + [
                TierResult("runs", False, f"build_model() must return a torch.nn.Module, got {type(model).__name__}")
            ]
        model.eval()
        with torch.no_grad():
            output = model(torch.randn(5, 2, 14, 14))
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        return tiers + [TierResult("runs", False, f"building the model and running it on 5 pairs: raised {_short(e)}")]
    tiers.append(TierResult("runs", True))
    try:
        logits = _pair_logits(output)
        if tuple(logits.shape) != (5, 2):
            raise Mismatch(
                f"on pairs of shape (5, 2, 14, 14), expected pair logits of shape (5, 2), got {tuple(logits.shape)}"
            )
    except Mismatch as e:
        return tiers + [TierResult("shape", False, str(e))]
    n = _count(model)
    say(f"build_model: {n:,} parameters")
    low, high = PARAMS_RANGE
    if not low <= n <= high:
        return tiers + [
            TierResult(
                "shape",
                False,
                f"the model has {n:,} parameters; the project asks for about {TARGET_PARAMS:,} ({low:,} to {high:,})",
            )
        ]
    return tiers + [TierResult("shape", True, f"{n:,} parameters")]


def _test_error(model, x, y) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        logits = _pair_logits(model(x))
    return float((logits.argmax(1) != y).double().mean())


def grade_training(objects: dict, rounds: int, pairs: int, say, emit, tick) -> None:
    """train_model's tiers: "runs" after the first round, "learns" after them all (emitted
    as they come, each round a progress line). ``tick()`` starts a new time limit: each
    training (the student's, then the baseline's) has one."""
    import statistics

    import torch

    from dlc import prologue
    from dlc.exercise.reference.digit_pairs import train_model as reference_train
    from dlc.models.pairs import PairConvNet
    from dlc.stats import standardize

    emit(TierResult("exists", True))
    if "build_model" not in objects:
        emit(TierResult("runs", False, "train_model needs build_model, to make a fresh model each round"))
        return
    build_model, train_model = objects["build_model"], objects["train_model"]
    errors, baseline, chance = [], [], []
    for r in range(rounds):
        seed = 1000 + r
        torch.manual_seed(seed)
        tr_x, tr_y, tr_c, te_x, te_y, te_c = prologue.generate_pair_sets(pairs)
        tr_x, te_x = standardize(tr_x, te_x)
        majority = int(tr_y.double().mean() >= 0.5)
        chance.append(float((te_y != majority).double().mean()))
        torch.manual_seed(seed)
        try:
            t0 = time.perf_counter()
            model = build_model()
            before = [p.detach().clone() for p in model.parameters()]
            train_model(model, tr_x.clone(), tr_y.clone(), tr_c.clone())
            seconds = time.perf_counter() - t0
            if before and all(torch.equal(a, p.detach()) for a, p in zip(before, model.parameters(), strict=False)):
                raise Mismatch("train_model left every parameter of the model unchanged")
            errors.append(_test_error(model, te_x, te_y))
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            tier = "runs" if r == 0 else "learns"
            emit(
                TierResult(
                    tier,
                    False,
                    f"round {r + 1}: {e}" if isinstance(e, Mismatch) else f"round {r + 1}: raised {_short(e)}",
                )
            )
            return
        if r == 0:
            emit(TierResult("runs", True, f"{seconds:.1f} s per training"))
        tick()
        torch.manual_seed(seed)
        plain = PairConvNet()
        reference_train(plain, tr_x, tr_y, tr_c)
        baseline.append(_test_error(plain, te_x, te_y))
        say(
            f"round {r + 1}/{rounds}: test error {errors[-1]:.1%} ({seconds:.1f} s), "
            f"dlc's plain convnet {baseline[-1]:.1%}, majority-answer error {chance[-1]:.1%}"
        )

    def mean_std(v: list[float]) -> str:
        return f"{statistics.mean(v):.1%} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.1%}"

    mean, base, luck = statistics.mean(errors), statistics.mean(baseline), statistics.mean(chance)
    line = (
        f"test error {mean_std(errors)} over {rounds} rounds of {pairs} pairs; dlc's plain convnet "
        f"{mean_std(baseline)}; majority-answer error {luck:.1%}"
    )
    say(line)
    if 1 - mean <= 1 - luck + CHANCE_MARGIN:
        why = f"the accuracy must beat the majority answer's by {CHANCE_MARGIN:.0%}"
        emit(TierResult("learns", False, f"{line}: {why}"))
    elif mean >= base:
        why = "not better than the plain convnet (try weight sharing, an auxiliary loss)"
        emit(TierResult("learns", False, f"{line}: {why}"))
    else:
        emit(TierResult("learns", True, line))


# -- the worker's main -----------------------------------------------------------------------------


def grade_task(kind: str, name: str, package: Package, names: dict, generator, quick: bool, send) -> None:
    """Grade one task, sending each tier as it is decided."""

    sent: list[str] = []

    def tiers(results: list[TierResult]) -> None:
        for t in results:
            if t.tier not in sent:  # "exists" may have gone first
                sent.append(t.tier)
                send(task=name, tier=t.__dict__)

    def say(text: str) -> None:
        send(progress=text)

    objects = package.objects
    if name in objects and name != "train_model":  # so that a time limit is charged to the tier after it
        tiers([TierResult("exists", True)])
    if name in names and name not in objects:
        wanted = " or ".join(names[name])
        tiers([TierResult("exists", False, f"define {wanted} in the package (none of its files has it)")])
    elif name == "disc scenario":
        tiers(grade_scenario(objects, QUICK_EPOCHS if quick else SCENARIO["epochs"], say))
    elif name == "autograd off":
        tiers(grade_rules(package))
    elif name == "LossMSE":
        tiers(grade_loss(objects[name], generator))
    elif name == "SGD":
        tiers(grade_sgd(objects[name], generator))
    elif name == "build_model":
        tiers(grade_build(objects[name], say))
    elif name == "train_model":
        rounds, pairs = (QUICK_ROUNDS, QUICK_PAIRS) if quick else (ROUNDS, PAIRS)
        grade_training(objects, rounds, pairs, say, lambda t: tiers([t]), lambda: send(tick=True))
    else:
        specs = _conv_optional_stride(name, objects[name], _module_specs(name, generator))
        tiers(grade_module(name, objects[name], specs, generator))


def _protocol() -> Any:
    """The channel to the parent (the real stdout); what the student's code prints goes
    to a scratch file instead, so that it cannot block the pipes or fake a message."""
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    scratch = tempfile.TemporaryFile()
    os.dup2(scratch.fileno(), 1)
    os.dup2(scratch.fileno(), 2)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    return channel


class Watchdog:
    """The time limit of one task, kept inside the worker: a thread that ends the process
    when the student's code runs past it (even a ``while True: pass``), after telling the
    parent. The worker's start-up (importing torch) is not counted."""

    def __init__(self, seconds: float, send):
        import threading

        self.seconds, self.send, self.deadline = seconds, send, None
        threading.Thread(target=self._watch, daemon=True).start()

    def arm(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def _watch(self) -> None:
        while True:
            time.sleep(0.1)
            if self.deadline is not None and time.monotonic() > self.deadline:
                limit = f"{self.seconds:.0f} s"
                self.send(stopped=f"stopped after the time limit of {limit} (an endless loop, or far too slow)")
                os._exit(3)


def _worker(argv: list[str]) -> int:
    """python -m dlc.exercise.miniprojects KIND FOLDER SECONDS [--quick] [TASK ...]: JSON lines."""
    import threading

    kind, folder, seconds, *rest = argv
    quick = "--quick" in rest
    chosen = [n for n in rest if n != "--quick"]
    channel = _protocol()
    lock = threading.Lock()
    watchdog = None

    def send(**message) -> None:
        with lock:
            channel.write(json.dumps(message) + "\n")
            channel.flush()
        if watchdog is not None and ("progress" in message or "start" in message or "tick" in message):
            watchdog.arm()  # each task, and each round of a long one, has the time limit

    try:
        import torch

        watchdog = Watchdog(float(seconds), send)
        watchdog.arm()  # importing the student's package

        torch.set_num_threads(1)  # small tensors; and the machine may be shared
        project = PROJECTS[kind]
        generator = torch.Generator().manual_seed(0)
        if kind == "mini-framework":
            torch.set_default_dtype(torch.float64)  # the student's torch.empty(...) parameters: float64
            install_traps()
            names = {n: ALIASES.get(n, (n,)) for n in (*REQUIRED_MODULES, *OPTIONAL_MODULES)}
        else:
            names = {n: (n,) for n in PAIRS_TASKS}
        package = load_package(Path(folder), names)
        modules = [n for n in project.required if n in names]  # then the optional ones, then the rest
        tasks = modules + [n for n in project.optional if n in package.objects]
        tasks += [n for n in project.required if n not in modules]
        send(tasks=tasks, problems=package.problems)
        for name in chosen or tasks:
            send(start=name)
            grade_task(kind, name, package, names, generator, quick, send)
            send(done=name)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        where = traceback.extract_tb(e.__traceback__)[-1]
        send(fatal=f"{_short(e)} (at {Path(where.filename).name}:{where.lineno})")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_worker(sys.argv[1:]))
