"""Callbacks: small hook objects that add behaviour around the training loop.

:func:`dlc.engine.fit` calls each hook at its moment with the loop's state
(:class:`dlc.engine.loop.Loop`: ``epoch``, ``batch``, ``step_count``, ``history``,
``step``, ``ctx``, ``world``, ...); every hook of :class:`Callback` does nothing, so a
callback overrides only what it needs. A callback that has state (a best score, a
patience counter, a scheduler) returns it from ``state_dict`` so that it travels in the
checkpoint and a resumed run continues exactly.

Hooks, in the order the loop calls them::

    on_fit_start(loop)
      on_epoch_start(loop, epoch)                # epoch counts from 0
        on_batch_end(loop, step)                 # every step (no device sync)
        on_steps_logged(loop, steps, scores)     # every few steps: one dict of floats per step
      on_epoch_end(loop, record)                 # record: the history entry of the epoch
    on_fit_end(loop, history)
    on_teardown(loop)                            # always, also after an error or Ctrl-C

In a run of several processes, every rank calls every hook; those that write (progress,
metrics, TensorBoard, figures, checkpoint files) write on rank 0 only.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

from dlc.errors import DlcError

SPLITS = ("train_", "val_", "test_")  # the record prefixes of the training and held-out scores
DEFAULT_CHECKPOINT_EVERY = 500  # steps between mid-epoch checkpoints (besides every epoch)


class Callback:
    """No-op hooks; override the ones you need."""

    def on_fit_start(self, loop) -> None: ...
    def on_epoch_start(self, loop, epoch: int) -> None: ...
    def on_batch_end(self, loop, step: int) -> None: ...
    def on_steps_logged(self, loop, steps: list[int], scores: list[dict]) -> None: ...
    def on_epoch_end(self, loop, record: dict) -> None: ...
    def on_fit_end(self, loop, history: list[dict]) -> None: ...
    def on_teardown(self, loop) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


def standard_callbacks(
    ctx,
    name: str | None = None,
    *,
    checkpoints: bool = True,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    curves: bool = True,
    epoch_lines: bool = True,
) -> list[Callback]:
    """What a run's fit has unless the lab says otherwise: a progress bar, the metrics
    file, TensorBoard, the curves figure and checkpoints (none without a run folder).
    ``epoch_lines=False``: no line per epoch under the bar, and ``checkpoints=False``:
    none written, for fits of seconds whose epochs are single full-batch steps."""
    if ctx is None:
        return []
    cbs: list[Callback] = [ProgressBar(epoch_lines)] if not ctx.quiet else []
    cbs += [MetricsLogger(), TensorBoard()]
    if curves:
        cbs.append(Curves())
    # checkpoints last: the state they save includes what the others did this epoch
    return cbs + ([Checkpoint(every=checkpoint_every)] if checkpoints else [])


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
        raise DlcError(f"cannot monitor {key!r}: an epoch record has {sorted(record)}")
    return key, float(record[key])


def _main(loop) -> bool:
    return loop.ctx is not None and loop.world.is_main


def _first_score(scores: dict) -> tuple[str, float]:
    key = "loss" if "loss" in scores else next(iter(scores))
    return key, scores[key]


# -- the standard callbacks -------------------------------------------------------------


class ProgressBar(Callback):
    """One tqdm bar over the whole fit, with the live loss and speed; a line per epoch.

    ``tqdm.auto`` draws a widget in a notebook and text in a terminal.
    """

    def __init__(self, epoch_lines: bool = True):
        self.epoch_lines = epoch_lines
        self.bar = None
        self._t = self._seen = 0.0

    def on_fit_start(self, loop) -> None:
        if not loop.world.is_main or loop.epochs == 0:
            return
        with warnings.catch_warnings():  # tqdm.auto warns when ipywidgets is missing
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
        total = loop.epochs * loop.steps_per_epoch
        done = loop.epoch * loop.steps_per_epoch + loop.batch
        self.bar = tqdm(
            total=total, initial=done, desc=self._desc(loop, loop.epoch), unit="step", dynamic_ncols=True, leave=True
        )
        self._t, self._seen = time.perf_counter(), loop.samples_seen

    @staticmethod
    def _desc(loop, epoch: int) -> str:
        return f"{loop.name + ' ' if loop.name else ''}epoch {epoch + 1}/{loop.epochs}"

    def on_epoch_start(self, loop, epoch: int) -> None:
        if self.bar is not None:
            self.bar.set_description(self._desc(loop, epoch), refresh=False)

    def on_steps_logged(self, loop, steps: list[int], scores: list[dict]) -> None:
        if self.bar is None:
            return
        now = time.perf_counter()
        rate = (loop.samples_seen - self._seen) / max(now - self._t, 1e-9)
        self._t, self._seen = now, loop.samples_seen
        key, value = _first_score(scores[-1])
        self.bar.set_postfix_str(f"{key} {value:.4g}, {rate:,.0f} samples/s", refresh=False)
        self.bar.update(len(steps))

    def on_epoch_end(self, loop, record: dict) -> None:
        if self.bar is not None and self.epoch_lines:
            self.bar.write(format_record(record, loop.epochs))

    def on_teardown(self, loop) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def format_record(record: dict, epochs: int | None = None) -> str:
    """One readable line for an epoch record."""
    of = f"/{epochs}" if epochs else ""
    parts = [f"epoch {record['epoch']}{of}"]
    # score by score (in the record's order), each with its train then val value
    scores = dict.fromkeys(k.split("_", 1)[1] for k in record if k.startswith(SPLITS))
    for score in scores:
        for split in ("train", "val", "test"):
            v = record.get(f"{split}_{score}")
            if not isinstance(v, float):
                continue
            what = score.replace("_", " ")
            parts.append(f"{split} {what} {v:.2%}" if what in ("error", "accuracy") else f"{split} {what} {v:.4f}")
    parts.append(f"{record['samples_per_s']:,.0f} samples/s")
    return ", ".join(parts)


class MetricsLogger(Callback):
    """Per-step and per-epoch records to the run's metrics.jsonl (through ``ctx.log``).

    ``every``: log one step in ``every`` (0: epochs only). Records carry
    ``kind`` ('step' or 'epoch') and, for a named fit, ``trainer``.
    """

    def __init__(self, every: int = 1):
        self.every = every

    @staticmethod
    def _tag(loop) -> dict:
        return {"trainer": loop.name} if loop.name else {}

    def on_steps_logged(self, loop, steps: list[int], scores: list[dict]) -> None:
        if not self.every or loop.ctx is None:
            return
        tag = self._tag(loop)
        for s, v in zip(steps, scores):
            if s % self.every == 0:
                loop.ctx.log(kind="step", **tag, step=s, **v)

    def on_epoch_end(self, loop, record: dict) -> None:
        if loop.ctx is not None:
            loop.ctx.log(kind="epoch", **self._tag(loop), step=loop.step_count, **record)


class TensorBoard(Callback):
    """TensorBoard event files in ``<run>/tensorboard[/<name>]``: step scores, epoch metrics.

    A resumed run purges the events written after its checkpoint, so the curves do not
    show the lost stretch twice.
    """

    def __init__(self):
        self.writer = None

    def on_fit_start(self, loop) -> None:
        if not _main(loop):
            return
        from torch.utils.tensorboard import SummaryWriter

        d = loop.ctx.dir / "tensorboard"
        if loop.name:
            d = d / loop.name
        purge = loop.step_count if loop.ctx.resume is not None else None
        self.writer = SummaryWriter(log_dir=str(d), purge_step=purge)

    def on_steps_logged(self, loop, steps: list[int], scores: list[dict]) -> None:
        if self.writer is not None:
            for s, v in zip(steps, scores):
                for k, x in v.items():
                    self.writer.add_scalar(f"step/{k}", x, s)

    def on_epoch_end(self, loop, record: dict) -> None:
        if self.writer is None:
            return
        for k, v in record.items():
            if k != "epoch" and isinstance(v, (int, float)):
                self.writer.add_scalar(f"epoch/{k}", v, record["epoch"])
        self.writer.flush()

    def on_teardown(self, loop) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class Curves(Callback):
    """The training curves (loss, and error or accuracy; train and validation) as
    ``<run>/[<name>-]curves.png`` at the end of the fit."""

    def on_fit_end(self, loop, history: list[dict]) -> None:
        if _main(loop) and history:
            title = f"{loop.ctx.lab}: {loop.name}" if loop.name else loop.ctx.lab
            fig = training_curves(history, title=f"{title}, training curves")
            loop.ctx.save_figure(fig, f"{loop.name}-curves" if loop.name else "curves")


def training_curves(history: list[dict], title: str = ""):
    """One panel per score (loss first), each with its training and validation curves."""
    import matplotlib.pyplot as plt

    scores = list(dict.fromkeys(k.split("_", 1)[1] for k in history[0] if k.startswith(SPLITS)))
    scores.sort(key=lambda k: k != "loss")
    fig, axes = plt.subplots(1, len(scores), figsize=(5 * len(scores), 3.6), squeeze=False)
    epochs = [r["epoch"] for r in history]
    for ax, what in zip(axes[0], scores):
        for split in ("train", "val", "test"):
            key = f"{split}_{what}"
            if key in history[0]:
                ax.plot(epochs, [r[key] for r in history], marker="o", markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(what.replace("_", " "))
        if "loss" in what and all(r.get(f"train_{what}", 1) > 0 for r in history):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(wspace=0.3)
    return fig


class Checkpoint(Callback):
    """Save ``last`` (everything needed to resume) and ``best`` (model weights).

    ``last`` is written at the end of every epoch and every ``every`` steps (0: epochs
    only); ``best`` whenever the monitored quantity improves (default: val_loss when
    there is validation data, else train_loss; a step that returns neither, such as a
    GAN's, gets no ``best``). Both are written atomically; ``best`` holds only the
    models' state_dicts, the epoch and the score.
    """

    def __init__(self, every: int = 0, monitor: str | None = None, mode: str = "min"):
        self.every, self.monitor, self.mode = every, monitor, mode
        self.best: float | None = None

    def on_batch_end(self, loop, step: int) -> None:
        if self.every and step % self.every == 0:
            loop.save_checkpoint()

    def on_epoch_end(self, loop, record: dict) -> None:
        if self.monitor is None and not {"val_loss", "train_loss"} & record.keys():
            # a step without a loss to rank epochs by (a GAN's d_loss / g_loss): no `best`,
            # but `last` all the same, so that the run can be resumed
            loop.save_checkpoint()
            return
        key, value = _monitored(record, self.monitor)
        if _improved(value, self.best, self.mode):
            self.best = value
            if _main(loop):
                from dlc.engine import checkpoint

                models = {k: m.state_dict() for k, m in loop.step.models().items()}
                checkpoint.save(
                    {
                        "format": "dlc-best",
                        "version": checkpoint.VERSION,
                        "identity": loop.ctx.checkpoint_identity(),
                        "models": models,
                        "epoch": record["epoch"],
                        "monitor": key,
                        "value": value,
                    },
                    loop.checkpoint_path("best"),
                )
        loop.save_checkpoint()  # after `best`, so the saved state knows the new best

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]


class EarlyStopping(Callback):
    """Stop when the monitored quantity has not improved for ``patience`` epochs; then
    put back the best weights seen (``restore_best``)."""

    def __init__(
        self,
        patience: int = 5,
        monitor: str | None = None,
        mode: str = "min",
        min_delta: float = 0.0,
        restore_best: bool = True,
    ):
        if patience < 1:
            raise DlcError(f"patience must be >= 1, got {patience}")
        self.patience, self.monitor, self.mode = patience, monitor, mode
        self.min_delta, self.restore_best = min_delta, restore_best
        self.best: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.best_weights: dict | None = None
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, loop, record: dict) -> None:
        _, value = _monitored(record, self.monitor)
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.bad_epochs = value, record["epoch"], 0
            if self.restore_best:
                self.best_weights = {
                    name: {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
                    for name, m in loop.step.models().items()
                }
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                self.stopped_epoch = record["epoch"]
                loop.should_stop = True

    def on_fit_end(self, loop, history: list[dict]) -> None:
        if self.restore_best and self.best_weights is not None:
            for name, m in loop.step.models().items():
                m.load_state_dict(self.best_weights[name])

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "best_weights": self.best_weights,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.bad_epochs, self.stopped_epoch = state["bad_epochs"], state["stopped_epoch"]
        self.best_weights = copy.copy(state["best_weights"])


class TimeLimit(Callback):
    """Stop training once ``seconds`` of training have passed: the step under way is
    finished, its epoch closed (a partial epoch, its record over the samples seen), then
    the fit ends. What counts is the time from each epoch's start to its last step, so
    validation is not charged to the budget: two recipes given the same minutes get the
    same training time. One process only (each rank's clock could decide differently)."""

    def __init__(self, seconds: float):
        if not (math.isfinite(seconds) and seconds > 0):
            raise DlcError(f"the time limit must be a number of seconds > 0, got {seconds}")
        self.seconds = seconds
        self.spent = 0.0  # training seconds of the finished epochs
        self.stopped_step: int | None = None
        self._start = self._last = 0.0

    def on_fit_start(self, loop) -> None:
        if loop.world.distributed:
            raise DlcError("a time limit works in one process; run without --nproc")

    def on_epoch_start(self, loop, epoch: int) -> None:
        self._start = self._last = time.perf_counter()

    def on_batch_end(self, loop, step: int) -> None:
        self._last = time.perf_counter()
        if self.stopped_step is None and self.spent + (self._last - self._start) >= self.seconds:
            self.stopped_step = step
            loop.should_stop = True

    def on_epoch_end(self, loop, record: dict) -> None:
        self.spent += self._last - self._start

    def state_dict(self) -> dict:
        return {"spent": self.spent, "stopped_step": self.stopped_step}

    def load_state_dict(self, state: dict) -> None:
        self.spent, self.stopped_step = state["spent"], state["stopped_step"]


class LRSchedule(Callback):
    """The one way to schedule a learning rate: a scheduler built when the fit starts,
    when its length is known, and stepped by the loop.

    kind: ``"step"`` (multiply by ``gamma`` every ``step_size`` epochs or steps),
    ``"cosine"`` (cosine decay to ``eta_min`` over the fit), ``"one-cycle"`` (warm up
    to ``max_lr`` then anneal), or a function ``(optimizer, total) -> scheduler`` for
    any ``torch.optim.lr_scheduler``. ``interval``: ``"epoch"`` or ``"step"`` (default:
    per step for one-cycle, per epoch otherwise); ``total`` counts those intervals.
    ``optimizer``: the one to schedule (default: the step's only optimizer).
    """

    KINDS = ("step", "cosine", "one-cycle")

    def __init__(self, kind: str | Callable, interval: str | None = None, optimizer=None, **options: Any):
        if not callable(kind) and kind not in self.KINDS:
            raise DlcError(f"unknown schedule {kind!r}; choose one of {self.KINDS} or pass a function")
        self.kind, self.options, self.optimizer = kind, options, optimizer
        self.interval = interval or ("step" if kind == "one-cycle" else "epoch")
        if self.interval not in ("epoch", "step"):
            raise DlcError(f"interval must be 'epoch' or 'step', got {interval!r}")
        self.scheduler = None

    def on_fit_start(self, loop) -> None:
        from torch.optim import lr_scheduler as S

        opt = self.optimizer
        if opt is None:
            opts = list(loop.step.optimizers().values())
            if len(opts) != 1:
                raise DlcError(f"LRSchedule: the step has {len(opts)} optimizers; say which with optimizer=")
            opt = opts[0]
        o = dict(self.options)
        n = loop.epochs * (loop.steps_per_epoch if self.interval == "step" else 1)
        if callable(self.kind):
            self.scheduler = self.kind(opt, n)
        elif self.kind == "step":
            self.scheduler = S.StepLR(opt, step_size=o.pop("step_size", max(n // 3, 1)), gamma=o.pop("gamma", 0.1), **o)
        elif self.kind == "cosine":
            self.scheduler = S.CosineAnnealingLR(opt, T_max=o.pop("T_max", n), **o)
        else:
            max_lr = o.pop("max_lr", opt.param_groups[0]["lr"])
            self.scheduler = S.OneCycleLR(opt, max_lr=max_lr, total_steps=n, **o)

    def on_batch_end(self, loop, step: int) -> None:
        if self.interval == "step":
            self.scheduler.step()

    def on_epoch_end(self, loop, record: dict) -> None:
        if self.interval == "epoch":
            self.scheduler.step()

    def state_dict(self) -> dict:
        return {"scheduler": self.scheduler.state_dict() if self.scheduler else None}

    def load_state_dict(self, state: dict) -> None:
        if state["scheduler"] is not None and self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
