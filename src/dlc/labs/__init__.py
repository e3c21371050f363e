"""The lab registry, the run of a lab, and the check of its result.

A lab is a module in this package::

    @dataclass
    class Config:
        lr: float = 0.1            # the source's own hyper-parameters, each with a comment
        epochs: int = 10
        train_size: int | None = 1000   # data sizes: --tiny / --full set them (SIZE_PRESETS)
        test_size: int | None = 1000
        TINY = {"epochs": 2}       # optional: what else --tiny changes (unannotated: not a field)
        THREADS = 1                # optional: small tensors run best on one intra-op thread

    @lab("lecture-convnet", source="EE-559 1.1", summary="...", config=Config)
    def run(cfg: Config, ctx: RunContext) -> Result: ...

    def check(result: Result) -> list[Verdict]:
        return [verdict("test error below chance", result.metrics["test_error"], "<", 0.9)]

There is no central list to edit. ``dlc list`` must not import torch, so the catalogue
is read from the lab modules' source with :mod:`ast` (the decorator's literal
arguments) and kept in the user's cache, keyed by the files' sizes and modification
times; a lab module is imported only when the lab is run.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlc.errors import DlcError, UsageError
from dlc.sizes import SIZE_PRESETS, SIZES

_HERE = Path(__file__).parent


@dataclass(frozen=True)
class LabInfo:
    id: str
    source: str
    summary: str
    module: str


@dataclass
class Lab:
    info: LabInfo
    config: type
    run: Callable[..., Result]
    check: Callable[[Result], list[Verdict]] | None = None


@dataclass
class Verdict:
    """One measured claim of a lab: ``measured op threshold`` (e.g. 0.12 < 0.9)."""

    name: str
    measured: float
    op: str
    threshold: float
    passed: bool

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return f"[{'pass' if self.passed else 'FAIL'}] {self.name}: {self.measured:.4g} {self.op} {self.threshold:.4g}"


_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
}


def verdict(name: str, measured: float, op: str, threshold: float) -> Verdict:
    """Compare a measured number with its threshold; NaN never passes."""
    measured, threshold = float(measured), float(threshold)
    ok = not math.isnan(measured) and _OPS[op](measured, threshold)
    return Verdict(name, measured, op, threshold, bool(ok))


@dataclass
class Result:
    """What a lab returns: the one-line result, the numbers behind it, its files; and,
    once checked, the check's verdicts."""

    line: str
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    run_dir: Path | None = None
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)


_REGISTRY: dict[str, Lab] = {}


def lab(id: str, *, source: str, summary: str, config: type) -> Callable:
    """Register ``run(cfg, ctx) -> Result`` under ``id``; arguments must be literals."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"lab {id!r}: config must be a dataclass, got {config!r}")

    def register(fn: Callable) -> Callable:
        info = LabInfo(id, source, summary, fn.__module__)
        _REGISTRY[id] = Lab(info, config, fn)
        return fn

    return register


# -- the catalogue ---------------------------------------------------------------------


def _literal_lab_calls(path: Path) -> list[LabInfo]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lab"):
            continue
        if not (node.args and isinstance(node.args[0], ast.Constant)):
            continue
        kw = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
        found.append(
            LabInfo(node.args[0].value, kw.get("source", ""), kw.get("summary", ""), f"{__name__}.{path.stem}")
        )
    return found


def _lab_files(folder: Path) -> dict[str, list[int]]:
    """name -> [size, mtime_ns] of the lab modules: the key of the cached catalogue."""
    return {
        e.name: [e.stat().st_size, e.stat().st_mtime_ns]
        for e in os.scandir(folder)
        if e.name.endswith(".py") and not e.name.startswith("_")
    }


def catalog(folder: Path = _HERE) -> dict[str, LabInfo]:
    """Every lab, by id, read from the sources without importing them.

    Parsing every module costs a few ms a lab; the result is cached in the user's cache
    folder and used again while no lab file changed size or modification time.
    """
    import zlib

    from dlc.io import user_cache_dir, write_atomic

    files = _lab_files(folder)
    # one cache file per installed copy of dlc (a hash of its folder: stable across processes)
    cache = user_cache_dir() / "catalog" / f"{zlib.crc32(str(folder.resolve()).encode()):08x}.json"
    try:
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved["files"] == files and saved["folder"] == str(folder):
            return {d["id"]: LabInfo(**d) for d in saved["labs"]}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    labs: dict[str, LabInfo] = {}
    for name in sorted(files):
        for info in _literal_lab_calls(folder / name):
            if info.id in labs:
                raise RuntimeError(f"lab id {info.id!r} is registered twice: {labs[info.id].module} and {info.module}")
            labs[info.id] = info
    try:
        write_atomic(
            cache,
            json.dumps({"folder": str(folder), "files": files, "labs": [dataclasses.asdict(i) for i in labs.values()]}),
        )
    except OSError:
        pass  # a read-only home: the catalogue is simply read again next time
    return labs


class UnknownLab(UsageError, LookupError):
    pass


def get(id: str) -> Lab:
    """Import the lab's module and return its registration (with its check)."""
    infos = catalog()
    if id not in infos:
        import difflib

        close = difflib.get_close_matches(id, list(infos), n=4, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownLab(f"no lab called {id!r}.{hint} `dlc list` shows them all.")
    module = importlib.import_module(infos[id].module)
    registered = _REGISTRY[id]
    registered.check = getattr(module, "check", None)
    return registered


def load_file(path: str | Path) -> Lab:
    """A lab from a file: a student's copy of a lab module (``dlc run my_lab.py``). Its
    own ``run`` and ``check`` are used; dlc's registry is left as it was."""
    import importlib.util
    import sys

    from dlc.exercise.load import registry_kept

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no file {path}: `dlc run` takes a lab id (`dlc list`) or a lab file (.py)")
    name = f"dlc_student_{path.stem.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look the module up by name
    with registry_kept():
        spec.loader.exec_module(module)
        found = [r for r in _REGISTRY.values() if r.run.__module__ == name]
    if len(found) != 1:
        raise UsageError(f"{path} registers {len(found)} labs; a lab file has one `@lab(...)` function")
    found[0].check = getattr(module, "check", None)
    return found[0]


def _notebook_answers(lab_: Lab) -> dict[str, Any]:
    """The lab's tasks that the running notebook (or script) defines itself: the lab
    runs with them in place of its own."""
    import sys

    module = sys.modules.get(lab_.run.__module__)
    if module is None or module.__name__ == "__main__":
        return {}
    main = sys.modules.get("__main__")
    names = [t.name for t in getattr(module, "TASKS", [])]
    return {n: getattr(main, n) for n in names if getattr(getattr(main, n, None), "__module__", None) == "__main__"}


# -- configs ------------------------------------------------------------------------------


def make_config(lab_: Lab, size: str = "default", **overrides: Any):
    """The lab's Config at a size ('tiny' | 'default' | 'full'), then explicit overrides.

    The data sizes come from SIZE_PRESETS (for the fields the Config has), then the
    Config's own TINY / FULL presets, then the values given: a value given on the command
    line always wins. A Config checks its options in ``__post_init__``; any error there
    becomes a :class:`UsageError`, raised before the run folder is made.
    """
    if size not in SIZE_PRESETS:
        raise UsageError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    cls = lab_.config
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(overrides) - names
    if unknown:
        raise UsageError(
            f"lab {lab_.info.id!r} has no option(s) {', '.join(sorted(unknown))}; "
            f"its options are {', '.join(sorted(names))}"
        )
    preset = {k: v for k, v in SIZE_PRESETS[size].items() if k in names}
    if size != "default":
        preset.update(getattr(cls, size.upper(), {}) or {})
    from dlc.options import check_values, field_types

    values = check_values(lab_.info.id, field_types(cls), {**preset, **overrides})
    for k in SIZE_PRESETS["default"]:
        n = values.get(k)
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise UsageError(f"--{k} must be a positive number of samples, or 'all', got {n!r}")
    try:
        return cls(**values)
    except UsageError:
        raise
    except Exception as e:  # a DlcError of __post_init__, or a bad type reaching it
        raise UsageError(f"{lab_.info.id}: {e}") from e


# -- running ------------------------------------------------------------------------------


def run_lab(
    id: str,
    *,
    size: str | None = None,
    seed: int | None = None,
    force_cpu: bool | None = None,
    data_dir: str | None = None,
    runs_dir: str | Path = "runs",
    quiet: bool = False,
    resume: str | Path | None = None,
    **overrides: Any,
) -> Result:
    """Run a lab as ``dlc run`` does, from Python (tests and notebooks use this), and
    check its result (``result.verdicts``).

    Defaults: size "default", seed 0, CUDA when available. Resuming (``resume=RUN_DIR``),
    the run's saved size, seed, device choice, data folder and options apply, except
    those given again here (e.g. more ``epochs``).
    """
    from dlc.engine.context import RunContext, saved_run_config

    lab_ = load_file(id) if str(id).endswith(".py") else get(id)
    if resume is not None:
        saved = saved_run_config(Path(resume), lab_.info.id)
        fields = {f.name for f in dataclasses.fields(lab_.config)}
        overrides = {**{k: v for k, v in (saved.get("config") or {}).items() if k in fields}, **overrides}
        size = size or saved.get("size")
        seed = saved.get("seed") if seed is None else seed
        force_cpu = bool(saved.get("force_cpu")) if force_cpu is None else force_cpu
        data_dir = data_dir or saved.get("data_dir")
    size = size or "default"
    seed = 0 if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**63:
        raise UsageError(f"--seed must be a whole number below 2**63 (negative: no seeding), got {seed!r}")
    cfg = make_config(lab_, size, **overrides)
    yours = _notebook_answers(lab_)
    if yours and not quiet:
        print(f"{lab_.info.id}: with your {', '.join(yours)} (defined in this notebook or script)")
    from dlc.exercise.load import patched

    with (
        patched(importlib.import_module(lab_.run.__module__), yours),
        RunContext.open(
            lab_.info.id,
            cfg,
            size=size,
            seed=seed,
            force_cpu=bool(force_cpu),
            data_dir=data_dir,
            runs_dir=runs_dir,
            quiet=quiet,
            resume=resume,
        ) as ctx,
    ):
        try:
            result = lab_.run(cfg, ctx)
        except (MemoryError, RuntimeError) as e:
            if isinstance(e, RuntimeError) and not any(
                s in str(e) for s in ("can't allocate memory", "out of memory", "not enough memory")
            ):
                raise
            raise DlcError(
                f"{lab_.info.id} ran out of memory ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                f"ask for less: smaller data sizes (--train_size, --test_size, ...) or --batch_size"
            ) from e
        if lab_.check is not None:
            result.verdicts = list(lab_.check(result))
        ctx.finish(result)
    return result
