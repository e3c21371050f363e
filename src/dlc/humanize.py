"""Numbers as people read them on a terminal. No torch, no numpy: `dlc data` and
`dlc runs` import this and must start fast."""

from __future__ import annotations


def format_bytes(n: float) -> str:
    """A byte count in decimal (SI) units: 512 B, 1.5 kB, 184.4 MB, 2.1 GB."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)  # not reached: GB is the last unit
