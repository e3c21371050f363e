"""Run folders on the command line: ``dlc runs`` lists them, ``dlc runs show DIR`` prints one.

Only JSON files are read here (no torch), so listing is instant.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from dlc.humanize import format_bytes


class Damaged(Exception):
    """A run folder whose config.json or summary.json cannot be read or has the wrong types."""


def find_runs(runs_dir: str | Path) -> list[Path]:
    """Run folders (those with a config.json) under ``runs_dir``, newest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    found = [p.parent for p in root.glob("*/*/config.json")]
    if (root / "config.json").is_file():  # given one run folder itself
        found.append(root)
    return sorted(found, key=_started, reverse=True)


def _read_json(path: Path) -> dict | None:
    """A JSON object file; None if it is missing or unreadable (see ``_read_object``)."""
    try:
        return _read_object(path)
    except Damaged:
        return None


def _read_object(path: Path) -> dict | None:
    """A JSON object file: None if it is missing, ``Damaged`` if it is not a JSON object."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise Damaged(f"{path.name} cannot be read ({e})") from None
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise Damaged(f"{path.name} is not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise Damaged(f"{path.name} holds a {type(obj).__name__}, not a JSON object")
    return obj


def _check_types(obj: dict, name: str, types: dict[str, tuple]) -> None:
    for key, allowed in types.items():
        v = obj.get(key)
        if v is not None and (not isinstance(v, allowed) or (isinstance(v, bool) and bool not in allowed)):
            raise Damaged(f"{name}: {key!r} is a {type(v).__name__} ({str(v)[:40]!r})")


_CONFIG_TYPES = {"lab": (str,), "size": (str,), "seed": (int,), "world_size": (int,), "config": (dict,)}
_SUMMARY_TYPES = {
    "lab": (str,),
    "line": (str,),
    "started": (str,),
    "duration_s": (int, float),
    "metrics": (dict,),
    "checks": (list,),
    "artifacts": (list,),
}


def _started(run: Path) -> float:
    s = _read_json(run / "summary.json")
    started = s.get("started") if s else None
    if isinstance(started, str):
        try:
            return datetime.fromisoformat(started).timestamp()
        except (ValueError, OverflowError, OSError):
            pass
    try:
        return (run / "config.json").stat().st_mtime
    except OSError:
        return 0.0


def _last_epoch(run: Path) -> dict | None:
    """The last per-epoch record of metrics.jsonl (read from the end of the file)."""
    path = run / "metrics.jsonl"
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(f.tell() - 65536, 0))
            tail = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(tail):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("kind") == "epoch":
            return rec
    return None


def describe(run: Path) -> dict[str, str]:
    """One row of the table: lab, when, result, duration, folder (``Damaged`` if its
    config.json or summary.json cannot be read or holds the wrong types)."""
    config = _read_object(run / "config.json")
    if config is None:
        raise Damaged("config.json is missing")
    _check_types(config, "config.json", _CONFIG_TYPES)
    summary = _read_object(run / "summary.json")
    if summary is not None:
        _check_types(summary, "summary.json", _SUMMARY_TYPES)
    try:
        when = datetime.fromtimestamp(_started(run)).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        when = "?"
    if summary:
        result, duration = summary.get("line") or "", _duration(summary.get("duration_s"))
    else:
        last = _last_epoch(run)
        done = f" after epoch {last.get('epoch')}" if last and last.get("epoch") is not None else ""
        resumable = "; resumable" if any((run / "checkpoints").glob("*last*.pt")) else ""
        result, duration = f"(unfinished{done}{resumable})", "-"
    return {
        "lab": str(config.get("lab") or run.parent.name),
        "when": when,
        "size": str(config.get("size") or ""),
        "result": result,
        "duration": duration,
        "folder": str(run),
    }


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d} min" if m < 60 else f"{m // 60}:{m % 60:02d}:{s:02d} h"


def format_table(rows: list[dict[str, str]], width: int | None = None) -> str:
    """Rows as aligned columns; the result column is cut to fit the terminal."""
    cols = ["lab", "when", "size", "duration", "result", "folder"]
    width = width or shutil.get_terminal_size((160, 24)).columns
    w = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    fixed = sum(w[c] + 2 for c in cols if c != "result")
    w["result"] = max(20, min(w["result"], width - fixed))

    def cut(s: str, n: int) -> str:
        return s if len(s) <= n else s[: n - 1] + "…"

    lines = ["  ".join(f"{c:<{w[c]}}" for c in cols).rstrip()]
    for r in rows:
        lines.append("  ".join(f"{cut(r[c], w[c]):<{w[c]}}" for c in cols).rstrip())
    return "\n".join(lines)


def list_runs(runs_dir: str | Path = "runs") -> int:
    """Print the run folders under ``runs_dir`` as a table; a damaged one is skipped,
    with one line on stderr saying which and why. Returns the exit status."""
    runs = find_runs(runs_dir)
    if not runs:
        print(f"no runs in {runs_dir} (`dlc run ID` makes one; --runs_dir chooses the folder)")
        return 0
    rows = []
    for run in runs:
        try:
            rows.append(describe(run))
        except Damaged as e:
            print(f"dlc runs: skipped the damaged run folder {run}: {e}", file=sys.stderr)
    if rows:
        print(format_table(rows))
    return 0


def show_run(run_dir: str | Path) -> int:
    """Print one run: its result, options, final metrics and files."""
    run = Path(run_dir)
    try:
        row = describe(run)
    except Damaged as e:
        what = "not a run folder" if "missing" in str(e) else "a damaged run folder"
        print(f"dlc: error: {run} is {what} ({e}); `dlc runs` lists the run folders", file=sys.stderr)
        return 1
    config = _read_json(run / "config.json") or {}
    print(f"{row['lab']}  {row['when']}  ({row['size']}, {row['duration']})")
    print(f"result: {row['result']}")
    summary = _read_json(run / "summary.json")
    for check in (summary or {}).get("checks") or []:
        if not isinstance(check, dict):
            continue
        mark = "pass" if check.get("passed") else "FAIL"
        measured, threshold = _fmt(check.get("measured")), _fmt(check.get("threshold"))
        print(f"  [{mark}] {check.get('name')}: {measured} {check.get('op')} {threshold}")
    print(f"folder: {run}")
    keys = ("size", "seed", "device", "world_size", "force_cpu", "data_dir")
    print("\nrun:    " + ", ".join(f"{k}={config.get(k)}" for k in keys if k in config))
    options = config.get("config") or {}
    if options:
        print("config: " + ", ".join(f"{k}={v}" for k, v in options.items()))
    if summary and summary.get("metrics"):
        print("\nmetrics:")
        for k, v in summary["metrics"].items():
            print(f"  {k:<24} {_fmt(v)}")
    else:
        last = _last_epoch(run)
        if last:
            print("\nlast epoch: " + ", ".join(f"{k}={_fmt(v)}" for k, v in last.items()))
    print("\nfiles:")
    for p in sorted(run.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            print(f"  {str(p.relative_to(run)):<48} {format_bytes(p.stat().st_size):>9}")
    return 0


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)
