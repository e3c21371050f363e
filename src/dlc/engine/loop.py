"""The training loop: ``fit``, ``evaluate``, ``predict``.

``fit`` is the lecture's loop, with the batch's work handed to a *step*
(:mod:`dlc.engine.steps`)::

    for epoch in range(epochs):
        for batch in data.epoch(epoch):
            scores = step(batch)          # forward, loss, backward, optimizer step
            loop.record(scores)

Everything else a run needs comes from callbacks (:mod:`dlc.engine.callbacks`): the
progress bar, the metrics file, TensorBoard, checkpoints, early stopping, learning-rate
schedules, the curves figure. The loop itself only keeps its position (epoch, batch,
step), the epoch's running means, and what a checkpoint must hold to continue exactly.

Speed: in-memory tensors go to the device once and are sliced (no DataLoader), and the
loop does not wait for the device at each step: the scores stay on the device and are
read every ``sync_every`` steps for the progress bar, the metrics file and the NaN check.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterable
from typing import Any

import torch

from dlc.engine import checkpoint as ckpt
from dlc.engine import distributed
from dlc.engine.batches import batches
from dlc.engine.callbacks import Callback, standard_callbacks
from dlc.engine.steps import Step
from dlc.errors import DlcError, NonFiniteLoss


def fit(
    step: Step,
    train: Any,
    ctx=None,
    *,
    epochs: int,
    batch_size: int = 100,
    val: Any = None,
    val_name: str = "val",
    shuffle: bool = True,
    callbacks: Iterable[Callback] | None = None,
    name: str | None = None,
    sync_every: int = 50,
) -> list[dict]:
    """Train with ``step`` over ``train`` for ``epochs`` epochs; returns one record per epoch.

    train, val: a tuple of tensors of equal length (e.g. ``(inputs, targets)``) or a
        DataLoader; ``val`` is scored with ``step.evaluate`` at the end of each epoch, into
        ``<val_name>_<score>`` records: "val" for a validation set, "test" when a lab shows
        the test curve (then nothing is selected on it: checkpoints and early stopping
        watch the training loss unless told otherwise).
    ctx: the run (device, folder, rank); None: the CPU (or the models' device), nothing written.
    callbacks: None for the standard ones (:func:`~dlc.engine.callbacks.standard_callbacks`),
        else exactly those given (``[]`` for a quiet inner fit).
    name: for a lab that trains several models: prefix of their checkpoints, curves and
        TensorBoard folder, and a ``trainer`` field in their metrics records.
    """
    if epochs < 0:
        raise DlcError(f"epochs must be >= 0, got {epochs}")
    loop = Loop(
        step, ctx, name, epochs, sync_every, standard_callbacks(ctx, name) if callbacks is None else list(callbacks)
    )
    loop.data = batches(train, batch_size, shuffle, loop.device, loop.world.rank, loop.world.world_size)
    if val_name not in ("val", "test"):
        raise DlcError(f"val_name must be 'val' or 'test', got {val_name!r}")
    loop.val, loop.val_name = val, val_name
    loop.steps_per_epoch = loop.data.steps
    step.to(loop.device)
    step.distribute()
    loop.resume_if_possible()
    with loop.catch_interrupts():
        loop.start()
        while loop.epoch < epochs and not loop.should_stop:
            loop.emit("on_epoch_start", loop.epoch)
            step.train()
            for batch in loop.data.epoch(loop.order_seed, loop.epoch, start=loop.batch):
                scores = step(batch)
                loop.record(scores, len(batch[0]) if isinstance(batch, (tuple, list)) else len(batch))
                if loop.should_stop:  # a callback stopped it mid-epoch (a time limit)
                    break
            loop.end_epoch()
        loop.emit("on_fit_end", loop.history)
        if loop.interrupted:  # Ctrl-C while the fit was ending: the last checkpoint is the end
            raise KeyboardInterrupt
    return loop.history


@torch.no_grad()
def evaluate(step: Step, data: Any, ctx=None, batch_size: int = 1000) -> dict[str, float]:
    """The step's scores over ``data`` (means over every sample), and ``n`` the sample
    count; with a classification metric also ``correct``. Summed over every process."""
    device = ctx.device if ctx is not None else _device_of(step)
    world = ctx.world if ctx is not None else distributed.World()
    step.to(device)
    source = batches(data, batch_size, False, device, world.rank, world.world_size, "evaluate data")
    was_training = {k: m.training for k, m in step.models().items()}
    step.train(False)
    try:
        sums, keys = None, None
        for batch in source.epoch(0, 0):
            out = step.evaluate(batch)
            n = len(batch[0]) if isinstance(batch, (tuple, list)) else len(batch)
            keys = keys or list(out)
            v = torch.stack(
                [out[k].detach().double() for k in keys] + [torch.ones((), dtype=torch.float64, device=device)]
            )
            sums = v * n if sums is None else sums + v * n
    finally:
        for k, m in step.models().items():
            m.train(was_training[k])
    sums = distributed.all_sum(sums).tolist()
    n = sums[-1]
    scores: dict[str, Any] = {k: s / n for k, s in zip(keys, sums)}
    scores["n"] = round(n)
    if "error" in scores or "accuracy" in scores:
        acc = scores["accuracy"] if "accuracy" in scores else 1 - scores["error"]
        scores["correct"] = round(acc * n)
    return scores


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """``model``'s outputs for the inputs ``x``, in eval mode, batch by batch."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x[b : b + batch_size]) for b in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)


def _device_of(step: Step) -> torch.device:
    for m in step.models().values():
        for p in m.parameters():
            return p.device
    return torch.device("cpu")


class Loop:
    """The state of one fit: what callbacks read, and what a checkpoint holds."""

    def __init__(self, step: Step, ctx, name: str | None, epochs: int, sync_every: int, callbacks: list[Callback]):
        self.step, self.ctx, self.name, self.epochs = step, ctx, name, epochs
        self.device = ctx.device if ctx is not None else _device_of(step)
        self.world = ctx.world if ctx is not None else distributed.World()
        # checkpoints last: the state they save includes what the others did this epoch
        self.callbacks = sorted(callbacks, key=lambda c: type(c).__name__ == "Checkpoint")
        self._batch_hooks = [c for c in self.callbacks if type(c).on_batch_end is not Callback.on_batch_end]
        self.sync_every = max(int(sync_every), 1)
        # every fit of a run has its own checkpoint file: "<name>-last-fit<k>.pt" from k = 2
        self.fit_index = ctx.next_fit_index(name) if ctx is not None else 1
        self.order_seed = int(torch.randint(0, 2**62, (1,)))
        self.epoch = self.batch = self.step_count = self.samples_seen = 0
        self.history: list[dict] = []
        self.should_stop = self.resumed = self.interrupted = False
        self.keys: list[str] | None = None
        self.sums: torch.Tensor | None = None  # the epoch's sums of value x batch size
        self.count = 0  # and its samples (this process's)
        self.epoch_time = 0.0
        self.lr = self._lr()
        self._pending: list[torch.Tensor] = []
        self._t0 = self._last_sync = time.perf_counter()
        self._last_finite: tuple[int, float] | None = None

    # -- callbacks -------------------------------------------------------------------
    def emit(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def _lr(self) -> float | None:
        opts = list(self.step.optimizers().values())
        return opts[0].param_groups[0]["lr"] if opts else None

    # -- one step, one epoch -------------------------------------------------------------
    def record(self, scores: dict[str, torch.Tensor], n: int) -> None:
        """Add a step's scores to the epoch's sums (on the device: no waiting)."""
        if self.keys is None:
            self.keys = list(scores)
        v = torch.stack([scores[k].detach().reshape(()) for k in self.keys])
        if self.sums is None:
            self.sums = v.double() * n
        else:
            self.sums.add_(v, alpha=n)
        self.count += n
        self.samples_seen += n * self.world.world_size
        self.step_count += 1
        self.batch += 1
        self._pending.append(v)
        for cb in self._batch_hooks:
            cb.on_batch_end(self, self.step_count)
        now = time.perf_counter()
        if len(self._pending) >= self.sync_every or (not self.world.distributed and now - self._last_sync > 1.0):
            self.sync()
        if self.interrupted:
            self.stop_on_interrupt()

    def end_epoch(self) -> None:
        """Close the epoch: its record (means over every sample and process), validation, hooks."""
        self.sync()
        self.epoch_time += time.perf_counter() - self._t0
        t0 = time.perf_counter()
        record: dict[str, Any] = {"epoch": self.epoch + 1}
        n = 0
        if self.sums is not None:
            *sums, n = distributed.all_sum(torch.cat((self.sums, self.sums.new_full((1,), self.count)))).tolist()
            record.update({f"train_{k}": s / n for k, s in zip(self.keys, sums)})
        if self.val is not None:
            scores = evaluate(self.step, self.val, self.ctx)
            record.update({f"{self.val_name}_{k}": v for k, v in scores.items() if k not in ("n", "correct")})
        record["lr"] = self.lr
        record["samples_per_s"] = n / max(self.epoch_time, 1e-9)
        record["time_s"] = self.epoch_time + (time.perf_counter() - t0)
        self.history.append(record)
        self.epoch += 1
        self.batch, self.sums, self.count, self.epoch_time = 0, None, 0, 0.0
        self.emit("on_epoch_end", record)
        self.lr = self._lr()
        if self.interrupted:
            self.stop_on_interrupt()
        self._t0 = time.perf_counter()

    def sync(self) -> None:
        """Read the pending step scores back from the device: check them, log them."""
        if not self._pending:
            return
        first = self.step_count - len(self._pending) + 1
        rows = torch.stack(self._pending).tolist()
        self._pending.clear()
        self._last_sync = time.perf_counter()
        steps, logged = [], []
        for s, row in enumerate(rows, first):
            values = dict(zip(self.keys, row))
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            if bad:
                if steps:
                    self.emit("on_steps_logged", steps, logged)
                raise self._non_finite(s, bad[0], values[bad[0]])
            steps.append(s)
            logged.append(values)
        self._last_finite = (steps[-1], logged[-1])
        self.emit("on_steps_logged", steps, logged)

    def _non_finite(self, step: int, key: str, value: float) -> NonFiniteLoss:
        last = (
            f"the last finite {key} was {self._last_finite[1][key]:.6g} at step {self._last_finite[0]}"
            if self._last_finite
            else "no step had a finite value"
        )
        where = f"step {step} (epoch {self.epoch + 1}, batch {self.batch - (self.step_count - step)})"
        p = self.checkpoint_path()
        kept = ""
        if p is not None:
            kept = f" The last good checkpoint is kept: {p}." if p.is_file() else " No checkpoint had been written yet."
        return NonFiniteLoss(
            f"the training {key} became {value} at {where}; {last}.{kept} Try a lower "
            f"learning rate (e.g. --lr divided by 10), gradient clipping, or check the "
            f"inputs for NaN and their scale."
        )

    # -- checkpoints -------------------------------------------------------------------
    def checkpoint_path(self, kind: str = "last"):
        """``<run>/checkpoints/[<name>-]<kind>[-fit<k>].pt`` (None without a run folder)."""
        if self.ctx is None:
            return None
        stem = f"{self.name}-{kind}" if self.name else kind
        if self.fit_index > 1:
            stem += f"-fit{self.fit_index}"
        return self.ctx.dir / "checkpoints" / f"{stem}.pt"

    def state_dict(self) -> dict:
        """Everything needed to continue this fit exactly where it is now."""
        return {
            "format": ckpt.FORMAT,
            "version": ckpt.VERSION,
            "lab": self.ctx.lab if self.ctx else None,
            "identity": self.ctx.checkpoint_identity() if self.ctx is not None else {},
            "name": self.name,
            "fit": self.fit_index,
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.step_count,
            "epochs": self.epochs,
            "samples_seen": self.samples_seen,
            "order_seed": self.order_seed,
            "finished": self.epoch >= self.epochs or self.should_stop,
            "should_stop": self.should_stop,
            "step_state": self.step.state_dict(),
            "callbacks": {key: c.state_dict() for key, c in self._keyed_callbacks()},
            "history": self.history,
            "keys": self.keys,
            # the epoch so far, per process (each rank's own part of every batch)
            "sums": distributed.gather_objects(self.sums.cpu() if self.sums is not None else None),
            "count": distributed.gather_objects(self.count),
            "epoch_time": self.epoch_time + (time.perf_counter() - self._t0),
            "lr": self.lr,
            "rng": distributed.gather_objects(ckpt.rng_state()),
            "log_position": self.ctx.log_position if self.ctx is not None else 0,
        }

    def save_checkpoint(self):
        """Write the resumable checkpoint (rank 0), after checking the scores and weights
        are finite; every rank must call it (their random states are gathered)."""
        self.sync()
        bad = self.step.parameters_finite()
        if bad:
            raise NonFiniteLoss(
                f"the weights ({bad}) became NaN or infinite by step {self.step_count} "
                f"although the losses were finite; the checkpoint was not overwritten. "
                f"Try a lower learning rate or gradient clipping."
            )
        state = self.state_dict()
        path = self.checkpoint_path()
        if self.world.is_main and path is not None:
            self.ctx.commit_config()  # a resumed run with more epochs: config.json says so now
            ckpt.save(state, path)
        return path

    def _keyed_callbacks(self) -> list[tuple[str, Callback]]:
        """Callbacks named by class and rank among their class ("EarlyStopping:0")."""
        seen: dict[str, int] = {}
        out = []
        for cb in self.callbacks:
            name = type(cb).__name__
            out.append((f"{name}:{seen.get(name, 0)}", cb))
            seen[name] = seen.get(name, 0) + 1
        return out

    def resume_if_possible(self) -> None:
        """In a resumed run, continue from this fit's checkpoint if it wrote one, once it
        is shown to be this run's (:func:`dlc.engine.checkpoint.check_resumable`)."""
        if self.ctx is None or self.ctx.resume is None:
            return
        path = self.checkpoint_path()
        if not path.is_file():
            return
        state = ckpt.load_resumable(path, self.ctx.checkpoint_identity(), self.name, self.fit_index)
        if state["batch"] > self.steps_per_epoch:
            raise DlcError(
                f"cannot resume from {path}: it stopped at batch {state['batch']} of an "
                f"epoch, but this run has {self.steps_per_epoch} batches per epoch; "
                f"resume with the same data size and batch size"
            )
        if state["epoch"] > self.epochs:
            raise DlcError(
                f"cannot resume from {path}: that fit has already trained {state['epoch']} epochs "
                f"(of {state['epochs']}), more than the {self.epochs} asked now; a run cannot be "
                f"shortened: resume with at least {state['epoch']} epochs"
            )
        if state["epochs"] != self.epochs and any(type(c).__name__ == "LRSchedule" for c in self.callbacks):
            raise DlcError(
                f"cannot resume from {path} with {self.epochs} epochs: that fit's learning-rate "
                f"schedule was laid out over {state['epochs']} epochs and cannot be stretched; "
                f"resume with {state['epochs']} epochs, or start a new run"
            )
        try:
            self.step.load_state_dict(state["step_state"])
            sums, self.count = self._own_part(state["sums"], state["count"])
            self.sums = sums.to(self.device) if sums is not None else None
            rng = state["rng"]
            ckpt.set_rng_state(rng[min(self.world.rank, len(rng) - 1)])
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
            raise DlcError(
                f"cannot resume from {path}: what it holds does not fit this run's models and "
                f"optimizers ({type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}); "
                f"move it away (or delete it) to start that part of the run again"
            ) from None
        self._resume_step = state["step_state"]
        self.epoch, self.batch, self.step_count = state["epoch"], state["batch"], state["step"]
        self.samples_seen, self.should_stop = state["samples_seen"], state["should_stop"]
        self.order_seed, self.history, self.keys = state["order_seed"], list(state["history"]), state["keys"]
        self.epoch_time, self.lr = state["epoch_time"], state["lr"]
        saved = state["callbacks"]
        self._resume_callbacks = {key: saved[key] for key, _ in self._keyed_callbacks() if key in saved}
        self.resumed = True
        self.ctx.seek_log(state["log_position"])

    def _own_part(self, sums: list, counts: list) -> tuple[torch.Tensor | None, int]:
        """This process's share of the saved epoch sums: its own with as many processes as
        when saved (exact), else rank 0 takes them all (the epoch's means are the same)."""
        if len(sums) == self.world.world_size:
            return sums[self.world.rank], int(counts[self.world.rank])
        if not self.world.is_main:
            return None, 0
        present = [t for t in sums if t is not None]
        return (torch.stack(present).sum(0) if present else None), int(sum(counts))

    def start(self) -> None:
        """on_fit_start, then (resuming) the callbacks' saved state, which may belong to
        what on_fit_start built (a scheduler), and the step's state again: a scheduler
        built by on_fit_start resets its optimizer's learning rate."""
        self.emit("on_fit_start")
        for key, cb in self._keyed_callbacks():
            if key in getattr(self, "_resume_callbacks", {}):
                cb.load_state_dict(self._resume_callbacks[key])
        if self.resumed:
            self.step.load_state_dict(self._resume_step)
        elif self.batch == 0:
            self.lr = self._lr()  # the rate a scheduler built just now starts from

    # -- Ctrl-C: finish the step, save, then stop -------------------------------------------
    @contextlib.contextmanager
    def catch_interrupts(self):
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                self.interrupted = True
                signal.signal(signal.SIGINT, previous)  # a second Ctrl-C stops at once

            signal.signal(signal.SIGINT, handler)
        self._t0 = time.perf_counter()
        try:
            yield
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            self.emit("on_teardown")

    def stop_on_interrupt(self) -> None:
        self.interrupted = False
        path = self.save_checkpoint() if any(type(c).__name__ == "Checkpoint" for c in self.callbacks) else None
        if path is not None and self.ctx is not None:
            self.ctx.print(f"\ninterrupted at step {self.step_count}; checkpoint saved: {path}")
        raise KeyboardInterrupt
