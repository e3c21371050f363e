"""Mini-project 2's framework: modules with an explicit backward, and no tape.

Each module caches in ``forward`` what its ``backward`` will need, and ``backward``
receives the gradient of the loss with respect to the module's output and returns
the gradient with respect to its input, accumulating its parameters' gradients on the
way. ``param()`` lists (parameter, gradient) pairs for the optimiser. All tensors are
plain torch tensors; nothing here uses torch.autograd (the mini-project runs with
``torch.set_grad_enabled(False)``).

Modules: Linear, ReLU, Tanh, Sigmoid, Sequential, LossMSE, LossCrossEntropy, SGD, and
the 2022 edition's Conv2d and Upsampling (nearest-neighbour upsampling, then a
convolution), built on ``unfold``/``fold``.
"""

from __future__ import annotations

import math

import torch
from torch.nn.functional import fold, unfold  # tensor ops, no autograd

from dlc.errors import InvalidArgument
from dlc.scratch.tensor import ShapeError


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


class Module:
    """forward(*input) -> output; backward(*gradwrtoutput) -> gradwrtinput; param()."""

    def forward(self, *input):
        raise NotImplementedError

    def backward(self, *gradwrtoutput):
        raise NotImplementedError

    def param(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return []

    def zero_grad(self) -> None:
        for _, grad in self.param():
            grad.zero_()

    def __call__(self, *input):
        return self.forward(*input)

    def to(self, device=None, dtype=None) -> Module:
        """Move parameters and gradients in place (the pairs keep their identity)."""
        for p, g in self.param():
            p.data = p.data.to(device=device, dtype=dtype)
            g.data = g.data.to(device=device, dtype=dtype)
        return self


class Linear(Module):
    """y = x w^T + b; initialised like torch's Linear, U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        bound = 1.0 / math.sqrt(in_features)
        self.weight = torch.empty(out_features, in_features).uniform_(-bound, bound)
        self.grad_weight = torch.zeros_like(self.weight)
        self.bias = torch.empty(out_features).uniform_(-bound, bound) if bias else None
        self.grad_bias = torch.zeros_like(self.bias) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.weight.shape[1]:
            raise ShapeError(
                f"Linear.forward: input of shape {tuple(x.shape)} does not fit "
                f"weight of shape {tuple(self.weight.shape)}; expected "
                f"(N, {self.weight.shape[1]})"
            )
        self.input = x
        if self.bias is None:
            return x @ self.weight.t()
        return torch.addmm(self.bias, x, self.weight.t())

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        self.grad_weight.add_(grad.t() @ self.input)  # summed over the batch
        if self.bias is not None:
            self.grad_bias.add_(grad.sum(0))
        return grad @ self.weight

    def param(self):
        pairs = [(self.weight, self.grad_weight)]
        if self.bias is not None:
            pairs.append((self.bias, self.grad_bias))
        return pairs


class ReLU(Module):
    def forward(self, x):
        self.output = x.relu()
        return self.output

    def backward(self, grad):
        return grad * self.output.sign()  # the output's sign is the 0/1 mask of x > 0


class Tanh(Module):
    def forward(self, x):
        self.output = x.tanh()
        return self.output

    def backward(self, grad):
        return grad * (1 - self.output * self.output)


class Sigmoid(Module):
    def forward(self, x):
        self.output = x.sigmoid()
        return self.output

    def backward(self, grad):
        return grad * self.output * (1 - self.output)


class Sequential(Module):
    """Forward through the modules in order, backward through them in reverse."""

    def __init__(self, *modules: Module):
        self.modules = list(modules)

    def forward(self, x):
        for m in self.modules:
            x = m.forward(x)
        return x

    def backward(self, grad):
        for m in reversed(self.modules):
            grad = m.backward(grad)
        return grad

    def param(self):
        return [pair for m in self.modules for pair in m.param()]


class LossMSE(Module):
    """Mean of the squared differences (as torch's MSELoss); backward() needs no argument."""

    def forward(self, prediction, target):
        if prediction.shape != target.shape:
            raise ShapeError(
                f"LossMSE.forward: prediction of shape {tuple(prediction.shape)} "
                f"and target of shape {tuple(target.shape)} must be equal"
            )
        self.diff = prediction - target
        return (self.diff * self.diff).mean()

    def backward(self, grad=None):
        g = self.diff * (2.0 / self.diff.numel())
        return g if grad is None else g * grad


class LossCrossEntropy(Module):
    """Mean negative log-softmax of the target class (class indices, as torch's)."""

    def forward(self, logits, target):
        if logits.dim() != 2 or target.shape != logits.shape[:1]:
            raise ShapeError(
                f"LossCrossEntropy.forward: logits of shape {tuple(logits.shape)} "
                f"and target of shape {tuple(target.shape)}; expected (N, C) and "
                f"(N,) class indices"
            )
        self.logp = logits - torch.logsumexp(logits, 1, keepdim=True)
        self.target = target.unsqueeze(1)
        return -self.logp.gather(1, self.target).mean()

    def backward(self, grad=None):
        g = self.logp.exp()  # softmax - one_hot, averaged over the batch
        g.scatter_add_(1, self.target, torch.full_like(self.target, -1, dtype=g.dtype))
        g /= g.shape[0]
        return g if grad is None else g * grad


class SGD:
    """Stochastic gradient descent with momentum, on (parameter, gradient) pairs.

    Velocity as torch.optim.SGD: v = momentum v + g (v = g at the first step), p -= lr v.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0):
        self.params = list(params)
        if not self.params:
            raise InvalidArgument("SGD: got no (parameter, gradient) pairs; pass model.param()")
        self.lr, self.momentum = lr, momentum
        self.velocity: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        for _, g in self.params:
            g.zero_()

    def step(self) -> None:
        for i, (p, g) in enumerate(self.params):
            d = g
            if self.momentum:
                v = self.velocity[i]
                if v is None:
                    v = self.velocity[i] = g.clone()
                else:
                    v.mul_(self.momentum).add_(g)
                d = v
            p.add_(d, alpha=-self.lr)


class Conv2d(Module):
    """2-D convolution as a matrix product on unfolded patches; backward folds them back."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1, bias: bool = True
    ):
        kh, kw = _pair(kernel_size)
        self.kernel_size = (kh, kw)
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)
        bound = 1.0 / math.sqrt(in_channels * kh * kw)
        self.weight = torch.empty(out_channels, in_channels, kh, kw).uniform_(-bound, bound)
        self.grad_weight = torch.zeros_like(self.weight)
        self.bias = torch.empty(out_channels).uniform_(-bound, bound) if bias else None
        self.grad_bias = torch.zeros_like(self.bias) if bias else None

    def _unfold_args(self):
        return dict(kernel_size=self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != self.weight.shape[1]:
            raise ShapeError(
                f"Conv2d.forward: input of shape {tuple(x.shape)} does not fit "
                f"weight of shape {tuple(self.weight.shape)}; expected "
                f"(N, {self.weight.shape[1]}, H, W)"
            )
        n, _, h, w = x.shape
        self.input_size = (h, w)
        self.columns = unfold(x, **self._unfold_args())  # (N, C*kh*kw, L)
        out_ch = self.weight.shape[0]
        out = self.weight.reshape(out_ch, -1) @ self.columns  # (N, out, L)
        if self.bias is not None:
            out = out + self.bias.reshape(1, out_ch, 1)
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (self.kernel_size, self.stride, self.padding, self.dilation)
        ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        return out.reshape(n, out_ch, ho, wo)

    def backward(self, grad):
        n, out_ch = grad.shape[:2]
        g = grad.reshape(n, out_ch, -1)  # (N, out, L)
        w2 = self.weight.reshape(out_ch, -1)
        self.grad_weight.add_((g @ self.columns.transpose(1, 2)).sum(0).reshape(self.weight.shape))
        if self.bias is not None:
            self.grad_bias.add_(g.sum((0, 2)))
        grad_columns = w2.t() @ g  # (N, C*kh*kw, L)
        return fold(grad_columns, self.input_size, **self._unfold_args())

    def param(self):
        pairs = [(self.weight, self.grad_weight)]
        if self.bias is not None:
            pairs.append((self.bias, self.grad_bias))
        return pairs


class NearestUpsampling(Module):
    """Repeat each pixel ``scale_factor`` times along height and width."""

    def __init__(self, scale_factor: int = 2):
        self.scale = scale_factor

    def forward(self, x):
        s = self.scale
        return x.repeat_interleave(s, dim=2).repeat_interleave(s, dim=3)

    def backward(self, grad):  # each input pixel receives the sum over its s x s copies
        n, c, h, w = grad.shape
        s = self.scale
        return grad.reshape(n, c, h // s, s, w // s, s).sum((3, 5))


class Upsampling(Sequential):
    """The 2022 project's upsampling layer: nearest-neighbour upsampling, then Conv2d."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        scale_factor: int = 2,
        stride=1,
        padding=0,
        dilation=1,
        bias: bool = True,
    ):
        super().__init__(
            NearestUpsampling(scale_factor),
            Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias),
        )
