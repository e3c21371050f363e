"""Checkpoint files: written atomically, read back safely, tied to their run.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads
with ``torch.load(weights_only=True)``: loading a checkpoint never runs pickled code (a
file that would is refused). It is written to a temporary file in the same folder and
renamed over the old one (``os.replace`` is atomic), so a run killed while saving
leaves the previous checkpoint intact, never half a file. Before it is unpickled, every
part of the file is checked against the CRC-32 that the zip archive of ``torch.save``
stores: torch itself does not check them, and a flipped bit would otherwise load as a
silently different weight.

A resumable checkpoint (``last``) says whose it is, and :func:`check_resumable`
refuses one that is not this run's::

    format, version     "dlc-checkpoint", VERSION (the layout of this dict)
    identity.lab        the lab that wrote it
    identity.run_id     the run folder's id (config.json "run_id", made with the folder):
                        a checkpoint copied from another run folder is refused
    identity.options    the lab's Config fields except ``epochs``, and the seed, with
    identity.seed       their hash (config_hash): a checkpoint of other options is refused
    name, fit           which fit of the run (``fit(name=...)`` and its rank among fits)

``epochs`` is deliberately not part of the identity: resuming a run with more epochs
trains it further (a finished run too). A fit cannot go back, though (a checkpoint
beyond the asked epochs is refused), and a fit with a learning-rate schedule cannot be
lengthened (the schedule was laid out over the original length).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlc.errors import DlcError
from dlc.io import jsonable, write_atomic

FORMAT = "dlc-checkpoint"
VERSION = 3
#: Config fields that a resumed run may change: training further is not another run.
EXTENSIBLE = ("epochs",)


def save(obj: dict, path: str | Path) -> Path:
    """Write ``obj`` to ``path`` atomically: killing the process at any moment leaves
    either the old or the new file. (No fsync: surviving a power cut is not the aim.)

    The checkpoint is serialised in memory first, then written: torch.save turns an
    exception raised inside its writes (Ctrl-C, a full disk) into a RuntimeError that
    names neither, and the size is then known for the message of a full disk."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_atomic(path, buffer.getbuffer())


_REMEDY = "move it away (or delete it) to start that part of the run again"


def load(path: str | Path, map_location: Any = "cpu") -> Any:
    """Read a checkpoint written by :func:`save`, without executing any pickled code;
    a damaged, truncated or foreign file is a :class:`DlcError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DlcError(f"no checkpoint at {path}")
    _check_archive(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever torch raises for a file it cannot read
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        if "weights only" in str(e).lower() or "weights_only" in str(e):
            raise DlcError(
                f"refused to load {path}: it holds Python objects that a dlc checkpoint never holds, "
                f"and unpickling them could run arbitrary code, so it was not loaded ({first}); "
                f"if you did not make this file yourself, delete it"
            ) from None
        raise DlcError(f"cannot read the checkpoint {path} ({type(e).__name__}: {first}); {_REMEDY}") from None


def _check_archive(path: Path) -> None:
    """The file is a complete zip archive (what torch.save writes) whose every member
    matches its CRC-32."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except Exception as e:  # noqa: BLE001 - BadZipFile, EOFError, zlib.error, OSError, ...
        raise DlcError(
            f"cannot read the checkpoint {path}: it is truncated, damaged or not a file torch.save wrote "
            f"({type(e).__name__}: {e}); {_REMEDY}"
        ) from None
    if bad is not None:
        raise DlcError(
            f"cannot read the checkpoint {path}: it is damaged (its part {bad!r} does not match its "
            f"checksum); {_REMEDY}"
        )


# -- whose checkpoint -------------------------------------------------------------------


def options_of(config: Any) -> dict:
    """The Config fields that make a run what it is (all but :data:`EXTENSIBLE`), as
    JSON values (so that a tuple and the list config.json holds compare equal)."""
    import dataclasses

    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        fields = dataclasses.asdict(config)
    elif isinstance(config, dict):
        fields = dict(config)
    elif config is None:
        fields = {}
    else:
        fields = {"repr": repr(config)}
    fields = {k: v for k, v in fields.items() if k not in EXTENSIBLE}
    return json.loads(json.dumps(fields, default=jsonable, sort_keys=True))


def identity(lab: str, run_id: str | None, run_dir: Any, config: Any, seed: int) -> dict:
    """What a resumable checkpoint records about its run (see the module's docstring)."""
    options = options_of(config)
    digest = hashlib.sha256(json.dumps({"options": options, "seed": seed}, sort_keys=True).encode()).hexdigest()
    return {
        "lab": lab,
        "run_id": run_id,
        "run_dir": str(run_dir) if run_dir is not None else None,
        "seed": seed,
        "options": options,
        "config_hash": digest[:16],
    }


# the keys of a resumable checkpoint and their types (None: may be None)
_KEYS: dict[str, tuple] = {
    "identity": (dict,),
    "name": (str, type(None)),
    "fit": (int,),
    "epoch": (int,),
    "batch": (int,),
    "step": (int,),
    "epochs": (int,),
    "samples_seen": (int,),
    "order_seed": (int,),
    "should_stop": (bool,),
    "step_state": (dict,),
    "callbacks": (dict,),
    "history": (list,),
    "keys": (list, type(None)),
    "sums": (list,),
    "count": (list,),
    "epoch_time": (float, int),
    "lr": (float, int, type(None)),
    "rng": (list,),
    "log_position": (int,),
}


def _differences(saved: dict, here: dict) -> str:
    keys = sorted(set(saved) | set(here))
    diff = [f"{k}={saved.get(k, '(none)')!r} there, {here.get(k, '(none)')!r} here" for k in keys]
    diff = [d for k, d in zip(keys, diff) if saved.get(k, "(none)") != here.get(k, "(none)")]
    return "; ".join(diff[:6]) + ("; ..." if len(diff) > 6 else "")


def check_resumable(
    state: Any, path: str | Path, expected: dict | None, name: str | None = None, fit: int | None = None
) -> dict:
    """``state`` (what :func:`load` read from ``path``) if it is a resumable checkpoint of
    the run ``expected`` (an :func:`identity`; None: any run), and of the fit
    ``name``/``fit`` when given; else a :class:`DlcError` that names both sides."""
    where = f"cannot resume from {path}"
    if not isinstance(state, dict):
        raise DlcError(f"{where}: it is not a dlc checkpoint (it holds a {type(state).__name__}); {_REMEDY}")
    if state.get("format") != FORMAT or "version" not in state:
        if state.get("version") == 2 and "step_state" in state:
            raise DlcError(
                f"{where}: it was written by an older dlc (checkpoint format 2, which does not say "
                f"whose run it is); this dlc resumes format {VERSION} only: start a new run"
            )
        keys = ", ".join(sorted(map(str, state))[:8]) or "nothing"
        raise DlcError(f"{where}: it is not a resumable dlc checkpoint (it holds {keys}); {_REMEDY}")
    if state["version"] != VERSION:
        raise DlcError(
            f"{where}: it is in checkpoint format {state['version']!r}, this dlc reads format {VERSION}; "
            f"resume it with the dlc that wrote it, or start a new run"
        )
    for key, types in _KEYS.items():
        if key not in state:
            raise DlcError(f"{where}: it is damaged (it has no {key!r}); {_REMEDY}")
        value = state[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise DlcError(f"{where}: it is damaged ({key!r} is a {type(value).__name__}); {_REMEDY}")
    saved = state["identity"]
    if expected is not None:
        lab, other = expected.get("lab"), saved.get("lab")
        if other != lab:
            raise DlcError(
                f"{where}: that checkpoint belongs to a run of {other!r} (run folder "
                f"{saved.get('run_dir')}), not to this run of {lab!r} ({expected.get('run_dir')}); "
                f"a checkpoint resumes only the run that wrote it"
            )
        if saved.get("run_id") != expected.get("run_id"):
            raise DlcError(
                f"{where}: that checkpoint belongs to another run of {lab!r} (run {saved.get('run_id')}, "
                f"written in {saved.get('run_dir')}), not to this run folder (run {expected.get('run_id')}, "
                f"{expected.get('run_dir')}); a checkpoint resumes only the run that wrote it: "
                f"resume that run folder instead"
            )
        if saved.get("config_hash") != expected.get("config_hash"):
            here = {**expected.get("options", {}), "seed": expected.get("seed")}
            there = {**(saved.get("options") or {}), "seed": saved.get("seed")}
            raise DlcError(
                f"{where}: that checkpoint was written with other options ({_differences(there, here)}); "
                f"resume with the run's own options (only {', '.join(EXTENSIBLE)} may change)"
            )
    if name is not None or fit is not None:
        if (state["name"], state["fit"]) != (name, fit):
            raise DlcError(
                f"{where}: it is the checkpoint of fit {state['name']!r} #{state['fit']} of its run, "
                f"not of fit {name!r} #{fit}; {_REMEDY}"
            )
    return state


def load_resumable(path: str | Path, expected: dict | None, name: str | None = None, fit: int | None = None) -> dict:
    """:func:`load`, then :func:`check_resumable`."""
    return check_resumable(load(path), path, expected, name, fit)


# -- random states ------------------------------------------------------------------
# numpy's state holds an ndarray, Python's a tuple of ints: both are converted to
# tensors and lists so that the checkpoint stays loadable with weights_only=True.


def rng_state() -> dict:
    """The random states of torch (CPU and CUDA), NumPy and Python."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def find(run_dir: str | Path) -> list[Path]:
    """The resumable ('last') checkpoints of a run folder."""
    d = Path(run_dir) / "checkpoints"
    return sorted(d.glob("*last*.pt")) if d.is_dir() else []


def resume_log_position(run_dir: str | Path, expected: dict | None = None) -> int:
    """How many metrics records the latest checkpoint of a run folder had seen (0: none);
    every checkpoint must be one of the run ``expected`` (else a :class:`DlcError`)."""
    return max((load_resumable(p, expected)["log_position"] for p in find(run_dir)), default=0)
