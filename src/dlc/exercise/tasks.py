"""What a lab's tasks are, and the tiers a student's answer is graded in.

A lab declares its tasks at the end of its module::

    TASKS = [
        Task("train_perceptron", hint="on a mistake, add y_n x_n to w and y_n to b",
             cases=lambda g: [(torch.randn(20, 2, generator=g, dtype=torch.float64), ...)],
             call=lambda f, x, y: f(x, y, 10)[:2]),
    ]

Each task names the top-level function or class the student writes (the one holding a
solution region). The grader calls the student's object and dlc's own on the same
seeded inputs (``cases``) and goes through the tiers in order, stopping at the first
that fails: it exists -> it runs (the stub no longer raises) -> its output has the
right type and shape -> its values equal the reference's -> its gradients equal
torch.autograd's (``grad``) -> the lab, run at ``--tiny`` with the student's code,
passes its own check (graded once per lab, see :mod:`dlc.exercise.grade`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TIERS = ("exists", "runs", "shape", "values", "gradient")
TIER_TITLES = {
    "exists": "it is defined",
    "runs": "it runs",
    "shape": "right type and shape",
    "values": "values equal the reference",
    "gradient": "gradients equal torch.autograd's",
    "rules": "follows the project's rules (no autograd, no torch.nn)",
    "learns": "it learns: the lab's (or project's) check passes with your code",
}


@dataclass
class Task:
    """One exercise of a lab: the student's function or class ``name``."""

    name: str
    hint: str  # what to do, said shortly: shown when a tier fails
    cases: Callable[[Any], list[tuple]] | None = None  # generator -> list of argument tuples
    call: Callable[..., Any] | None = None  # (obj, *args) -> output to compare; default obj(*args)
    build: Callable[[type], Any] | None = None  # a class task: how to make an instance (seeded the same for both)
    grad: bool | Callable[..., Any] = False  # True: gradients of the output w.r.t. the float inputs (and a
    # module's parameters) compared with the reference's, by autograd in float64; a function
    # (obj, *args) -> gradients the student's code computed itself, compared with ``autograd``'s
    autograd: Callable[..., Any] | None = None  # (*args) -> the torch.autograd gradients, for a callable ``grad``
    rtol: float = 1e-5
    atol: float = 1e-7
    seed: int = 0
    learns: bool = True  # whether the lab's --tiny run with this task's code takes part
    notes: dict = field(default_factory=dict)


@dataclass
class TierResult:
    tier: str
    passed: bool
    message: str = ""


class Mismatch(Exception):
    """A comparison that failed: what was expected, what came."""


# -- comparing outputs ---------------------------------------------------------------------


def _kind(x: Any) -> str:
    import torch

    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {str(x.dtype).replace('torch.', '')}"
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, int | float):
        return "number"
    if isinstance(x, tuple | list):
        return f"{type(x).__name__} of {len(x)}"
    if isinstance(x, dict):
        return f"dict with keys {sorted(map(str, x))}"
    return type(x).__name__


def _numbers_like(x: Any) -> bool:
    import torch

    return isinstance(x, int | float) and not isinstance(x, bool) or (isinstance(x, torch.Tensor) and x.dim() == 0)


def compare_structure(got: Any, want: Any, where: str = "output") -> None:
    """Same types, lengths, keys, shapes and dtypes (a 0-d tensor and a number are one kind)."""
    import torch

    if _numbers_like(got) and _numbers_like(want):
        return
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            raise Mismatch(f"{where}: expected a {_kind(want)}, got {_kind(got)}")
        if got.shape != want.shape:
            raise Mismatch(f"{where}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}")
        if got.dtype.is_floating_point != want.dtype.is_floating_point or got.dtype == torch.bool != (
            want.dtype == torch.bool
        ):
            raise Mismatch(f"{where}: expected dtype {want.dtype}, got {got.dtype}")
        return
    if isinstance(want, tuple | list):
        if not isinstance(got, tuple | list) or len(got) != len(want):
            raise Mismatch(f"{where}: expected a {_kind(want)}, got {_kind(got)}")
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            compare_structure(g, w, f"{where}[{i}]")
        return
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            raise Mismatch(f"{where}: expected a {_kind(want)}, got {_kind(got)}")
        for k in want:
            compare_structure(got[k], want[k], f"{where}[{k!r}]")
        return
    if type(got) is not type(want):
        raise Mismatch(f"{where}: expected a {_kind(want)}, got {_kind(got)}")


def compare_values(got: Any, want: Any, rtol: float, atol: float, where: str = "output") -> None:
    import torch

    if isinstance(want, tuple | list):
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            compare_values(g, w, rtol, atol, f"{where}[{i}]")
        return
    if isinstance(want, dict):
        for k in want:
            compare_values(got[k], want[k], rtol, atol, f"{where}[{k!r}]")
        return
    if isinstance(want, torch.Tensor) or isinstance(got, torch.Tensor) or _numbers_like(want):
        g = torch.as_tensor(got).detach().double().cpu()
        w = torch.as_tensor(want).detach().double().cpu()
        if g.shape != w.shape:
            raise Mismatch(f"{where}: expected shape {tuple(w.shape)}, got {tuple(g.shape)}")
        if not torch.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
            bad = ~torch.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
            i = tuple(int(j) for j in bad.nonzero()[0]) if g.dim() else ()
            at = f" at index {list(i)}" if i else ""
            raise Mismatch(
                f"{where}{at}: expected {w[i].item():.6g}, got {g[i].item():.6g} "
                f"({int(bad.sum())} of {max(w.numel(), 1)} values differ)"
            )
        return
    if got != want and not (isinstance(want, float) and math.isnan(want) and math.isnan(got)):
        raise Mismatch(f"{where}: expected {want!r}, got {got!r}")


# -- the tiers of one task ------------------------------------------------------------------


def _clone(x: Any) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, torch.nn.Module):  # the reference and the student each get their own copy
        import copy

        return copy.deepcopy(x)
    if isinstance(x, tuple | list):
        return type(x)(_clone(v) for v in x)
    if isinstance(x, dict):
        return {k: _clone(v) for k, v in x.items()}
    return x


def _float_leaves(args: tuple) -> tuple[tuple, list]:
    """Arguments with every floating tensor a float64 leaf that requires grad."""
    import torch

    leaves: list = []

    def go(x):
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            t = x.detach().double().requires_grad_(True)
            leaves.append(t)
            return t
        if isinstance(x, tuple | list):
            return type(x)(go(v) for v in x)
        return x

    return tuple(go(a) for a in args), leaves


def _flat_tensors(x: Any) -> list:
    import torch

    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, tuple | list):
        return [t for v in x for t in _flat_tensors(v)]
    if isinstance(x, dict):
        return [t for k in sorted(x, key=str) for t in _flat_tensors(x[k])]
    return []


class Grader:
    """Grade one task: the student's object against dlc's own (both already loaded)."""

    def __init__(self, task: Task, reference: Any):
        self.task = task
        self.reference = reference

    def _instance(self, obj: Any, like: Any | None = None) -> Any:
        import torch

        if not inspect.isclass(obj) or self.task.build is None:
            return obj
        torch.manual_seed(self.task.seed)
        made = self.task.build(obj)
        if like is not None and isinstance(made, torch.nn.Module):
            try:  # the same weights as the reference where the student kept its structure
                made.load_state_dict(like.state_dict())
            except (RuntimeError, KeyError):
                pass
        if isinstance(made, torch.nn.Module):
            made.double()
        return made

    def _call(self, obj: Any, args: tuple) -> Any:
        import torch

        torch.manual_seed(self.task.seed)  # the same random draws for both, if the code draws any
        args = _clone(args)
        return self.task.call(obj, *args) if self.task.call else obj(*args)

    def _cases(self) -> list[tuple]:
        import torch

        if self.task.cases is None:
            return []
        g = torch.Generator().manual_seed(self.task.seed)
        return [tuple(c) for c in self.task.cases(g)]

    def grade(self, student: Any) -> list[TierResult]:
        """The tiers, in order, up to the first failure (the rest are not reached)."""
        task = self.task
        results = []
        if student is None:
            return [TierResult("exists", False, f"define `{task.name}` (the task's function or class)")]
        if inspect.isclass(self.reference) != inspect.isclass(student) or not callable(student):
            want = "a class" if inspect.isclass(self.reference) else "a function"
            return [TierResult("exists", False, f"`{task.name}` must be {want}, got {type(student).__name__}")]
        results.append(TierResult("exists", True))
        ref_obj = self._instance(self.reference)
        try:
            stu_obj = self._instance(student, ref_obj)
        except Exception as e:  # noqa: BLE001 (a student's code may raise anything)
            return results + [_raised("runs", e, "building it", task.name)]
        cases = self._cases()
        outputs = []
        for i, args in enumerate(cases):
            want = self._call(ref_obj, args)
            try:
                got = self._call(stu_obj, args)
            except Exception as e:  # noqa: BLE001 (a student's code may raise anything)
                return results + [_raised("runs", e, f"case {i + 1}", task.name)]
            outputs.append((got, want))
        results.append(TierResult("runs", True))
        if not cases:
            return results
        for tier, compare in (
            ("shape", lambda g, w, i: compare_structure(g, w, f"case {i + 1}")),
            ("values", lambda g, w, i: compare_values(g, w, task.rtol, task.atol, f"case {i + 1}")),
        ):
            try:
                for i, (got, want) in enumerate(outputs):
                    compare(got, want, i)
            except Mismatch as e:
                return results + [TierResult(tier, False, str(e))]
            results.append(TierResult(tier, True))
        if task.grad:
            try:
                self._gradients(stu_obj, ref_obj, cases)
            except Mismatch as e:
                return results + [TierResult("gradient", False, str(e))]
            except Exception as e:  # noqa: BLE001 (a student's code may raise anything)
                return results + [_raised("gradient", e, "computing gradients", task.name)]
            results.append(TierResult("gradient", True))
        return results

    def _gradients(self, stu_obj: Any, ref_obj: Any, cases: list[tuple]) -> None:
        import torch

        task = self.task
        for i, args in enumerate(cases):
            if callable(task.grad):  # the student's own backward against autograd
                torch.manual_seed(task.seed)
                got = task.grad(stu_obj, *_clone(args))
                torch.manual_seed(task.seed)
                want = task.autograd(*_clone(args))
                compare_values(got, want, task.rtol, task.atol, f"case {i + 1}, gradient")
                continue
            grads = []
            for obj in (stu_obj, ref_obj):
                leaf_args, leaves = _float_leaves(args)
                params = [p for p in obj.parameters()] if isinstance(obj, torch.nn.Module) else []
                for p in params:
                    p.grad = None
                torch.manual_seed(task.seed)
                out = task.call(obj, *leaf_args) if task.call else obj(*leaf_args)
                outs = [t for t in _flat_tensors(out) if t.requires_grad]
                if not outs:
                    raise Mismatch(f"case {i + 1}: the output does not depend on the inputs through autograd")
                g = torch.Generator().manual_seed(task.seed + 1)
                loss = sum((t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in outs)
                wrt = leaves + params
                grads.append(torch.autograd.grad(loss, wrt, allow_unused=True))
            for j, (a, b) in enumerate(zip(*grads, strict=True)):
                if a is None and b is not None and bool(b.ne(0).any()):
                    what = f"input {j + 1}" if j < len(leaves) else f"parameter {j + 1 - len(leaves)}"
                    raise Mismatch(
                        f"case {i + 1}: your output does not reach {what} through autograd "
                        f"(a .detach(), .item() or a new tensor on the way?)"
                    )
                a = torch.zeros(()) if a is None else a
                b = torch.zeros(()) if b is None else b
                compare_values(a, b, task.rtol, task.atol, f"case {i + 1}, gradient {j + 1}")


def _raised(tier: str, e: BaseException, when: str, task: str) -> TierResult:
    from dlc.exercise.regions import is_stub_error

    if is_stub_error(e):
        named = str(e).split()[3:4]
        if named and named[0] != task:  # it calls another task that is not written yet
            return TierResult(tier, False, f"needs the task `{named[0]}` first (its stub still raises)")
        return TierResult(tier, False, "not attempted: the stub still raises NotImplementedError")
    return TierResult(
        tier, False, f"{when}: raised {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
    )
