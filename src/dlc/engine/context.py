"""The run context: one run folder, its device, its seed, its logs.

Every lab receives a :class:`RunContext`. It owns the run folder
``runs/<lab>/<time>/`` and writes, as the lab contract promises:

- ``config.json``    the resolved config (lab fields and run options)
- ``metrics.jsonl``  one JSON object per logged step or epoch
- ``*.png``          figures (matplotlib, Agg backend)
- ``summary.json``   the result line, its metrics, timings and artefacts

The training engine adds TensorBoard events and checkpoints to the same folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

SIZES = ("tiny", "default", "full")


def pick_device(force_cpu: bool = False) -> torch.device:
    """CUDA when there is one and it is not refused, else the CPU."""
    if not force_cpu and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); a negative seed means no seeding."""
    if seed < 0:
        return
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to a temporary file, then rename, so no reader sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _jsonable(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, torch.Tensor) and o.numel() == 1:
        return o.item()
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    return repr(o)


class RunContext:
    """Where a lab writes, on which device it computes, and how it reports."""

    def __init__(self, lab: str, config: Any, *, size: str = "default", seed: int = 0,
                 force_cpu: bool = False, data_dir: str | None = None,
                 runs_dir: str | Path = "runs", quiet: bool = False,
                 resume: str | Path | None = None):
        if size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {size!r}")
        self.lab, self.config, self.size, self.seed = lab, config, size, seed
        self.force_cpu, self.data_dir, self.quiet = force_cpu, data_dir, quiet
        self.device = pick_device(force_cpu)
        self.resume = Path(resume) if resume else None
        if self.resume is not None:
            saved_run_config(self.resume, lab)  # refuses what is not a run of this lab
            self.dir = self.resume
        else:
            self.dir = _new_run_dir(Path(runs_dir) / lab)
        self.artifacts: list[Path] = []
        self.started = time.time()
        # metrics.jsonl and resuming: a resumed run replays the lab from its start, and
        # each Trainer jumps to where its checkpoint was. Records already in the file (up
        # to the latest checkpoint) are not written twice: `log` counts every record
        # (_log_pos) and writes only those beyond the ones kept (_log_kept); what was
        # written after the latest checkpoint is dropped, since it will be redone.
        self._log_pos = 0
        self._log_kept = 0
        if self.resume is not None:
            from dlc.engine.checkpoint import resume_log_position

            self._log_kept = _keep_lines(self.dir / "metrics.jsonl", resume_log_position(self.dir))
        self._metrics = open(self.dir / "metrics.jsonl", "a", encoding="utf-8")

    # -- life cycle -------------------------------------------------------
    @classmethod
    @contextmanager
    def open(cls, lab: str, config: Any, **kw: Any) -> Iterator["RunContext"]:
        ctx = cls(lab, config, **kw)
        # A lab made of small tensors says THREADS = 1 in its Config: one intra-op thread
        # avoids torch's synchronisation cost on tiny matrices, and does not collapse when
        # the other cores are busy (seen here: 3-7x slower with 2 threads under load).
        threads, previous = getattr(type(config), "THREADS", None), torch.get_num_threads()
        if threads:
            torch.set_num_threads(min(threads, previous))
        finished = False
        try:
            seed_everything(ctx.seed)
            write_json_atomic(ctx.dir / "config.json", ctx.resolved_config())
            yield ctx
            finished = True
        finally:
            ctx._metrics.close()
            torch.set_num_threads(previous)
            if not finished:
                ctx._discard_if_empty()

    def _discard_if_empty(self) -> None:
        """A run that failed before producing anything (bad data, a bad option) leaves no
        folder behind; one with metrics, checkpoints or figures is kept (it may resume)."""
        if self.resume is not None:
            return
        files = {p.name for p in self.dir.iterdir()}
        if files <= {"config.json", "metrics.jsonl"} and not (self.dir / "metrics.jsonl").stat().st_size:
            for p in self.dir.iterdir():
                p.unlink()
            self.dir.rmdir()

    def resolved_config(self) -> dict:
        return {"lab": self.lab, "size": self.size, "seed": self.seed,
                "device": str(self.device), "force_cpu": self.force_cpu,
                "data_dir": self.data_dir, "config": dataclasses.asdict(self.config)}

    def finish(self, result: Any) -> None:
        """Write summary.json and print the one result line."""
        duration = time.time() - self.started
        result.run_dir = self.dir
        arts = [Path(a) for a in [*self.artifacts, *result.artifacts]]
        result.artifacts = list(dict.fromkeys(arts))
        write_json_atomic(self.dir / "summary.json", {
            "lab": self.lab, "line": result.line, "metrics": result.metrics,
            "size": self.size, "seed": self.seed, "device": str(self.device),
            "started": datetime.fromtimestamp(self.started).isoformat(timespec="seconds"),
            "duration_s": round(duration, 3),
            "artifacts": [str(a) for a in result.artifacts],
        })
        print(f"{self.lab}: {result.line}", flush=True)  # the one line --quiet still prints
        self.print(f"run folder: {self.dir}")

    # -- reporting --------------------------------------------------------
    def print(self, *args: Any) -> None:
        if not self.quiet:
            print(*args, flush=True)

    def log(self, **metrics: Any) -> None:
        """Append one record (e.g. ``step=3, loss=0.2``) to metrics.jsonl."""
        self._log_pos += 1
        if self._log_pos <= self._log_kept:  # a resumed run replaying what the file has
            return
        self._metrics.write(json.dumps(metrics, default=_jsonable) + "\n")
        self._metrics.flush()
        self._log_kept = self._log_pos

    @property
    def log_position(self) -> int:
        """How many records the run has logged so far (saved in checkpoints)."""
        return self._log_pos

    def seek_log(self, position: int) -> None:
        """A resumed Trainer continues the records from its checkpoint's position."""
        self._log_pos = position

    def path(self, name: str) -> Path:
        return self.dir / name

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as ``<run>/<name>.png`` and close it."""
        import matplotlib.pyplot as plt

        path = self.dir / (name if name.endswith(".png") else f"{name}.png")
        tmp = path.with_name(f".{path.stem}.tmp.png")
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
        os.replace(tmp, path)
        plt.close(fig)
        self.artifacts.append(path)
        return path

    # -- sizes ------------------------------------------------------------
    def by_size(self, tiny: Any, default: Any, full: Any) -> Any:
        """Pick a value by the run's size."""
        return {"tiny": tiny, "default": default, "full": full}[self.size]

    @property
    def prologue_sizes(self) -> tuple[int | None, int | None]:
        """(train, test) sample counts of the EE-559 prologue; None means everything."""
        return self.by_size((500, 100), (1000, 1000), (None, None))


def _keep_lines(path: Path, n: int) -> int:
    """Keep the first ``n`` lines of a file (rewritten atomically); returns how many are kept."""
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if len(lines) > n or (lines and not lines[-1].endswith("\n")):
        lines = [ln for ln in lines[:n] if ln.endswith("\n")]
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text("".join(lines), encoding="utf-8")
        os.replace(tmp, path)
    return len(lines)


def saved_run_config(run_dir: Path, lab: str) -> dict:
    """The resolved config of a run folder that ``lab`` may resume (else a clear error)."""
    from dlc.errors import DlcError

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise DlcError(f"cannot resume from {run_dir}: it is not a run folder (no config.json). "
                       f"`dlc runs` lists the run folders.")
    saved = json.loads(path.read_text(encoding="utf-8"))
    if saved.get("lab") != lab:
        raise DlcError(f"cannot resume {lab!r} from {run_dir}: that folder is a run of "
                       f"{saved.get('lab')!r}. `dlc runs` lists the run folders.")
    return saved


def _new_run_dir(base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        d = base / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            d.mkdir()
            return d
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {base}")


if "matplotlib" not in sys.modules:  # figures are written to files, never shown
    os.environ.setdefault("MPLBACKEND", "Agg")
