"""Steps: what the training loop does with one batch.

:func:`dlc.engine.fit` walks the epochs and batches and calls ``step(batch)``, which
updates the models and returns a dict of scalar tensors: the batch's losses and
metrics, each a mean over the batch's samples. The loop averages them over the epoch
(weighted by batch size, so the epoch value is the mean over all samples), logs them,
and shows them in the progress bar. Nothing else about the batch's structure is fixed.

A step is a small object: its models and optimizers are attributes (like the layers of
an ``nn.Module``), so the engine finds them to move them to the device, wrap them for
several processes, and save and restore them in checkpoints.

:class:`Supervised` is the default, the lecture's five lines. A lab with several
models, optimizers or losses writes its own::

    class GANStep(Step):
        def __init__(self, G, D, opt_g, opt_d):
            self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d

        def __call__(self, batch):
            real = batch[0]
            fake = self.G(torch.randn(len(real), 2, device=real.device))
            d_loss = bce(self.D(real), 1) + bce(self.D(fake.detach()), 0)
            self.opt_d.zero_grad(); d_loss.backward(); self.opt_d.step()
            g_loss = bce(self.D(fake), 1)
            self.opt_g.zero_grad(); g_loss.backward(); self.opt_g.step()
            return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from dlc.engine import distributed
from dlc.errors import DlcError


class Step:
    """Base class of a training step: override ``__call__`` (and ``evaluate`` if the
    loop should score validation data)."""

    device = torch.device("cpu")

    def __call__(self, batch: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def evaluate(self, batch: Any) -> dict[str, torch.Tensor]:
        """Scores of one held-out batch (no gradient, models in eval mode)."""
        raise NotImplementedError(f"{type(self).__name__} has no evaluate(batch)")

    # -- what the engine needs: models, optimizers, their state -----------------------
    def models(self) -> dict[str, torch.nn.Module]:
        return {k: distributed.unwrap(v) for k, v in vars(self).items() if isinstance(v, torch.nn.Module)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.optim.Optimizer)}

    def to(self, device: torch.device) -> Step:
        self.device = device
        for m in self.models().values():
            m.to(device)
        return self

    def distribute(self) -> None:
        """Wrap each trainable model in DistributedDataParallel (several processes only)."""
        for k, v in list(vars(self).items()):
            if isinstance(v, torch.nn.Module):
                setattr(self, k, distributed.wrap(v, self.device))

    def train(self, mode: bool = True) -> None:
        for m in self.models().values():
            m.train(mode)

    def state_dict(self) -> dict:
        return {
            "models": {k: m.state_dict() for k, m in self.models().items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
        }

    def load_state_dict(self, state: dict) -> None:
        models, optimizers = self.models(), self.optimizers()
        if set(state["models"]) != set(models) or set(state["optimizers"]) != set(optimizers):
            raise DlcError(
                f"the checkpoint holds models {sorted(state['models'])} and optimizers "
                f"{sorted(state['optimizers'])}, but this step has {sorted(models)} and "
                f"{sorted(optimizers)}"
            )
        for k, m in models.items():
            m.load_state_dict(state["models"][k])
        for k, o in optimizers.items():
            o.load_state_dict(state["optimizers"][k])

    def parameters_finite(self) -> str | None:
        """The name of the first parameter that is NaN or infinite, if any."""
        for k, m in self.models().items():
            for name, p in m.named_parameters():
                if not torch.isfinite(p).all():
                    return f"{k}.{name}"
        return None


# -- losses and metrics of the supervised step -------------------------------------------


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


def fraction_correct(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The fraction of correctly classified samples, as a tensor (no device sync)."""
    return (predicted_classes(output) == target_classes(target)).double().mean()


def _pair(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A supervised batch's (inputs, targets), or a clear error for any other structure."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        what = f"{len(batch)} tensors" if isinstance(batch, (tuple, list)) else type(batch).__name__
        raise DlcError(
            f"the Supervised step takes (inputs, targets) batches: give fit / evaluate a "
            f"pair of tensors or a DataLoader of pairs (a batch here was {what}); other "
            f"batch structures need a Step of their own (see dlc.engine.steps)"
        )
    return batch[0], batch[1]


class Supervised(Step):
    """The lecture's step: ``loss(model(x), y)``, backward, optimizer step.

    loss: "cross_entropy" | "mse" | "bce_with_logits" | a function (output, target) -> mean.
    metric: "error" | "accuracy" | None ("auto": error, except None for "mse").
    grad_clip: clip the gradient norm to this value. amp: float16 autocast with a
    gradient scaler, on CUDA only. augment: a function of a batch of inputs applied
    before the forward pass of training steps only (data augmentation, e.g.
    :func:`dlc.data.augment.flip_crop`); evaluation sees the inputs as they are.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss: str | Callable = "cross_entropy",
        metric: str | None = "auto",
        grad_clip: float | None = None,
        amp: bool = False,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise DlcError(
                    f"unknown loss {loss!r}; use one of {sorted(LOSSES)} or a function (output, target) -> scalar"
                )
            loss_fn = LOSSES[loss]
        elif callable(loss):
            loss_fn = loss
        else:
            raise DlcError(f"loss must be a name or a function, not {type(loss).__name__}")
        if metric == "auto":
            metric = None if loss == "mse" else "error"
        if metric not in ("error", "accuracy", None):
            raise DlcError(f"metric must be 'error', 'accuracy' or None, got {metric!r}")
        self.model, self.optimizer = model, optimizer
        self.loss_fn, self.metric, self.grad_clip, self.amp = loss_fn, metric, grad_clip, amp
        self.scaler = None
        self.augment = augment

    def to(self, device: torch.device) -> Supervised:
        super().to(device)
        self.amp = self.amp and device.type == "cuda"
        if self.amp and self.scaler is None:
            self.scaler = torch.amp.GradScaler("cuda")
        return self

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()

    def scores(self, output: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"loss": loss.detach().float()}
        if self.metric is not None:
            correct = fraction_correct(output.detach(), y)
            out[self.metric] = correct if self.metric == "accuracy" else 1 - correct
        return out

    def __call__(self, batch):
        x, y = _pair(batch)
        if self.augment is not None:
            x = self.augment(x)
        with self.autocast():
            output = self.model(x)
            loss = self.loss_fn(output, y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return self.scores(output, y, loss)

    def evaluate(self, batch):
        x, y = _pair(batch)
        with self.autocast():
            output = self.model(x)
            loss = self.loss_fn(output, y)
        return self.scores(output, y, loss)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["scaler"] = self.scaler.state_dict() if self.scaler is not None else None
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
