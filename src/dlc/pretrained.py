"""Pretrained weights, trained by dlc itself and kept in the user's cache.

A lab that starts from a pretrained network (transfer learning) cannot download one
here: it trains it, once, and keeps the weights in ``<user cache>/pretrained/``
(:func:`dlc.io.user_cache_dir`). The file's name carries a key: a hash of the
*recipe* (every value that changes what is trained: architecture, data identity,
optimiser, epochs, seed, ...), so a changed recipe never gets stale weights, and a
second run with the same recipe loads them in milliseconds::

    weights = pretrained.load_or_train("resnet18-cifar10", recipe, train)
    model.load_state_dict(weights.state)
    weights.trained_now, weights.seconds, weights.meta

A cache file is never trusted on its name alone: it must hold dlc's format, the same
recipe, and tensors whose SHA-256 matches the one written beside them; the caller may
add its own test (``accept``: e.g. that the weights fit its model). A corrupt, foreign
or truncated file is retrained and replaced, never a crash. Files are written
atomically (:func:`dlc.io.write_atomic`): a killed run leaves no half-written file
under the final name.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dlc.errors import InvalidArgument
from dlc.io import DiskFull, jsonable, user_cache_dir, write_atomic

FORMAT = "dlc-pretrained"
VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


@dataclass
class Pretrained:
    """Weights and where they came from.

    state: the model's ``state_dict`` (CPU tensors). path: the cache file (None when not
    cached). trained_now: whether this run trained them. seconds: the training time (of
    this run, or of the run that trained them). meta: what the trainer reported (e.g. its
    accuracy). note: why an existing cache file was not used, if one was refused.
    """

    state: dict[str, torch.Tensor]
    path: Path | None
    trained_now: bool
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def recipe_key(name: str, recipe: Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 over the name and the recipe (as sorted JSON)."""
    text = json.dumps({"name": name, "recipe": recipe}, sort_keys=True, default=jsonable)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def cache_path(name: str, recipe: Mapping[str, Any], folder: str | Path | None = None) -> Path:
    """``<folder or user cache>/pretrained/<name>-<key>.pt``."""
    if not _NAME.match(name):
        raise InvalidArgument(f"a pretrained-weights name is letters, digits, '.', '_' or '-' (got {name!r})")
    root = Path(folder) if folder is not None else user_cache_dir() / "pretrained"
    return root / f"{name}-{recipe_key(name, recipe)}.pt"


def tensor_digest(*tensors: torch.Tensor) -> str:
    """SHA-256 of the tensors' shapes, dtypes and bytes: the identity of a data set's
    content (so that a recipe names the data it was trained on, not only its file name)."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}{t.dtype};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state_dict: its names in order, then each tensor (:func:`tensor_digest`)."""
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode("utf-8") + b"\0")
        h.update(tensor_digest(state[k]).encode())
    return h.hexdigest()


def _read(path: Path, name: str, recipe: Mapping[str, Any]) -> dict:
    """The cache file's content, checked; ValueError says what is wrong with it."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file (truncated zip, garbage, pickle error)
        raise ValueError(f"unreadable ({type(e).__name__})") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError("not a dlc pretrained-weights file")
    if saved.get("version") != VERSION:
        raise ValueError(f"format version {saved.get('version')!r}, not {VERSION}")
    wanted = json.loads(json.dumps(dict(recipe), sort_keys=True, default=jsonable))
    if saved.get("name") != name or saved.get("recipe") != wanted:
        raise ValueError("weights of another recipe")
    state = saved.get("state")
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("no state_dict in it")
    if saved.get("digest") != state_digest(state):
        raise ValueError("its tensors do not match their checksum (damaged)")
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise ValueError("non-finite weights")
    return saved


def load_or_train(
    name: str,
    recipe: Mapping[str, Any],
    train: Callable[[], tuple[Mapping[str, torch.Tensor], Mapping[str, Any]]],
    *,
    use_cache: bool = True,
    folder: str | Path | None = None,
    accept: Callable[[dict[str, torch.Tensor]], None] | None = None,
) -> Pretrained:
    """The weights of ``recipe``: from the cache when a valid file is there, else from
    ``train()`` (which returns ``(state_dict, meta)``), then written to the cache.

    use_cache: False trains anyway and neither reads nor writes the cache.
    accept: a test of loaded weights (raise any Exception to refuse them, e.g. a
    ``load_state_dict`` into the caller's model); refused weights are retrained.
    A cache that cannot be written (read-only home, full disk) is skipped silently:
    the weights are returned all the same.
    """
    path = cache_path(name, recipe, folder) if use_cache else None
    note = ""
    if path is not None and path.is_file():
        try:
            saved = _read(path, name, recipe)
            if accept is not None:
                try:
                    accept(saved["state"])
                except Exception as e:  # noqa: BLE001 - the caller's test, whatever it raises
                    raise ValueError(f"refused by the model ({type(e).__name__})") from None
            meta = dict(saved.get("meta") or {})
            return Pretrained(saved["state"], path, False, float(meta.get("train_seconds", 0.0)), meta)
        except ValueError as e:
            note = f"the cached file {path.name} was not used ({e}); trained again"
    t0 = time.perf_counter()
    state, meta = train()
    seconds = time.perf_counter() - t0
    state = {k: v.detach().cpu().clone() for k, v in state.items()}
    meta = {**json.loads(json.dumps(dict(meta), default=jsonable)), "train_seconds": seconds}
    if path is not None:
        content = {
            "format": FORMAT,
            "version": VERSION,
            "name": name,
            "recipe": json.loads(json.dumps(dict(recipe), sort_keys=True, default=jsonable)),
            "meta": meta,
            "state": state,
            "digest": state_digest(state),
            "torch": str(torch.__version__),
        }
        try:
            write_atomic(path, lambda f: torch.save(content, f))
        except (OSError, DiskFull):  # a read-only cache or a full disk: the weights are used, not kept
            path = None
    return Pretrained(state, path, True, seconds, meta, note)
