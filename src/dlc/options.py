"""Parsing lab options that hold lists: ``--models baseline,sharing``, ``--pca_dims 100,10``.

A Config field stays a plain string (so the command line, Python and config.json all
read the same value); the lab turns it into a list with :func:`parse_list`, which names
the option, the bad item and an example when something is wrong.
"""

from __future__ import annotations

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
