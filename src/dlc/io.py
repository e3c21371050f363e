"""Writing files so that nothing is ever half-written.

Every file dlc writes (configs, summaries, checkpoints, caches, figures, tables) goes
through :func:`write_atomic`: the content is written to a hidden temporary file in the
same folder, then renamed over the target (``os.replace`` is atomic on one file system).
A reader sees the old file or the new one, never a mix, and a failed write removes its
temporary file, so nothing is left behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_atomic(path: str | Path, content: bytes | str | Callable[[IO[bytes]], Any]) -> Path:
    """Write ``content`` (bytes, text, or a function that writes to a binary file) to
    ``path`` atomically; creates the parent folder. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(tmp, path)
    except BaseException:  # also Ctrl-C: the temporary file must not stay behind
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """``obj`` as indented JSON (paths, numpy and one-element tensors as plain values)."""
    return write_atomic(path, json.dumps(obj, indent=2, default=jsonable) + "\n")


def jsonable(o: Any) -> Any:
    """The ``default`` hook for ``json.dumps``: plain values for what JSON does not know."""
    import dataclasses

    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):  # numpy scalars, one-element arrays and tensors
        try:
            return o.item()
        except (ValueError, RuntimeError):
            pass
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    return repr(o)


def user_cache_dir() -> Path:
    """The per-user cache: $DLC_CACHE_DIR, else $XDG_CACHE_HOME/dlc, else ~/.cache/dlc."""
    if os.environ.get("DLC_CACHE_DIR"):
        return Path(os.environ["DLC_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "dlc"
    return Path.home() / ".cache" / "dlc"
