"""Where data sets live: the search roots, the folders inside them, the user cache.

Search order, first match wins: an explicit ``data_dir`` (``--data_dir``), then
``$PYTORCH_DATA_DIR``, then ``./data``. Inside each root a data set may sit in more than
one layout (torchvision's, the old EE-559 prologue's), so each data set names its
candidate sub-folders and ``find`` tries every (root, sub-folder) pair in order.
"""

from __future__ import annotations

import os
from pathlib import Path

from dlc.io import user_cache_dir  # noqa: F401  (re-exported for the data layer)


def roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for data, in order, without duplicates."""
    out: list[Path] = []
    for d in (data_dir, os.environ.get("PYTORCH_DATA_DIR") or None, "data"):
        if d is None:
            continue
        p = Path(d).expanduser()
        p = p if p.is_absolute() else Path.cwd() / p
        if p not in out:
            out.append(p)
    return out


def download_root(data_dir: str | os.PathLike | None = None) -> Path:
    """Where a download goes: the first search root (``data_dir``, else $PYTORCH_DATA_DIR, else ./data)."""
    return roots(data_dir)[0]


def candidates(subdirs: list[str], data_dir=None, extra: tuple[str, ...] = ()) -> list[Path]:
    """Every folder that may hold a data set: each root joined with each layout, then ``extra``."""
    out = [root / sub for root in roots(data_dir) for sub in subdirs]
    out += [Path(e) for e in extra]
    return list(dict.fromkeys(out))


def resolve_file(folder: Path, name: str, compressed_ok: bool = True) -> Path | None:
    """``folder/name``, or ``folder/name.gz`` when only the compressed file is there."""
    p = folder / name
    if p.is_file():
        return p
    if compressed_ok and (folder / (name + ".gz")).is_file():
        return folder / (name + ".gz")
    return None
