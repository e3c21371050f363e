"""Callbacks: small hook objects that add behaviour around the training loop.

The loop (:class:`dlc.engine.Trainer`) calls each hook at its moment; every hook of
:class:`Callback` does nothing, so a callback overrides only what it needs. A callback
that has state (a best score, a patience counter, a scheduler) returns it from
``state_dict`` so that it travels in the checkpoint and a resumed run continues exactly.

Hooks, in the order the loop calls them::

    on_fit_start(trainer)
      on_epoch_start(trainer, epoch)             # epoch counts from 0
        on_batch_end(trainer, step, loss)        # every step; loss is a tensor, not synced
        on_steps_logged(trainer, steps, losses)  # every few steps: plain floats
      on_epoch_end(trainer, record)              # record: the history entry of the epoch
    on_fit_end(trainer, history)
    on_teardown(trainer)                         # always, also after an error or Ctrl-C

The trainer adds the standard ones (progress bar, metrics file, TensorBoard,
checkpoints) itself; a callback of the same class passed by the lab replaces the default.
"""

from __future__ import annotations

import copy
import math
import time
import warnings

import torch


class Callback:
    """No-op hooks; override the ones you need."""

    def on_fit_start(self, trainer) -> None: ...
    def on_epoch_start(self, trainer, epoch: int) -> None: ...
    def on_batch_end(self, trainer, step: int, loss: torch.Tensor) -> None: ...
    def on_steps_logged(self, trainer, steps: list[int], losses: list[float]) -> None: ...
    def on_epoch_end(self, trainer, record: dict) -> None: ...
    def on_fit_end(self, trainer, history: list[dict]) -> None: ...
    def on_teardown(self, trainer) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


def _improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _monitored(record: dict, monitor: str | None) -> tuple[str, float]:
    """The quantity to watch: the given key, else the validation loss, else the training loss."""
    key = monitor or ("val_loss" if "val_loss" in record else "train_loss")
    if key not in record:
        raise KeyError(f"cannot monitor {key!r}: an epoch record has {sorted(record)}")
    return key, float(record[key])


# -- the standard callbacks -------------------------------------------------------------

class ProgressBar(Callback):
    """One tqdm bar over the whole fit, with the live loss and speed.

    ``tqdm.auto`` draws a widget in a notebook and text in a terminal. A line per
    epoch is printed above the bar.
    """

    def __init__(self, epoch_lines: bool = True):
        self.epoch_lines = epoch_lines
        self.bar = None
        self._t = self._seen = 0.0

    def on_fit_start(self, trainer) -> None:
        with warnings.catch_warnings():  # tqdm.auto warns when ipywidgets is missing
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
        total = trainer.epochs * trainer.steps_per_epoch
        done = trainer.epoch * trainer.steps_per_epoch + trainer.batch
        desc = f"{trainer.name} " if trainer.name else ""
        self.bar = tqdm(total=total, initial=done, desc=f"{desc}epoch {trainer.epoch + 1}/{trainer.epochs}",
                        unit="step", dynamic_ncols=True, leave=True)
        self._t, self._seen = time.perf_counter(), trainer.samples_seen

    def on_epoch_start(self, trainer, epoch: int) -> None:
        if self.bar is not None:
            desc = f"{trainer.name} " if trainer.name else ""
            self.bar.set_description(f"{desc}epoch {epoch + 1}/{trainer.epochs}", refresh=False)

    def on_steps_logged(self, trainer, steps: list[int], losses: list[float]) -> None:
        if self.bar is None:
            return
        now = time.perf_counter()
        rate = (trainer.samples_seen - self._seen) / max(now - self._t, 1e-9)
        self._t, self._seen = now, trainer.samples_seen
        self.bar.set_postfix_str(f"loss {losses[-1]:.4g}, {rate:,.0f} samples/s", refresh=False)
        self.bar.update(len(steps))

    def on_epoch_end(self, trainer, record: dict) -> None:
        if self.bar is not None and self.epoch_lines:
            self.bar.write(format_record(record, trainer.epochs))

    def on_teardown(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def format_record(record: dict, epochs: int | None = None) -> str:
    """One readable line for an epoch record."""
    of = f"/{epochs}" if epochs else ""
    parts = [f"epoch {record['epoch']}{of}", f"train loss {record['train_loss']:.4f}"]
    for split in ("train", "val"):
        for m in ("error", "accuracy"):
            if f"{split}_{m}" in record:
                parts.append(f"{split} {m} {record[f'{split}_{m}']:.2%}")
    if "val_loss" in record:
        parts.insert(2, f"val loss {record['val_loss']:.4f}")
    parts.append(f"{record['samples_per_s']:,.0f} samples/s")
    return ", ".join(parts)


class MetricsLogger(Callback):
    """Per-step and per-epoch records to the run's metrics.jsonl (through ``ctx.log``).

    ``every``: log one step in ``every`` (0: epochs only). Records carry
    ``kind`` ('step' or 'epoch') and, for a named trainer, ``trainer``.
    """

    def __init__(self, every: int = 1):
        self.every = every

    def _tag(self, trainer) -> dict:
        return {"trainer": trainer.name} if trainer.name else {}

    def on_steps_logged(self, trainer, steps: list[int], losses: list[float]) -> None:
        if not self.every or trainer.ctx is None:
            return
        tag = self._tag(trainer)
        for s, v in zip(steps, losses):
            if s % self.every == 0:
                trainer.ctx.log(kind="step", **tag, step=s, loss=v)

    def on_epoch_end(self, trainer, record: dict) -> None:
        if trainer.ctx is not None:
            trainer.ctx.log(kind="epoch", **self._tag(trainer), step=trainer.step, **record)


class TensorBoard(Callback):
    """TensorBoard event files in ``<run>/tensorboard[/<name>]``: step loss, epoch metrics.

    A resumed run purges the events written after its checkpoint, so the curves do not
    show the lost stretch twice.
    """

    def __init__(self):
        self.writer = None

    def on_fit_start(self, trainer) -> None:
        if trainer.ctx is None:
            return
        from torch.utils.tensorboard import SummaryWriter

        d = trainer.ctx.dir / "tensorboard"
        if trainer.name:
            d = d / trainer.name
        # in a resumed run, hide what the interrupted one wrote past this point (or at all,
        # for a trainer that had not written a checkpoint yet)
        purge = trainer.step if trainer.ctx.resume is not None else None
        self.writer = SummaryWriter(log_dir=str(d), purge_step=purge)

    def on_steps_logged(self, trainer, steps: list[int], losses: list[float]) -> None:
        if self.writer is not None:
            for s, v in zip(steps, losses):
                self.writer.add_scalar("step/loss", v, s)

    def on_epoch_end(self, trainer, record: dict) -> None:
        if self.writer is None:
            return
        for k, v in record.items():
            if k != "epoch" and isinstance(v, (int, float)):
                self.writer.add_scalar(f"epoch/{k}", v, record["epoch"])
        self.writer.flush()

    def on_teardown(self, trainer) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class Checkpoint(Callback):
    """Save ``last`` (everything needed to resume) and ``best`` (model weights).

    ``last`` is written at the end of every epoch and every ``every`` steps (0: epochs
    only); ``best`` whenever the monitored quantity improves (default: val_loss when
    there is validation data, else train_loss). Both are written atomically; ``best``
    holds only the model's state_dict, its epoch and the score.
    """

    def __init__(self, every: int = 0, monitor: str | None = None, mode: str = "min"):
        self.every, self.monitor, self.mode = every, monitor, mode
        self.best: float | None = None

    def on_batch_end(self, trainer, step: int, loss: torch.Tensor) -> None:
        if self.every and step % self.every == 0:
            trainer.save_checkpoint()

    def on_epoch_end(self, trainer, record: dict) -> None:
        key, value = _monitored(record, self.monitor)
        if _improved(value, self.best, self.mode):
            self.best = value
            from dlc.engine import checkpoint

            checkpoint.save({"model": trainer.model.state_dict(), "epoch": record["epoch"],
                             "monitor": key, "value": value}, trainer.checkpoint_path("best"))
        trainer.save_checkpoint()  # after `best`, so the saved state knows the new best

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]


class EarlyStopping(Callback):
    """Stop when the monitored quantity has not improved for ``patience`` epochs; then
    put back the best weights seen (``restore_best``)."""

    def __init__(self, patience: int = 5, monitor: str | None = None, mode: str = "min",
                 min_delta: float = 0.0, restore_best: bool = True):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience, self.monitor, self.mode = patience, monitor, mode
        self.min_delta, self.restore_best = min_delta, restore_best
        self.best: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.best_weights: dict | None = None
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, trainer, record: dict) -> None:
        _, value = _monitored(record, self.monitor)
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.bad_epochs = value, record["epoch"], 0
            if self.restore_best:
                self.best_weights = {k: v.detach().to("cpu", copy=True)
                                     for k, v in trainer.model.state_dict().items()}
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                self.stopped_epoch = record["epoch"]
                trainer.should_stop = True

    def on_fit_end(self, trainer, history: list[dict]) -> None:
        if self.restore_best and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
                "best_weights": self.best_weights, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.bad_epochs, self.stopped_epoch = state["bad_epochs"], state["stopped_epoch"]
        self.best_weights = copy.copy(state["best_weights"])


class LRSchedule(Callback):
    """A learning-rate schedule built when the fit starts, when its length is known.

    kind: ``"step"`` (multiply by ``gamma`` every ``step_size`` epochs), ``"cosine"``
    (cosine decay to ``eta_min`` over the fit) or ``"one-cycle"`` (warm up to
    ``max_lr`` then anneal, stepped every batch). ``interval``: ``"epoch"`` or
    ``"step"`` (default: per step for one-cycle, per epoch otherwise).
    """

    KINDS = ("step", "cosine", "one-cycle")

    def __init__(self, kind: str, interval: str | None = None, **options):
        if kind not in self.KINDS:
            raise ValueError(f"unknown schedule {kind!r}; choose one of {self.KINDS}")
        self.kind, self.options = kind, options
        self.interval = interval or ("step" if kind == "one-cycle" else "epoch")
        if self.interval not in ("epoch", "step"):
            raise ValueError(f"interval must be 'epoch' or 'step', got {interval!r}")
        self.scheduler = None

    def on_fit_start(self, trainer) -> None:
        from torch.optim import lr_scheduler as S

        opt, o = trainer.optimizer, dict(self.options)
        n = trainer.epochs * (trainer.steps_per_epoch if self.interval == "step" else 1)
        if self.kind == "step":
            self.scheduler = S.StepLR(opt, step_size=o.pop("step_size", max(n // 3, 1)),
                                      gamma=o.pop("gamma", 0.1), **o)
        elif self.kind == "cosine":
            self.scheduler = S.CosineAnnealingLR(opt, T_max=o.pop("T_max", n), **o)
        else:
            max_lr = o.pop("max_lr", opt.param_groups[0]["lr"])
            self.scheduler = S.OneCycleLR(opt, max_lr=max_lr, total_steps=n, **o)

    def on_batch_end(self, trainer, step: int, loss: torch.Tensor) -> None:
        if self.interval == "step":
            self.scheduler.step()

    def on_epoch_end(self, trainer, record: dict) -> None:
        if self.interval == "epoch":
            self.scheduler.step()

    def state_dict(self) -> dict:
        return {"scheduler": self.scheduler.state_dict() if self.scheduler else None}

    def load_state_dict(self, state: dict) -> None:
        if state["scheduler"] is not None and self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
