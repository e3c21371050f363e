"""The training loop every lab shares: ``fit``, ``evaluate``, ``predict``.

At its heart ``Trainer.fit`` is the lecture's loop::

    for e in range(epochs):
        for b in range(0, n, batch_size):
            output = model(x[b:b + batch_size])
            loss = criterion(output, y[b:b + batch_size])
            model.zero_grad(); loss.backward(); optimizer.step()

Around it, through callbacks (:mod:`dlc.engine.callbacks`), come what a run needs: a
progress bar, the metrics file, TensorBoard, checkpoints, early stopping, learning-rate
schedules; and, in the trainer itself, resuming an interrupted run exactly, mixed
precision on CUDA, and a clear stop when the loss becomes NaN or infinite
(:class:`dlc.errors.NonFiniteLoss`, which a sweep can catch to record a divergence).

Speed: in-memory tensors go to the device once and are sliced by index (no DataLoader);
the loop does not wait for the device at each step: batch losses stay on the device and
are read every ``sync_every`` steps (or each second) for the progress bar, the metrics
file and the NaN check.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.nn.functional as F

from dlc.engine import checkpoint as ckpt
from dlc.engine.callbacks import (Callback, Checkpoint, MetricsLogger, ProgressBar,
                                  TensorBoard)
from dlc.errors import DlcError, NonFiniteLoss

DEFAULT_CHECKPOINT_EVERY = 500  # steps between mid-epoch checkpoints (besides every epoch)


# -- losses and metrics -------------------------------------------------------------------

def _as_output_shape(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Targets for regression-style losses: same shape and dtype as the output."""
    if target.shape != output.shape and target.numel() == output.numel():
        target = target.reshape(output.shape)
    return target.to(output.dtype)


def _mse(output, target):
    return F.mse_loss(output, _as_output_shape(target, output))


def _bce_with_logits(output, target):
    return F.binary_cross_entropy_with_logits(output, _as_output_shape(target, output))


LOSSES: dict[str, Callable] = {
    "cross_entropy": F.cross_entropy,
    "mse": _mse,
    "bce_with_logits": _bce_with_logits,
}


def predicted_classes(output: torch.Tensor) -> torch.Tensor:
    """Class indices from a model output: argmax over classes, or sign for one logit."""
    if output.dim() == 1 or (output.dim() == 2 and output.shape[1] == 1):
        return (output.reshape(-1) > 0).long()
    return output.argmax(1)


def target_classes(target: torch.Tensor) -> torch.Tensor:
    """Class indices from targets given as indices, 0/1 values or one-hot rows."""
    if target.dim() == 2 and target.shape[1] > 1:
        return target.argmax(1)
    return target.reshape(-1).long()


def count_correct(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Number of correctly classified samples, as a tensor on the device (no sync)."""
    return (predicted_classes(output) == target_classes(target)).sum()


# -- data sources: in-memory tensors or a DataLoader -------------------------------------

class _TensorBatches:
    """(inputs, targets) already in memory: moved to the device once, sliced per batch.

    Without shuffling a batch is a view (``narrow``), as in the lecture; with shuffling
    the epoch's permutation comes from the trainer's own generator, whose state at the
    start of the epoch is enough to rebuild the same order when resuming.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool,
                 device: torch.device, generator: torch.Generator):
        self.x, self.y = x.to(device), y.to(device)
        self.n, self.batch_size, self.shuffle = len(x), batch_size, shuffle
        self.generator = generator
        self.steps = math.ceil(self.n / batch_size)

    def epoch_state(self) -> Any:
        return self.generator.get_state() if self.shuffle else None

    def in_order(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y, bs, n = self.x, self.y, self.batch_size, self.n
        return ((x.narrow(0, b, min(bs, n - b)), y.narrow(0, b, min(bs, n - b))) for b in range(0, n, bs))

    def iterate(self, state: Any, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y, bs, n = self.x, self.y, self.batch_size, self.n
        if not self.shuffle:
            return ((x.narrow(0, b, min(bs, n - b)), y.narrow(0, b, min(bs, n - b)))
                    for b in range(start * bs, n, bs))
        self.generator.set_state(state)
        order = torch.randperm(n, generator=self.generator).to(x.device)
        return ((x[i], y[i]) for i in (order[b:b + bs] for b in range(start * bs, n, bs)))


class _LoaderBatches:
    """Batches from a DataLoader; the epoch's order is fixed by the random states at the
    moment its iterator is made, so resuming remakes it from those states and skips
    the batches already done."""

    def __init__(self, loader: Iterable, device: torch.device):
        self.loader, self.device = loader, device
        self.steps = len(loader)
        self.n = len(loader.dataset) if hasattr(loader, "dataset") else None
        self.non_blocking = device.type == "cuda"

    def epoch_state(self) -> Any:
        g = getattr(self.loader, "generator", None)
        return {"torch": torch.get_rng_state(), "loader": g.get_state() if g is not None else None}

    def iterate(self, state: Any, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        torch.set_rng_state(state["torch"])
        g = getattr(self.loader, "generator", None)
        if g is not None and state["loader"] is not None:
            g.set_state(state["loader"])
        it = iter(self.loader)  # draws the epoch's order now, from the states just set
        for _ in range(start):
            next(it)
        return (self._to_device(batch) for batch in it)

    def in_order(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return (self._to_device(batch) for batch in self.loader)

    def _to_device(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise DlcError("a DataLoader given to the Trainer must yield (inputs, targets) pairs; "
                           f"it yielded {type(batch).__name__}")
        x, y = batch
        return x.to(self.device, non_blocking=self.non_blocking), y.to(self.device, non_blocking=self.non_blocking)


def _batches(data: Any, batch_size: int, shuffle: bool, device: torch.device,
             generator: torch.Generator, what: str):
    if isinstance(data, (tuple, list)):
        if len(data) != 2 or not all(isinstance(t, torch.Tensor) for t in data):
            raise DlcError(f"{what} must be an (inputs, targets) pair of tensors or a DataLoader; "
                           f"got a {type(data).__name__} of {len(data)} items")
        x, y = data
        if len(x) != len(y):
            raise DlcError(f"{what}: {len(x)} inputs but {len(y)} targets; they must match")
        if len(x) == 0:
            raise DlcError(f"{what} is empty")
        if batch_size < 1:
            raise DlcError(f"batch_size must be >= 1, got {batch_size}")
        return _TensorBatches(x, y, batch_size, shuffle, device, generator)
    if isinstance(data, torch.utils.data.DataLoader):
        return _LoaderBatches(data, device)
    raise DlcError(f"{what} must be an (inputs, targets) pair of tensors or a DataLoader, "
                   f"not {type(data).__name__}")


# -- the trainer ----------------------------------------------------------------------------

class Trainer:
    """Train ``model`` with ``optimizer`` in the run ``ctx``.

    loss: "cross_entropy" | "mse" | "bce_with_logits" | callable(output, target) -> mean loss.
    metric: "error" | "accuracy" | None; "auto" (default) means "error", except None
        for "mse". Classes are the argmax of the output (or its sign for one logit).
    scheduler: a torch.optim.lr_scheduler, stepped once per epoch
        (``scheduler_interval="step"``: once per batch).
    callbacks: extra :class:`~dlc.engine.callbacks.Callback` objects, e.g. EarlyStopping.
    name: for a lab that trains several models: prefix of its checkpoints, curves and
        TensorBoard folder, and a ``trainer`` field in its metrics records.
    progress: None = a progress bar unless the run is quiet; tensorboard, checkpoints,
        plot (the curves PNG at the end of fit): turn off for many small inner fits.
    amp: mixed precision (autocast + GradScaler), used on CUDA only.
    grad_clip: clip the gradient norm to this value at each step.
    checkpoint_every: steps between mid-epoch checkpoints (default 500, or
        $DLC_CHECKPOINT_EVERY); checkpoints are also written at the end of every epoch.
    sync_every: how often (in steps) the loop reads the losses back from the device.

    ``ctx`` may be None (a notebook or a benchmark): then nothing is written.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, ctx=None, *,
                 loss: str | Callable = "cross_entropy", metric: str | None = "auto",
                 scheduler: Any = None, callbacks: Iterable[Callback] = (), name: str | None = None,
                 progress: bool | None = None, tensorboard: bool = True, checkpoints: bool = True,
                 plot: bool = True, amp: bool = False, grad_clip: float | None = None,
                 scheduler_interval: str = "epoch", checkpoint_every: int | None = None,
                 sync_every: int = 50):
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise DlcError(f"unknown loss {loss!r}; use one of {sorted(LOSSES)} or a function "
                               f"(output, target) -> scalar")
            self.loss_name, self.loss_fn = loss, LOSSES[loss]
        elif callable(loss):
            self.loss_name, self.loss_fn = getattr(loss, "__name__", "loss"), loss
        else:
            raise DlcError(f"loss must be a name or a function, not {type(loss).__name__}")
        if metric == "auto":
            metric = None if loss == "mse" else "error"
        if metric not in ("error", "accuracy", None):
            raise DlcError(f"metric must be 'error', 'accuracy' or None, got {metric!r}")
        if scheduler_interval not in ("epoch", "step"):
            raise DlcError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        self.model, self.optimizer, self.ctx = model, optimizer, ctx
        self.metric, self.scheduler, self.name = metric, scheduler, name
        self.scheduler_interval = scheduler_interval
        self.device = ctx.device if ctx is not None else next(
            (p.device for p in model.parameters()), torch.device("cpu"))
        self.model.to(self.device)
        self.grad_clip = grad_clip
        self.amp = bool(amp) and self.device.type == "cuda"
        if amp and not self.amp and ctx is not None:
            ctx.print("note: amp (mixed precision) is used on CUDA only; training in float32")
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        self.sync_every = max(int(sync_every), 1)
        self.plot = plot

        if checkpoint_every is None:
            checkpoint_every = int(os.environ.get("DLC_CHECKPOINT_EVERY", DEFAULT_CHECKPOINT_EVERY))
        user = list(callbacks)
        have = {type(c) for c in user}
        quiet = ctx is None or ctx.quiet
        defaults: list[Callback] = []
        if (progress if progress is not None else not quiet) and ProgressBar not in have:
            defaults.append(ProgressBar())
        if ctx is not None:
            if MetricsLogger not in have:
                defaults.append(MetricsLogger())
            if tensorboard and TensorBoard not in have:
                defaults.append(TensorBoard())
        self.checkpoints = checkpoints and ctx is not None
        ckpt_cbs = [c for c in user if isinstance(c, Checkpoint)]
        user = [c for c in user if not isinstance(c, Checkpoint)]
        if self.checkpoints and not ckpt_cbs:
            ckpt_cbs = [Checkpoint(every=checkpoint_every)]
        # checkpoints last: the state they save includes what the others did this epoch
        self.callbacks: list[Callback] = user + defaults + ckpt_cbs
        self._batch_hooks = [c for c in self.callbacks
                             if type(c).on_batch_end is not Callback.on_batch_end]

        self.history: list[dict] = []
        self.epochs = 0
        self.epoch = 0          # the epoch being trained (from 0)
        self.batch = 0          # the next batch of that epoch
        self.step = 0           # optimizer steps since the start of the fit
        self.steps_per_epoch = 0
        self.samples_seen = 0
        self.should_stop = False
        self.resumed = False
        self._fits = 0
        self._order = torch.Generator()
        self._pending: list[torch.Tensor] = []
        self._pending_from = 1
        self._last_finite: tuple[int, float] | None = None
        self._interrupted = False

    # -- paths ------------------------------------------------------------------------
    def checkpoint_path(self, kind: str = "last") -> Path:
        """``<run>/checkpoints/[<name>-]<kind>[-fit<k>].pt``"""
        if self.ctx is None:
            raise DlcError("this trainer has no run folder (ctx=None), so no checkpoints")
        stem = f"{self.name}-{kind}" if self.name else kind
        if self._fits > 1:
            stem += f"-fit{self._fits}"
        return self.ctx.dir / "checkpoints" / f"{stem}.pt"

    # -- fit --------------------------------------------------------------------------
    def fit(self, train: Any, epochs: int = 10, batch_size: int = 100, val: Any = None,
            shuffle: bool = True) -> list[dict]:
        """Train for ``epochs`` epochs; returns the history (one dict per epoch)."""
        if epochs < 0:
            raise DlcError(f"epochs must be >= 0, got {epochs}")
        self._fits += 1
        self.history, self.epochs = [], epochs
        self.epoch = self.batch = self.step = self.samples_seen = 0
        self.should_stop = self.resumed = False
        self._last_finite = None
        self._order.manual_seed(int(torch.randint(0, 2**62, (1,))))
        self.data = _batches(train, batch_size, shuffle, self.device, self._order, "train")
        self.val = val
        self.steps_per_epoch = self.data.steps
        self._acc = self._new_accumulators()
        self._epoch_state = None
        self._epoch_lr = self.optimizer.param_groups[0]["lr"]

        state = self._resume_state()
        if state is not None:
            self._restore_trainer(state)
        try:
            with self._catch_sigint():
                for cb in self.callbacks:
                    cb.on_fit_start(self)
                if state is not None:
                    self._restore_rest(state)
                    batches = self._resume_batches(state)
                    ckpt.set_rng_state(state["rng"])
                else:
                    batches = None
                while self.epoch < self.epochs and not self.should_stop:
                    self._run_epoch(batches)
                    batches = None
                    if self._interrupted:  # Ctrl-C during the epoch's end
                        self._stop_on_interrupt()
                for cb in self.callbacks:
                    cb.on_fit_end(self, self.history)
        finally:
            for cb in self.callbacks:
                cb.on_teardown(self)
        if self.plot and self.ctx is not None and self.history:
            self._save_curves()
        return self.history

    def _new_accumulators(self) -> dict:
        z = torch.zeros((), device=self.device)
        return {"loss": z.clone(), "correct": torch.zeros((), dtype=torch.long, device=self.device),
                "n": 0, "time": 0.0}

    def _run_epoch(self, batches: Iterator | None) -> None:
        if batches is None:  # a fresh epoch (not a resumed one)
            self.batch, self._acc = 0, self._new_accumulators()
            self._epoch_state = self.data.epoch_state()
            batches = self.data.iterate(self._epoch_state)
            self._epoch_lr = self.optimizer.param_groups[0]["lr"]
        for cb in self.callbacks:
            cb.on_epoch_start(self, self.epoch)
        acc, model, opt, loss_fn = self._acc, self.model, self.optimizer, self.loss_fn
        count = self.metric is not None
        model.train()
        t0 = last_sync = time.perf_counter()
        for x, y in batches:
            with self._autocast():
                output = model(x)
                loss = loss_fn(output, y)
            opt.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                if self.grad_clip:
                    self.scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                self.scaler.step(opt)
                self.scaler.update()
            else:
                loss.backward()
                if self.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                opt.step()
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()

            n = len(x)
            loss = loss.detach()
            acc["loss"] += loss.float() * n
            if count:
                acc["correct"] += count_correct(output.detach(), y)
            acc["n"] += n
            self.samples_seen += n
            self.step += 1
            self.batch += 1
            if not self._pending:
                self._pending_from = self.step
            self._pending.append(loss)
            for cb in self._batch_hooks:
                cb.on_batch_end(self, self.step, loss)
            if len(self._pending) >= self.sync_every or time.perf_counter() - last_sync > 1.0:
                self.sync()
                last_sync = time.perf_counter()
            if self._interrupted:
                acc["time"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                self._stop_on_interrupt()
        self.sync()
        acc["time"] += time.perf_counter() - t0
        self._end_epoch()

    def _end_epoch(self) -> None:
        acc = self._acc
        t0 = time.perf_counter()
        n = acc["n"]
        record: dict[str, Any] = {"epoch": self.epoch + 1, "train_loss": acc["loss"].item() / n}
        if self.metric == "error":
            record["train_error"] = 1.0 - acc["correct"].item() / n
        elif self.metric == "accuracy":
            record["train_accuracy"] = acc["correct"].item() / n
        if self.val is not None:
            scores = self.evaluate(self.val)
            record["val_loss"] = scores["loss"]
            if self.metric is not None:
                record[f"val_{self.metric}"] = scores[self.metric]
        record["lr"] = self._epoch_lr
        record["samples_per_s"] = n / max(acc["time"], 1e-9)
        record["time_s"] = acc["time"] + (time.perf_counter() - t0)
        self.history.append(record)
        self.epoch += 1
        self.batch = 0
        self._epoch_state = None
        self._acc = self._new_accumulators()
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        for cb in self.callbacks:
            cb.on_epoch_end(self, record)

    def sync(self) -> None:
        """Read the pending batch losses back from the device: log them, check them."""
        if not self._pending:
            return
        losses = torch.stack(self._pending).float().tolist()
        steps = list(range(self._pending_from, self._pending_from + len(losses)))
        self._pending.clear()
        for s, v in zip(steps, losses):
            if not math.isfinite(v):
                good = [(t, w) for t, w in zip(steps, losses) if t < s]
                if good:
                    self._last_finite = good[-1]
                    self._log_steps(*map(list, zip(*good)))
                raise self._non_finite_error(s, v)
        self._last_finite = (steps[-1], losses[-1])
        self._log_steps(steps, losses)

    def _log_steps(self, steps: list[int], losses: list[float]) -> None:
        for cb in self.callbacks:
            cb.on_steps_logged(self, steps, losses)

    def _non_finite_error(self, step: int, value: float) -> NonFiniteLoss:
        last = (f"the last finite loss was {self._last_finite[1]:.6g} at step {self._last_finite[0]}"
                if self._last_finite else "no step had a finite loss")
        # pending losses never span an epoch's end, so the step's batch is counted back
        where = f"step {step} (epoch {self.epoch + 1}, batch {self.batch - (self.step - step)})"
        kept = ""
        if self.checkpoints:
            p = self.checkpoint_path("last")
            kept = (f" The last good checkpoint is kept: {p}." if p.is_file()
                    else " No checkpoint had been written yet.")
        return NonFiniteLoss(
            f"the training loss became {value} at {where}; {last}.{kept} "
            f"Try a lower learning rate (e.g. --lr divided by 10), gradient clipping "
            f"(Trainer(grad_clip=1.0)), or check the inputs for NaN and their scale.")

    def _autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    # -- checkpoints and resume ----------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue this fit exactly where it is now."""
        return {
            "version": 1, "name": self.name, "fit": self._fits,
            "epoch": self.epoch, "batch": self.batch, "step": self.step,
            "epochs": self.epochs, "samples_seen": self.samples_seen,
            "finished": self.epoch >= self.epochs or self.should_stop,
            "should_stop": self.should_stop,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "callbacks": {key: c.state_dict() for key, c in self._keyed_callbacks()},
            "history": self.history,
            "acc": {"loss": self._acc["loss"], "correct": self._acc["correct"],
                    "n": self._acc["n"], "time": self._acc["time"]},
            "epoch_state": self._epoch_state, "epoch_lr": self._epoch_lr,
            "order": self._order.get_state(),
            "last_finite": list(self._last_finite) if self._last_finite else None,
            "rng": ckpt.rng_state(),
            "log_position": self.ctx.log_position if self.ctx is not None else 0,
        }

    def save_checkpoint(self) -> Path:
        """Write the resumable checkpoint (after checking the pending losses are finite)."""
        self.sync()
        for name, p in self.model.named_parameters():
            if not torch.isfinite(p).all():
                raise DlcError(
                    f"the weights ({name}) became NaN or infinite by step {self.step} although "
                    f"the losses were finite; the checkpoint was not overwritten. Try a lower "
                    f"learning rate or gradient clipping (Trainer(grad_clip=1.0)).")
        return ckpt.save(self.state_dict(), self.checkpoint_path("last"))

    def _keyed_callbacks(self) -> list[tuple[str, Callback]]:
        """Callbacks named by class and rank among their class ("EarlyStopping:0"), so
        that adding a stateless callback does not change which state goes where."""
        seen: dict[str, int] = {}
        out = []
        for cb in self.callbacks:
            name = type(cb).__name__
            out.append((f"{name}:{seen.get(name, 0)}", cb))
            seen[name] = seen.get(name, 0) + 1
        return out

    def _resume_state(self) -> dict | None:
        if self.ctx is None or self.ctx.resume is None or not self.checkpoints:
            return None
        path = self.checkpoint_path("last")
        if not path.is_file():
            return None
        state = ckpt.load(path)
        if state.get("batch", 0) > self.steps_per_epoch:
            raise DlcError(f"cannot resume from {path}: it stopped at batch {state['batch']} of an "
                           f"epoch, but this run has {self.steps_per_epoch} batches per epoch; "
                           f"resume with the same data size and batch size")
        return state

    def _restore_trainer(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        self.samples_seen, self.should_stop = state["samples_seen"], state["should_stop"]
        self.history = list(state["history"])
        acc = state["acc"]
        self._acc = {"loss": acc["loss"].to(self.device), "correct": acc["correct"].to(self.device),
                     "n": acc["n"], "time": acc["time"]}
        self._epoch_state = state["epoch_state"]
        self._epoch_lr = state["epoch_lr"]
        self._order.set_state(state["order"].cpu())
        self._last_finite = tuple(state["last_finite"]) if state["last_finite"] else None
        self.resumed = True
        if self.ctx is not None:
            self.ctx.seek_log(state["log_position"])

    def _restore_rest(self, state: dict) -> None:
        """After on_fit_start (which may build schedulers): optimizer, schedulers, callbacks."""
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        saved = state["callbacks"]
        for key, cb in self._keyed_callbacks():
            if key in saved:
                cb.load_state_dict(saved[key])

    def _resume_batches(self, state: dict) -> Iterator | None:
        """The rest of the interrupted epoch, in the same order as before."""
        if state["epoch_state"] is None or self.epoch >= self.epochs:
            return None
        es = state["epoch_state"]
        if isinstance(es, torch.Tensor):
            es = es.cpu()
        elif isinstance(es, dict):
            es = {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in es.items()}
        self._epoch_state = es
        return self.data.iterate(es, start=self.batch)

    # -- Ctrl-C: finish the step, save, then stop -------------------------------------------
    @contextlib.contextmanager
    def _catch_sigint(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            self._interrupted = True
            signal.signal(signal.SIGINT, previous)  # a second Ctrl-C stops at once

        self._interrupted = False
        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _stop_on_interrupt(self) -> None:
        self._interrupted = False
        if self.checkpoints:
            path = self.save_checkpoint()
            if self.ctx is not None:
                self.ctx.print(f"\ninterrupted at step {self.step}; checkpoint saved: {path}")
        raise KeyboardInterrupt

    # -- evaluate and predict --------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, data: Any, batch_size: int = 1000) -> dict:
        """Mean loss and, for classification, error/accuracy and the correct count."""
        source = _batches(data, batch_size, False, self.device, self._order, "evaluate data")
        was_training = self.model.training
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        n = 0
        try:
            for x, y in source.in_order():
                with self._autocast():
                    output = self.model(x)
                    loss_sum += self.loss_fn(output, y).float() * len(x)
                if self.metric is not None:
                    correct += count_correct(output, y)
                n += len(x)
        finally:
            self.model.train(was_training)
        scores: dict[str, Any] = {"loss": loss_sum.item() / n, "n": n}
        if self.metric is not None:
            c = int(correct.item())
            scores.update(correct=c, error=1.0 - c / n, accuracy=c / n)
        return scores

    @torch.no_grad()
    def predict(self, x: Any, batch_size: int = 1000) -> torch.Tensor:
        """The model's outputs for inputs ``x`` (a tensor, or a DataLoader of inputs or pairs)."""
        was_training = self.model.training
        self.model.eval()
        try:
            if isinstance(x, torch.Tensor):
                x = x.to(self.device)
                chunks = (x[b:b + batch_size] for b in range(0, len(x), batch_size))
            else:
                chunks = ((b[0] if isinstance(b, (tuple, list)) else b).to(self.device) for b in x)
            outs = []
            for c in chunks:
                with self._autocast():
                    outs.append(self.model(c).float() if self.amp else self.model(c))
            return torch.cat(outs)
        finally:
            self.model.train(was_training)

    # -- the curves figure -------------------------------------------------------------
    def _save_curves(self) -> Path:
        fig = training_curves(self.history, self.metric, title=self.name or "")
        return self.ctx.save_figure(fig, f"{self.name}-curves" if self.name else "curves")


def training_curves(history: list[dict], metric: str | None = "error", title: str = ""):
    """Loss (left) and error or accuracy (right) per epoch, training and validation."""
    import matplotlib.pyplot as plt

    panels = ["loss"] + ([metric] if metric else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    epochs = [r["epoch"] for r in history]
    for ax, what in zip(axes[0], panels):
        for split in ("train", "val"):
            key = f"{split}_{what}"
            if key in history[0]:
                ax.plot(epochs, [r[key] for r in history], marker="o", markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        if what == "loss" and all(r["train_loss"] > 0 for r in history):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(wspace=0.3)  # (no tight_layout: save_figure crops the margins anyway)
    return fig
