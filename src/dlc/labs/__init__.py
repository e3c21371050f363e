"""The lab registry.

A lab is a module in this package that registers its ``run`` function under its
CURRICULUM id with the :func:`lab` decorator::

    @dataclass
    class Config:
        lr: float = 0.1          # the source's own hyper-parameters
        epochs: int = 10
        TINY = {"epochs": 2}     # optional: what --tiny changes (unannotated, so not a field)
        THREADS = 1              # optional: small tensors run best on one intra-op thread

    @lab("lecture-convnet", source="EE-559 1.1", summary="...", config=Config)
    def run(cfg: Config, ctx: RunContext) -> Result: ...

There is no central list to edit. ``dlc list`` must not import torch, so the catalogue
is read from the lab modules' source with :mod:`ast` (the decorator's literal
arguments); the module itself is imported only when the lab is run.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

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
    run: Callable[..., "Result"]


@dataclass
class Result:
    """What a lab returns: the one-line result, the numbers behind it, its files."""

    line: str
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    run_dir: Path | None = None


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


def _literal_lab_calls(path: Path) -> list[LabInfo]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lab"):
            continue
        if not (node.args and isinstance(node.args[0], ast.Constant)):
            continue
        kw = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
        found.append(LabInfo(node.args[0].value, kw.get("source", ""), kw.get("summary", ""),
                             f"{__name__}.{path.stem}"))
    return found


def catalog() -> dict[str, LabInfo]:
    """Every lab, by id, read from the sources without importing them."""
    labs: dict[str, LabInfo] = {}
    for name in sorted(os.listdir(_HERE)):
        if name.startswith("_") or not name.endswith(".py"):
            continue
        for info in _literal_lab_calls(_HERE / name):
            if info.id in labs:
                raise RuntimeError(f"lab id {info.id!r} is registered twice: "
                                   f"{labs[info.id].module} and {info.module}")
            labs[info.id] = info
    return labs


class UnknownLab(LookupError):
    pass


def get(id: str) -> Lab:
    """Import the lab's module and return its registration."""
    infos = catalog()
    if id not in infos:
        import difflib

        close = difflib.get_close_matches(id, list(infos), n=4, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownLab(f"no lab called {id!r}.{hint} `dlc list` shows them all.")
    importlib.import_module(infos[id].module)
    return _REGISTRY[id]


def make_config(lab_: Lab, size: str = "default", **overrides: Any):
    """The lab's Config at a size ('tiny' | 'default' | 'full'), then explicit overrides.

    Size presets (the Config's TINY / FULL class attributes) apply first, so a value given
    on the command line always wins. A Config checks its options in ``__post_init__``
    (raising :class:`dlc.errors.DlcError`): this runs before the run folder is made, so a
    bad option stops the run with its message and leaves no folder behind.
    """
    cls = lab_.config
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(overrides) - names
    if unknown:
        raise TypeError(f"lab {lab_.info.id!r} has no option(s) {sorted(unknown)}; "
                        f"its options are {sorted(names)}")
    preset = dict(getattr(cls, size.upper(), {}) or {}) if size in ("tiny", "full") else {}
    return cls(**{**preset, **overrides})


def run_lab(id: str, *, size: str | None = None, seed: int | None = None,
            force_cpu: bool | None = None, data_dir: str | None = None,
            runs_dir: str | Path = "runs", quiet: bool = False,
            resume: str | Path | None = None, **overrides: Any) -> Result:
    """Run a lab as ``dlc run`` does, from Python (tests and notebooks use this).

    Defaults: size "default", seed 0, CUDA when available. Resuming (``resume=RUN_DIR``),
    the run's saved size, seed, device choice, data folder and options apply, except
    those given again here (e.g. more ``epochs``).
    """
    from dlc.engine.context import RunContext, saved_run_config

    lab_ = get(id)
    if resume is not None:
        saved = saved_run_config(Path(resume), lab_.info.id)
        fields = {f.name for f in dataclasses.fields(lab_.config)}
        overrides = {**{k: v for k, v in (saved.get("config") or {}).items() if k in fields},
                     **overrides}
        size = size or saved.get("size")
        seed = saved.get("seed") if seed is None else seed
        force_cpu = bool(saved.get("force_cpu")) if force_cpu is None else force_cpu
        data_dir = data_dir or saved.get("data_dir")
    size = size or "default"
    cfg = make_config(lab_, size, **overrides)
    with RunContext.open(lab_.info.id, cfg, size=size, seed=0 if seed is None else seed,
                         force_cpu=bool(force_cpu), data_dir=data_dir, runs_dir=runs_dir,
                         quiet=quiet, resume=resume) as ctx:
        result = lab_.run(cfg, ctx)
        ctx.finish(result)
    return result

