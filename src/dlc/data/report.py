"""The ``dlc data`` command: where each data set is, how big, and whether it checks out."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from dlc.errors import DataError
from dlc.humanize import format_bytes


@dataclass
class Row:
    name: str
    status: str = "missing"  # "ok", "missing" or "INVALID"
    samples: str = "-"
    nbytes: int = 0
    where: str = ""
    detail: list[str] = field(default_factory=list)  # searched places, or what is wrong


def _tensor_row(s, data_dir) -> Row:
    row = Row(s.name)
    counts, files, folders = [], set(), []
    for split in ("train", "test"):
        found, searched = s.find(split, data_dir)
        if found is None:
            row.detail = [f"{split} split not found; searched:"] + [f"  {p}" for p in searched]
            return row
        folders.append(found.folder)
        files.update(found.files)
        try:
            _, labels, _ = s.load_numpy(split == "train", data_dir)
            counts.append(len(labels))
        except DataError as e:
            row.status, row.where = "INVALID", str(found.folder)
            row.detail = [str(e)]
            return row
    row.status = "ok"
    row.samples = " + ".join(str(c) for c in counts)
    row.nbytes = sum(f.stat().st_size for f in files)
    row.where = "; ".join(dict.fromkeys(str(f) for f in folders))
    return row


def _text_row(s, data_dir) -> Row:
    from dlc.data.text import SentencePairs

    row = Row(s.name)
    path, searched = s.find(data_dir)
    if path is None:
        row.detail = ["searched:"] + [f"  {p}" for p in searched]
        return row
    row.where, row.nbytes = str(path), path.stat().st_size
    try:
        if isinstance(s, SentencePairs):
            row.samples = f"{len(s.load(data_dir=data_dir))} pairs"
            full, _ = s.full.find(data_dir)
            if full is not None:
                row.samples += f" (full: {len(s.load(data_dir=data_dir, full=True))})"
                row.where += f"; {full}"
                row.nbytes += full.stat().st_size
        else:
            row.samples = f"{len(s.load(data_dir=data_dir))} chars"
        row.status = "ok"
    except DataError as e:
        row.status, row.detail = "INVALID", [str(e)]
    return row


def _photo_row(s, data_dir) -> Row:
    row = Row(s.name)
    counts, folders, nbytes = [], [], 0
    for split in s.splits:
        folder, searched = s.find(split, data_dir)
        if folder is None:
            row.detail = [f"{split} split not found; searched:"] + [f"  {p}" for p in searched]
            return row
        try:
            items = s.load(split, data_dir)
            s.verify(items)
        except DataError as e:
            row.status, row.where, row.detail = "INVALID", str(folder), [str(e)]
            return row
        counts.append(len(items))
        folders.append(str(folder.parent))
        nbytes += sum(p.stat().st_size for p, _ in items)
    row.status, row.samples, row.nbytes = "ok", " + ".join(map(str, counts)), nbytes
    row.where = "; ".join(dict.fromkeys(folders))
    return row


def rows(data_dir=None) -> list[Row]:
    from dlc.data import REGISTRY

    out = []
    for s in REGISTRY.values():
        make = {"images": _tensor_row, "text": _text_row, "photos": _photo_row}[s.kind]
        out.append(make(s, data_dir))
    return out


def cli_report(data_dir=None) -> int:
    """Print one line per data set; exit status 1 if a data set found in place is invalid."""
    from dlc.data import locate

    table = rows(data_dir)
    print("data folders searched, in order: " + ", ".join(str(r) for r in locate.roots(data_dir)))
    print(
        "verified = structure checked (magic numbers, counts, shapes, label range; files found "
        "in place are not md5-checked)\n"
    )
    header = ("data set", "status", "samples (train + test)", "size", "where")
    cells = [(r.name, r.status, r.samples, format_bytes(r.nbytes) if r.nbytes else "-", r.where) for r in table]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(4)]
    for c in [header, *cells]:
        print("  ".join(c[i].ljust(widths[i]) for i in range(4)) + "  " + c[4])
    for r in table:
        if r.detail:
            print(f"\n{r.name}: {r.status}")
            for line in r.detail:
                print("  " + line.replace("\n", "\n  "))
    missing = [r.name for r in table if r.status == "missing"]
    bad = [r.name for r in table if r.status == "INVALID"]
    print(f"\n{sum(r.status == 'ok' for r in table)} verified, {len(missing)} missing, {len(bad)} invalid.")
    if missing:
        print(
            "get a missing set with `dlc data fetch NAME`, or point --data_dir / PYTORCH_DATA_DIR "
            "at a folder that holds it."
        )
    return 1 if bad else 0


def cli_fetch(name: str, data_dir=None) -> int:
    """Download a data set into the first data folder; non-zero exit with a clear error on failure."""
    from dlc.data import get, locate

    try:
        s = get(name)
    except DataError as e:
        print(f"dlc: error: {e}", file=sys.stderr)
        return 2
    row = {"images": _tensor_row, "text": _text_row, "photos": _photo_row}[s.kind](s, data_dir)
    if row.status == "ok":
        print(f"{s.name} is already here: {row.where} ({row.samples}); nothing to download")
        return 0
    if not s.can_download:
        print(
            f"dlc: error: {s.name} has no checksummed download; copy its files by hand into "
            f"{locate.download_root(data_dir)} (or point --data_dir / PYTORCH_DATA_DIR at them)",
            file=sys.stderr,
        )
        return 1
    try:
        where = s.fetch(data_dir, quiet=False)
        row = {"images": _tensor_row, "text": _text_row}[s.kind](s, data_dir)
        if row.status != "ok":
            raise DataError("\n".join(row.detail) or f"{s.name}: not usable after the download")
    except KeyboardInterrupt:
        print("\ninterrupted: nothing half-written was left; run the command again", file=sys.stderr)
        return 130
    except DataError as e:
        print(
            f"dlc: error: {e}\n(no network? download the files elsewhere and copy them into "
            f"{locate.download_root(data_dir)}, or point --data_dir / PYTORCH_DATA_DIR at them)",
            file=sys.stderr,
        )
        return 1
    print(f"{s.name}: downloaded and verified in {where} ({row.samples})")
    return 0
