"""The run context: one run folder, its device, its seed, its place among processes.

Every lab receives a :class:`RunContext`. It owns the run folder
``runs/<lab>/<time>/`` and writes, as the lab contract promises:

- ``config.json``    the resolved config (lab fields, size preset, seed, device, world,
                     and ``run_id``, the folder's identity that its checkpoints record)
- ``metrics.jsonl``  one JSON object per logged step or epoch (appended whole, unbuffered)
- ``*.png``          figures (matplotlib, Agg backend)
- ``summary.json``   the result line, the check's verdicts, metrics, timings, artefacts,
                     and the options it finished with
- ``.lock``          while a process writes the folder (:class:`RunLock`)

The training loop adds TensorBoard events and checkpoints to the same folder.

Nothing lost, nothing left behind:

- One process at a time writes a run folder: a second one (two ``--resume`` of one
  folder, or a resume of a run still going) is refused, naming the holder; the lock of
  a killed process is taken over. Under the lock, the temporary files a killed process
  left are swept (:func:`dlc.io.sweep_temporaries`).
- A run that fails before producing anything leaves no folder (nor the folders made for
  it); the empty folder of a *killed* one goes with the next run of the lab.
- Resuming (``resume=RUN_DIR``): a run that finished with the same options is refused
  at once (:class:`RunFinished`: nothing changes); otherwise its checkpoints must be this
  run's (:mod:`dlc.engine.checkpoint`); config.json is rewritten only when the resumed
  run commits (its first checkpoint, or its end), and what metrics.jsonl holds beyond the
  latest checkpoint only when the first new record is written, so that a resume refused
  early changes nothing.

In a run of several processes (``dlc run LAB --nproc N``) every process has a context:
rank, world size and local rank come from torchrun's environment, the device is
``cuda:<local rank>`` where there are GPUs, every rank seeds itself with the run's seed
(so that data drawn at random is the same on every rank; the models are made equal by
DistributedDataParallel anyway), and only rank 0 makes the folder and writes to it.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import random
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlc.engine import distributed
from dlc.errors import DlcError
from dlc.io import append, disk_full, is_disk_full, jsonable, sweep_temporaries, write_atomic, write_json_atomic

try:
    import fcntl
except ImportError:  # Windows: a lock file created exclusively, without liveness checks
    fcntl = None


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
        self._lock: RunLock | None = None
        self._config_written: dict | None = None  # config.json as this run last wrote (or found) it
        if self.resume is not None:
            saved = saved_run_config(self.resume, lab)  # refuses what is not a run of this lab
            self.dir = self.resume
            self.run_id = saved.get("run_id") or uuid.uuid4().hex[:12]
            self._config_written = saved
            finished_run(self.dir, config, seed)  # a finished run: RunFinished, nothing touched
        else:
            self._made: list[Path] = []  # the folders this run created (removed if it fails at once)
            made = None
            if self.is_main:
                made = (str(_new_run_dir(Path(runs_dir) / lab, self._made)), uuid.uuid4().hex[:12])
            where, self.run_id = distributed.broadcast_object(made)
            self.dir = Path(where)
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
        self._cut_log: int | None = None  # a resumed run: the bytes of metrics.jsonl to keep
        self._metrics: int | None = None  # the file descriptor of metrics.jsonl (rank 0)
        if self.is_main:
            # One writer per run folder: a second process (two resumes of one folder) is
            # refused; a lock left by a killed process is taken over.
            self._lock = RunLock(self.dir)
            self._lock.acquire()
            try:
                if self.resume is not None:
                    finished_run(self.dir, config, seed)  # it may have finished while we waited
                # under the lock no other process writes here: what a killed one was writing goes
                sweep_temporaries(self.dir, only_dead=False)
                if self._lock.recovered:
                    self.print(f"(took over the lock of process {self._lock.recovered.get('pid')}, which had stopped)")
                if self.resume is not None:
                    from dlc.engine.checkpoint import resume_log_position

                    position = resume_log_position(self.dir, self.checkpoint_identity())
                    # what lies beyond is dropped when the first new record is written:
                    # a resume refused before that (other options, a foreign checkpoint) changes nothing
                    self._log_kept, self._cut_log = _whole_lines(self.dir / "metrics.jsonl", position)
                path = self.dir / "metrics.jsonl"
                try:
                    self._metrics = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                except OSError as e:
                    if is_disk_full(e):
                        raise disk_full(path, None, path.exists()) from None
                    raise
            except BaseException:
                self._lock.release()
                raise

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
        finished, error = False, None
        try:
            seed_everything(ctx.seed)
            if ctx.resume is None:
                ctx.commit_config()  # a resumed run's config.json changes with its first checkpoint
            yield ctx
            finished = True
        except BaseException as e:
            error = e
            raise
        finally:
            ctx.close()
            torch.set_num_threads(previous)
            if not finished and ctx.is_main:
                ctx._discard_if_empty()
            if error is not None and ctx.dir.is_dir():
                try:  # for the command line's "`--resume RUN_DIR` continues" line
                    error.run_dir = ctx.dir
                except AttributeError:
                    pass

    def close(self) -> None:
        """Close metrics.jsonl and release the run folder's lock (done by ``open``)."""
        if self._metrics is not None:
            os.close(self._metrics)
            self._metrics = None
        if self._lock is not None:
            self._lock.release()

    def __del__(self) -> None:  # a context made without `open` (tests) and dropped
        try:
            self.close()
        except Exception:  # noqa: BLE001 - half-made (its __init__ failed), or at interpreter exit
            pass

    def _discard_if_empty(self) -> None:
        """A run that failed before producing anything (bad data, a bad option) leaves no
        folder behind; one with metrics, checkpoints or figures is kept (it may resume)."""
        if self.resume is not None or not self.dir.is_dir():
            return
        files = {p.name for p in self.dir.iterdir()}
        metrics = self.dir / "metrics.jsonl"
        if files <= {"config.json", "metrics.jsonl", RunLock.NAME} and not (
            metrics.is_file() and metrics.stat().st_size
        ):
            for p in self.dir.iterdir():
                p.unlink()
            for d in reversed(getattr(self, "_made", [])):  # the run's folder, then those made for it
                try:
                    d.rmdir()
                except OSError:  # not empty: another run's
                    break

    def commit_config(self) -> None:
        """Write config.json (rank 0) if it would say something new: a new run at once, a
        resumed one when it commits to its options (its first checkpoint, or its end), so
        that a resume refused with other options (e.g. fewer epochs) changes nothing."""
        if not self.is_main:
            return
        resolved = json.loads(json.dumps(self.resolved_config(), default=jsonable))
        if resolved != self._config_written:
            write_json_atomic(self.dir / "config.json", resolved)
            self._config_written = resolved

    def checkpoint_identity(self) -> dict:
        """What this run's checkpoints record about it, and what a resumed fit checks
        (:func:`dlc.engine.checkpoint.identity`)."""
        from dlc.engine.checkpoint import identity

        return identity(self.lab, self.run_id, self.dir, self.config, self.seed)

    def resolved_config(self) -> dict:
        return {
            "lab": self.lab,
            "size": self.size,
            "seed": self.seed,
            "device": str(self.device),
            "force_cpu": self.force_cpu,
            "data_dir": self.data_dir,
            "world_size": self.world.world_size,
            "run_id": self.run_id,
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
        self.commit_config()
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
                "run_id": self.run_id,
                "config": dataclasses.asdict(self.config),  # what finished: a resume of it has nothing to do
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
        line = (json.dumps(metrics, default=jsonable) + "\n").encode("utf-8")
        if self._cut_log is not None:  # the first new record of a resumed run: drop what is redone
            if os.fstat(self._metrics).st_size != self._cut_log:
                os.ftruncate(self._metrics, self._cut_log)
            self._cut_log = None
        append(self._metrics, line, self.dir / "metrics.jsonl")
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

    def save_state(self, name: str, state: dict) -> Path:
        """Write tensors (a model's state_dict) atomically into the run folder (rank 0), as
        :func:`dlc.engine.checkpoint.save` does; ``checkpoint.load`` reads them back."""
        from dlc.engine import checkpoint

        path = self.dir / name
        if self.is_main:
            checkpoint.save(state, path)
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


def _whole_lines(path: Path, n: int) -> tuple[int, int]:
    """How many of the first ``n`` lines of a file are whole (end with a newline), and
    the bytes they take."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0, 0
    kept = end = 0
    while kept < n:
        i = data.find(b"\n", end)
        if i < 0:
            break
        kept, end = kept + 1, i + 1
    return kept, end


def saved_run_config(run_dir: Path, lab: str) -> dict:
    """The resolved config of a run folder that ``lab`` may resume (else a clear error)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise DlcError(
            f"cannot resume from {run_dir}: it is not a run folder (no config.json). `dlc runs` lists the run folders."
        )
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:  # also a UnicodeDecodeError
        raise DlcError(
            f"cannot resume from {run_dir}: its config.json is not valid JSON ({e}); it was damaged or "
            f"edited. `dlc runs show {run_dir}` shows what the folder holds."
        ) from None
    except OSError as e:
        raise DlcError(f"cannot resume from {run_dir}: cannot read its config.json ({e.strerror or e})") from None
    if not isinstance(saved, dict) or saved.get("lab") != lab:
        other = saved.get("lab") if isinstance(saved, dict) else None
        raise DlcError(
            f"cannot resume {lab!r} from {run_dir}: that folder is a run of "
            f"{other!r}. `dlc runs` lists the run folders."
        )
    expected = {"config": dict, "size": str, "seed": int, "run_id": str, "data_dir": str, "force_cpu": bool}
    for key, tp in expected.items():
        value = saved.get(key)
        if value is not None and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
            raise DlcError(
                f"cannot resume from {run_dir}: its config.json is damaged ({key!r} is "
                f"{type(value).__name__} {value!r}, not {tp.__name__})"
            )
    return saved


class RunFinished(DlcError):
    """Resuming a run that has already finished, with the options it finished with: there
    is nothing to do, and nothing was changed. ``summary``: its summary.json."""

    def __init__(self, run_dir: Path, summary: dict, config: Any):
        self.run_dir, self.summary = Path(run_dir), summary
        further = " To train it further, resume it with more --epochs;" if hasattr(config, "epochs") else ""
        super().__init__(
            f"{run_dir} is a finished run ({summary.get('lab')}: {summary.get('line')}); there is nothing "
            f"to resume, and nothing was changed.{further} to run it again, start a new run (without --resume)."
        )


def finished_run(run_dir: Path, config: Any, seed: int) -> None:
    """Raise :class:`RunFinished` if ``run_dir`` finished with ``config`` and ``seed``
    (its summary.json says so); a damaged summary counts as unfinished."""
    try:
        summary = json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(summary, dict):
        return
    done = summary.get("config")
    if done is None:  # a summary of an older dlc: the options are config.json's
        try:
            done = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8")).get("config")
        except (OSError, ValueError, AttributeError):
            return
    here = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}
    here = json.loads(json.dumps(here, default=jsonable))
    if done == here and summary.get("seed") == seed:
        raise RunFinished(run_dir, summary, config)


class RunLock:
    """``<run>/.lock``: held (``flock``) by the one process that writes the run folder, and
    holding its pid, host and start time for the message that refuses a second one.

    The kernel drops the lock when its process dies, however it dies: a lock file left by a
    killed process is simply taken over (``recovered``: what it said). Without ``fcntl``
    (Windows) the file is created exclusively, and one left behind must be deleted by hand.
    """

    NAME = ".lock"

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.path = self.dir / self.NAME
        self.fd: int | None = None
        self.recovered: dict | None = None

    def acquire(self) -> None:
        for _ in range(100):
            if fcntl is None:
                if self._acquire_exclusive():
                    return
                continue
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as e:
                if is_disk_full(e):
                    raise disk_full(self.path, 200, False) from None
                raise DlcError(f"cannot lock the run folder {self.dir}: {e.strerror or e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    os.close(fd)
                    return  # a file system without locks (some network mounts): run unlocked
                holder = _read_holder(fd)
                deadline = time.monotonic() + 0.5
                while not _live_here(holder) and time.monotonic() < deadline:
                    time.sleep(0.01)  # the holder has just taken it and is writing its note
                    holder = _read_holder(fd)
                os.close(fd)
                raise self._in_use(holder) from None
            try:  # the file we locked may have been released and removed meanwhile
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            self.recovered = _read_holder(fd)  # what a process that died holding it wrote
            self.fd = fd
            self._write_holder()
            return
        raise DlcError(f"cannot lock the run folder {self.dir}: its lock file keeps changing")

    def _acquire_exclusive(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            try:
                with open(self.path, "rb") as f:
                    holder = _parse_holder(f.read())
            except OSError:
                return False
            raise self._in_use(holder, f" If no dlc process uses it, delete {self.path}.") from None
        self.fd = fd
        self._write_holder()
        return True

    def _write_holder(self) -> None:
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now().isoformat(timespec="seconds"),
            "argv": sys.argv[:8],
        }
        try:
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
            os.write(self.fd, json.dumps(record).encode("utf-8"))
        except OSError:  # a full disk: the lock holds all the same, without its note
            pass

    def _in_use(self, holder: dict | None, extra: str = "") -> DlcError:
        who = "another process"
        if holder:
            who = f"process {holder.get('pid')}"
            if holder.get("host") and holder.get("host") != socket.gethostname():
                who += f" on {holder.get('host')}"
            if holder.get("since"):
                who += f" (since {holder.get('since')})"
        return DlcError(
            f"the run folder {self.dir} is in use by {who}: one process at a time may write a run "
            f"folder (two would mix their records). Wait for it to end, or stop it, then try again.{extra}"
        )

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink()  # before unlocking: a process waiting on this file tries again
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def _live_here(holder: dict | None) -> bool:
    """Whether a lock's note names a running process (or one on another machine)."""
    from dlc.io import pid_alive

    if not holder or not isinstance(holder.get("pid"), int):
        return False
    return holder.get("host") != socket.gethostname() or pid_alive(holder["pid"])


def _read_holder(fd: int) -> dict | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return _parse_holder(os.read(fd, 4096))
    except OSError:
        return None


def _parse_holder(data: bytes) -> dict | None:
    try:
        holder = json.loads(data.decode("utf-8"))
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def _new_run_dir(base: Path, made: list[Path]) -> Path:
    """A new time-stamped folder under ``base``; ``made`` receives every folder created.
    Run folders that a killed run left without anything in them are removed first."""
    missing = [p for p in (base, *base.parents) if not p.exists()]
    try:
        base.mkdir(parents=True, exist_ok=True)
        made.extend(reversed(missing))
        _sweep_abandoned(base)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for i in range(1000):
            d = base / (stamp if i == 0 else f"{stamp}-{i}")
            try:
                d.mkdir()
                made.append(d)
                return d
            except FileExistsError:
                continue
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(base / "config.json", None, False) from None
        raise DlcError(
            f"cannot create a run folder under {base} ({e.strerror or e}); choose another place with --runs_dir"
        ) from None
    raise DlcError(f"could not create a new run folder under {base}: 1,000 already exist for this second")


ABANDONED_AFTER_S = 60.0  # a lock without a readable holder this old belongs to nobody


def _sweep_abandoned(base: Path) -> list[Path]:
    """Remove the run folders under ``base`` that a killed run left with nothing in them:
    no metrics record, no checkpoint, no figure -- only config.json (or its temporary
    file), an empty metrics.jsonl and the lock of a process that is gone. (A run that
    fails with an error removes its empty folder itself; a killed one cannot.)"""
    from dlc.io import TEMPORARY, pid_alive

    removed = []
    try:
        siblings = [d for d in base.iterdir() if d.is_dir() and not d.is_symlink()]
    except OSError:
        return removed
    for d in siblings:
        try:
            entries = list(d.iterdir())
            names = {p.name for p in entries}
            if RunLock.NAME not in names or not names <= {"config.json", "metrics.jsonl", RunLock.NAME} | {
                n for n in names if TEMPORARY.match(n)
            }:
                continue
            if (d / "metrics.jsonl").is_file() and (d / "metrics.jsonl").stat().st_size:
                continue
            lock = RunLock(d)
            try:
                lock.acquire()  # held: a live run that has just started
            except DlcError:
                continue
            holder = lock.recovered or {}
            pid = holder.get("pid")
            dead = isinstance(pid, int) and holder.get("host") == socket.gethostname() and not pid_alive(pid)
            old = time.time() - d.stat().st_mtime > ABANDONED_AFTER_S
            if not (dead or old):
                lock.release()
                continue
            for p in d.iterdir():
                if p.name != RunLock.NAME:
                    p.unlink()
            lock.release()
            d.rmdir()
            removed.append(d)
        except OSError:
            continue
    return removed


if "matplotlib" not in sys.modules:  # figures are written to files, never shown
    os.environ.setdefault("MPLBACKEND", "Agg")
