"""Parsing lab options that hold lists: ``--models baseline,sharing``, ``--pca_dims 100,10``.

A Config field stays a plain string (so the command line, Python and config.json all
read the same value); the lab turns it into a list with :func:`parse_list`, which names
the option, the bad item and an example when something is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TypeVar

from dlc.errors import UsageError

T = TypeVar("T")


def parse_list(
    name: str,
    text: str,
    convert: Callable[[str], T] = str,
    *,
    choices: Iterable[str] | None = None,
    check: Callable[[T], bool] | None = None,
    example: str = "",
) -> list[T]:
    """The comma-separated items of ``text``, each converted (``int``, ``float``, ...).

    choices: the allowed items (for words); check: a condition every item must meet
    (e.g. ``lambda v: v > 0``). An empty list, an item that does not convert, is not
    among the choices or fails the check raises a :class:`UsageError`.
    """
    allowed = list(choices) if choices is not None else None
    hint = f" (e.g. --{name} {example})" if example else ""
    if allowed:
        hint += f"; choose from {', '.join(allowed)}"
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    if not items:
        raise UsageError(f"--{name} needs at least one value, comma-separated{hint}")
    out = []
    for item in items:
        if allowed is not None and item not in allowed:
            raise UsageError(f"--{name}: unknown value {item!r}{hint}")
        try:
            value = convert(item)
        except (TypeError, ValueError):
            what = getattr(convert, "__name__", "value")
            raise UsageError(f"--{name}: {item!r} is not a valid {what}{hint}") from None
        if check is not None and not check(value):
            raise UsageError(f"--{name}: {item!r} is out of range{hint}")
        out.append(value)
    return out


# -- the checks every lab's Config gets, before its own __post_init__ ---------------------

MAX_SAMPLES = 10**8  # no lab here needs more; 10**8 samples of a single float are already 400 MB


def _is_size(name: str) -> bool:
    return name in ("n", "pairs", "samples") or name.startswith("n_") or name.endswith("_size")


def _is_rate(name: str) -> bool:
    return name == "lr" or name.startswith("lr_") or name.endswith("_lr")


def check_values(lab: str, fields: dict[str, tuple[type, bool]], values: dict) -> dict:
    """Refuse what no lab can take, whatever its own checks: a value of the wrong type, a
    NaN or infinite number, a learning rate that is not positive, a negative count, a
    batch size below 1, a data size that cannot fit in memory. ``fields`` maps each Config
    field to (its base type, whether None is allowed). Returns the values, with ints given
    for float fields made floats."""
    out = dict(values)
    for name, value in values.items():
        tp, optional = fields[name]
        what = f"--{name}"
        if value is None:
            if not optional:
                raise UsageError(f"{lab}: {what} needs a value")
            continue
        if tp is bool:
            if not isinstance(value, bool):
                raise UsageError(f"{lab}: {what} must be true or false, got {value!r}")
        elif tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{lab}: {what} must be a whole number, got {value!r}")
            if value < 0:
                raise UsageError(f"{lab}: {what} must be >= 0, got {value}")
            if name == "batch_size" and value < 1:
                raise UsageError(f"{lab}: {what} must be >= 1, got {value}")
            if _is_size(name) and value > MAX_SAMPLES:
                raise UsageError(
                    f"{lab}: {what} {value:,} is more than this machine can hold: even at one float "
                    f"per sample it needs {value * 4 / 1e9:,.0f} GB; ask for at most {MAX_SAMPLES:,}"
                )
        elif tp is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(f"{lab}: {what} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise UsageError(f"{lab}: {what} must be a finite number, got {value}")
            if _is_rate(name) and value <= 0:
                raise UsageError(f"{lab}: {what} (a learning rate) must be > 0, got {value}")
            out[name] = float(value)
        elif tp is str and not isinstance(value, str):
            raise UsageError(f"{lab}: {what} must be text, got {value!r}")
    return out


def field_type(tp) -> tuple[type, bool]:
    """The base type of a dataclass field's annotation, and whether it may be None."""
    import typing

    if isinstance(tp, str):
        parts = [t.strip() for t in tp.split("|")]
        base = {"int": int, "float": float, "str": str, "bool": bool}.get(parts[0], str)
        return base, "None" in parts
    origin = typing.get_origin(tp)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        args = typing.get_args(tp)
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if rest else str), type(None) in args
    return tp, False


def field_types(config: type) -> dict[str, tuple[type, bool]]:
    """``field_type`` of every field of a Config dataclass."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(config)
    return {f.name: field_type(hints.get(f.name, f.type)) for f in dataclasses.fields(config)}
