"""Optimisers for scratch parameters: SGD (momentum, Nesterov), RMSprop, Adam.

Each ``step()`` reads ``p.grad`` and updates ``p.data`` in place, following the update
rules torch.optim documents (so the two agree step by step, as the tests check).
The gradient tensors are never modified: they may be shared with the backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from dlc.errors import InvalidArgument
from dlc.scratch.tensor import Tensor


class Optimizer:
    def __init__(self, params: Iterable[Tensor], lr: float):
        self.params = list(params)
        if not self.params:
            raise InvalidArgument(f"{type(self).__name__}: got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise InvalidArgument(
                    f"{type(self).__name__}: every parameter must be a scratch "
                    f"Tensor that requires a gradient, got {type(p).__name__}"
                )
        if lr < 0:
            raise InvalidArgument(f"{type(self).__name__}: lr must be >= 0, got {lr}")
        self.lr = lr
        self.state: list[dict] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self._update(p.data, p.grad, state)

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """p -= lr * d, with d = g + wd p, then momentum: b = mu b + (1 - dampening) d.

    Nesterov uses d + mu b instead of b (the gradient "looked ahead" by one step).
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        super().__init__(params, lr)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise InvalidArgument("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def _update(self, p, g, state):
        d = g + self.weight_decay * p if self.weight_decay else g
        if self.momentum:
            buf = state.get("momentum")
            if buf is None:  # the first step starts the velocity at the gradient
                buf = state["momentum"] = d.clone()
            else:
                buf.mul_(self.momentum).add_(d, alpha=1 - self.dampening)
            d = d + self.momentum * buf if self.nesterov else buf
        p.add_(d, alpha=-self.lr)


class RMSprop(Optimizer):
    """Divide the step by a running root-mean-square of the gradient."""

    def __init__(
        self,
        params,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ):
        super().__init__(params, lr)
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay
        self.momentum, self.centered = momentum, centered

    def _update(self, p, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if not state:
            state["square_avg"] = torch.zeros_like(p)
            if self.centered:
                state["grad_avg"] = torch.zeros_like(p)
            if self.momentum:
                state["momentum"] = torch.zeros_like(p)
        sq = state["square_avg"]
        sq.mul_(self.alpha).addcmul_(g, g, value=1 - self.alpha)
        if self.centered:  # subtract the squared mean: a running variance
            ga = state["grad_avg"]
            ga.mul_(self.alpha).add_(g, alpha=1 - self.alpha)
            denom = (sq - ga * ga).sqrt_().add_(self.eps)
        else:
            denom = sq.sqrt().add_(self.eps)
        if self.momentum:
            buf = state["momentum"]
            buf.mul_(self.momentum).addcdiv_(g, denom)
            p.add_(buf, alpha=-self.lr)
        else:
            p.addcdiv_(g, denom, value=-self.lr)


class Adam(Optimizer):
    """Momentum on the gradient (m) and on its square (v), both corrected for their
    zero start; ``decoupled_weight_decay=True`` gives AdamW."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        super().__init__(params, lr)
        self.beta1, self.beta2 = betas
        self.eps, self.weight_decay, self.amsgrad = eps, weight_decay, amsgrad
        self.decoupled = decoupled_weight_decay

    def _update(self, p, g, state):
        if self.weight_decay:
            if self.decoupled:
                p.mul_(1 - self.lr * self.weight_decay)
            else:
                g = g + self.weight_decay * p
        if not state:
            state["step"] = 0
            state["m"] = torch.zeros_like(p)
            state["v"] = torch.zeros_like(p)
            if self.amsgrad:
                state["v_max"] = torch.zeros_like(p)
        state["step"] += 1
        t, m, v = state["step"], state["m"], state["v"]
        m.lerp_(g, 1 - self.beta1)
        v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
        if self.amsgrad:
            torch.maximum(state["v_max"], v, out=state["v_max"])
            v = state["v_max"]
        bias1 = 1 - self.beta1**t
        bias2 = 1 - self.beta2**t
        denom = (v.sqrt() / math.sqrt(bias2)).add_(self.eps)
        p.addcdiv_(m, denom, value=-self.lr / bias1)


class AdamW(Adam):
    """Adam with the weight decay applied to the weights, not added to the gradient."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True)
