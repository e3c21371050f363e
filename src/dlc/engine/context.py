"""The run context: one run folder, its device, its seed, its place among processes.

Every lab receives a :class:`RunContext`. It owns the run folder
``runs/<lab>/<time>/`` and writes, as the lab contract promises:

- ``config.json``    the resolved config (lab fields, size preset, seed, device, world)
- ``metrics.jsonl``  one JSON object per logged step or epoch
- ``*.png``          figures (matplotlib, Agg backend)
- ``summary.json``   the result line, the check's verdicts, metrics, timings, artefacts

The training loop adds TensorBoard events and checkpoints to the same folder.

In a run of several processes (``dlc run LAB --nproc N``) every process has a context:
rank, world size and local rank come from torchrun's environment, the device is
``cuda:<local rank>`` where there are GPUs, every rank seeds itself with the run's seed
(so that data drawn at random is the same on every rank; the models are made equal by
DistributedDataParallel anyway), and only rank 0 makes the folder and writes to it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlc.engine import distributed
from dlc.errors import DlcError
from dlc.io import jsonable, write_atomic, write_json_atomic


def pick_device(force_cpu: bool = False, local_rank: int = 0) -> torch.device:
    """CUDA (the local rank's GPU) when there is one and it is not refused, else the CPU."""
    if not force_cpu and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); a negative seed means no seeding."""
    if seed < 0:
        return
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class RunContext:
    """Where a lab writes, on which device it computes, and how it reports."""

    def __init__(
        self,
        lab: str,
        config: Any,
        *,
        size: str = "default",
        seed: int = 0,
        force_cpu: bool = False,
        data_dir: str | None = None,
        runs_dir: str | Path = "runs",
        quiet: bool = False,
        resume: str | Path | None = None,
    ):
        self.lab, self.config, self.size, self.seed = lab, config, size, seed
        self.force_cpu, self.data_dir = force_cpu, data_dir
        self.world = distributed.setup(force_cpu)
        self.is_main = self.world.is_main
        self.quiet = quiet or not self.is_main
        self.device = pick_device(force_cpu, self.world.local_rank)
        self.resume = Path(resume) if resume else None
        if self.resume is not None:
            saved_run_config(self.resume, lab)  # refuses what is not a run of this lab
            self.dir = self.resume
        else:
            self._made: list[Path] = []  # the folders this run created (removed if it fails at once)
            self.dir = Path(
                distributed.broadcast_object(
                    str(_new_run_dir(Path(runs_dir) / lab, self._made)) if self.is_main else None
                )
            )
        self.artifacts: list[Path] = []
        self.started = time.time()
        self._fits: dict[str | None, int] = {}
        # metrics.jsonl and resuming: a resumed run replays the lab from its start, and
        # each fit jumps to where its checkpoint was. Records already in the file (up
        # to the latest checkpoint) are not written twice: `log` counts every record
        # (_log_pos) and writes only those beyond the ones kept (_log_kept); what was
        # written after the latest checkpoint is dropped, since it will be redone.
        self._log_pos = 0
        self._log_kept = 0
        self._metrics = None
        if self.is_main:
            if self.resume is not None:
                from dlc.engine.checkpoint import resume_log_position

                self._log_kept = _keep_lines(self.dir / "metrics.jsonl", resume_log_position(self.dir))
            self._metrics = open(self.dir / "metrics.jsonl", "a", encoding="utf-8")

    # -- life cycle -------------------------------------------------------
    @classmethod
    @contextmanager
    def open(cls, lab: str, config: Any, **kw: Any) -> Iterator[RunContext]:
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
            if ctx.is_main:
                write_json_atomic(ctx.dir / "config.json", ctx.resolved_config())
            yield ctx
            finished = True
        finally:
            if ctx._metrics is not None:
                ctx._metrics.close()
            torch.set_num_threads(previous)
            if not finished and ctx.is_main:
                ctx._discard_if_empty()

    def _discard_if_empty(self) -> None:
        """A run that failed before producing anything (bad data, a bad option) leaves no
        folder behind; one with metrics, checkpoints or figures is kept (it may resume)."""
        if self.resume is not None or not self.dir.is_dir():
            return
        files = {p.name for p in self.dir.iterdir()}
        metrics = self.dir / "metrics.jsonl"
        if files <= {"config.json", "metrics.jsonl"} and not (metrics.is_file() and metrics.stat().st_size):
            for p in self.dir.iterdir():
                p.unlink()
            for d in reversed(getattr(self, "_made", [])):  # the run's folder, then those made for it
                try:
                    d.rmdir()
                except OSError:  # not empty: another run's
                    break

    def resolved_config(self) -> dict:
        return {
            "lab": self.lab,
            "size": self.size,
            "seed": self.seed,
            "device": str(self.device),
            "force_cpu": self.force_cpu,
            "data_dir": self.data_dir,
            "world_size": self.world.world_size,
            "config": dataclasses.asdict(self.config),
        }

    def finish(self, result: Any) -> None:
        """Write summary.json and print the one result line, then the check's verdicts."""
        result.run_dir = self.dir
        arts = [Path(a) for a in [*self.artifacts, *result.artifacts]]
        result.artifacts = list(dict.fromkeys(arts))
        if not self.is_main:
            return
        verdicts = list(getattr(result, "verdicts", None) or [])
        write_json_atomic(
            self.dir / "summary.json",
            {
                "lab": self.lab,
                "line": result.line,
                "metrics": result.metrics,
                "checks": [v.as_dict() for v in verdicts],
                "size": self.size,
                "seed": self.seed,
                "device": str(self.device),
                "world_size": self.world.world_size,
                "started": datetime.fromtimestamp(self.started).isoformat(timespec="seconds"),
                "duration_s": round(time.time() - self.started, 3),
                "artifacts": [str(a) for a in result.artifacts],
            },
        )
        print(f"{self.lab}: {result.line}", flush=True)  # the one line --quiet still prints
        for v in verdicts:
            print(f"  {v}", flush=True)
        self.print(f"run folder: {self.dir}")

    # -- reporting --------------------------------------------------------
    def print(self, *args: Any) -> None:
        if not self.quiet:
            print(*args, flush=True)

    def log(self, **metrics: Any) -> None:
        """Append one record (e.g. ``step=3, loss=0.2``) to metrics.jsonl (rank 0)."""
        self._log_pos += 1
        if self._log_pos <= self._log_kept or self._metrics is None:  # replayed, or not rank 0
            return
        self._metrics.write(json.dumps(metrics, default=jsonable) + "\n")
        self._metrics.flush()
        self._log_kept = self._log_pos

    @property
    def log_position(self) -> int:
        """How many records the run has logged so far (saved in checkpoints)."""
        return self._log_pos

    def seek_log(self, position: int) -> None:
        """A resumed fit continues the records from its checkpoint's position."""
        self._log_pos = position

    def next_fit_index(self, name: str | None) -> int:
        """1 for the first fit of that name in this run, then 2, 3, ... (checkpoint names)."""
        self._fits[name] = self._fits.get(name, 0) + 1
        return self._fits[name]

    def path(self, name: str) -> Path:
        return self.dir / name

    def write_text(self, name: str, text: str) -> Path:
        """Write a text artefact (a table, a report) atomically into the run folder (rank 0)."""
        path = self.dir / name
        if self.is_main:
            write_atomic(path, text)
        self.artifacts.append(path)
        return path

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as ``<run>/<name>.png`` (rank 0) and close it."""
        import matplotlib.pyplot as plt

        path = self.dir / (name if name.endswith(".png") else f"{name}.png")
        if self.is_main:
            write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
            self.artifacts.append(path)
        plt.close(fig)
        return path


def _keep_lines(path: Path, n: int) -> int:
    """Keep the first ``n`` lines of a file (rewritten atomically); returns how many are kept."""
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if len(lines) > n or (lines and not lines[-1].endswith("\n")):
        lines = [ln for ln in lines[:n] if ln.endswith("\n")]
        write_atomic(path, "".join(lines))
    return len(lines)


def saved_run_config(run_dir: Path, lab: str) -> dict:
    """The resolved config of a run folder that ``lab`` may resume (else a clear error)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise DlcError(
            f"cannot resume from {run_dir}: it is not a run folder (no config.json). `dlc runs` lists the run folders."
        )
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise DlcError(f"cannot resume from {run_dir}: its config.json is not valid JSON ({e})") from None
    if not isinstance(saved, dict) or saved.get("lab") != lab:
        other = saved.get("lab") if isinstance(saved, dict) else None
        raise DlcError(
            f"cannot resume {lab!r} from {run_dir}: that folder is a run of "
            f"{other!r}. `dlc runs` lists the run folders."
        )
    return saved


def _new_run_dir(base: Path, made: list[Path]) -> Path:
    """A new time-stamped folder under ``base``; ``made`` receives every folder created."""
    missing = [p for p in (base, *base.parents) if not p.exists()]
    base.mkdir(parents=True, exist_ok=True)
    made.extend(reversed(missing))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        d = base / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            d.mkdir()
            made.append(d)
            return d
        except FileExistsError:
            continue
    raise DlcError(f"could not create a new run folder under {base}: 1,000 already exist for this second")


if "matplotlib" not in sys.modules:  # figures are written to files, never shown
    os.environ.setdefault("MPLBACKEND", "Agg")
