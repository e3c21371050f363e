"""Modules on the scratch autograd: parameters, layers, containers, losses.

The same shape as ``torch.nn``: a :class:`Module` finds its parameters and
sub-modules from its attributes, ``__call__`` runs ``forward``, and the names in
``state_dict()`` match torch's, so weights copy across in either direction.
The backward pass is the tensor's business; modules only compose operations.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from dlc.errors import InvalidArgument
from dlc.scratch import functional as F
from dlc.scratch.tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires a gradient and that modules register."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)


class Module:
    """Base class: attributes that are Parameters or Modules are registered in order."""

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before setting attributes"
            )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- parameters -----------------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen = set()
        for name, p in self._named_parameters_all(prefix):
            if id(p) not in seen:  # a shared parameter is listed once
                seen.add(id(p))
                yield name, p

    def _named_parameters_all(self, prefix):
        for name, p in self._parameters.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m._named_parameters_all(f"{prefix}{name}.")

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def modules(self) -> Iterator[Module]:
        yield self
        for m in self._modules.values():
            yield from m.modules()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict) -> None:
        """Copy values in place (from a scratch or a torch state dict: same names)."""
        own = dict(self.named_parameters())
        if set(own) != set(state):
            raise InvalidArgument(
                f"load_state_dict: names differ; missing "
                f"{sorted(set(own) - set(state))}, unexpected "
                f"{sorted(set(state) - set(own))}"
            )
        for name, p in own.items():
            value = state[name]
            value = value.data if isinstance(value, Tensor) else value
            if value.shape != p.data.shape:
                raise InvalidArgument(
                    f"load_state_dict: {name} has shape {tuple(p.shape)}, the state has {tuple(value.shape)}"
                )
            p.data = value.detach().to(dtype=p.data.dtype, device=p.data.device).clone()

    # -- modes and devices ----------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def to(self, device=None, dtype=None) -> Module:
        """Move every parameter (in place, so optimisers keep pointing at them)."""
        if isinstance(device, torch.dtype):
            device, dtype = None, device
        for p in self.parameters():
            p.data = p.data.to(device=device, dtype=dtype)
            if p.grad is not None:
                p.grad = p.grad.to(device=device, dtype=dtype)
        return self

    def double(self) -> Module:
        return self.to(dtype=torch.float64)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items())
        extra = self.extra_repr()
        return f"{type(self).__name__}({extra}{inner}{chr(10) if inner else ''})"

    def extra_repr(self) -> str:
        return ""


# -- layers ---------------------------------------------------------------------------
def _uniform(shape, bound: float) -> torch.Tensor:
    return torch.empty(shape).uniform_(-bound, bound)


class Linear(Module):
    """y = x W^T + b, initialised as torch does: U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(_uniform((out_features, in_features), bound))
        self.bias = Parameter(_uniform((out_features,), bound)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class Conv2d(Module):
    """2-D convolution (through unfold), initialised as torch does."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1, bias: bool = True
    ):
        super().__init__()
        kh, kw = F._pair(kernel_size)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        bound = 1.0 / math.sqrt(in_channels * kh * kw)
        self.weight = Parameter(_uniform((out_channels, in_channels, kh, kw), bound))
        self.bias = Parameter(_uniform((out_channels,), bound)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding: int = 0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class Dropout(Module):
    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class LogSoftmax(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)


class Sequential(Module):
    """Modules applied one after the other; named "0", "1", ... as in torch."""

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


# -- losses ---------------------------------------------------------------------------
class CrossEntropyLoss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: Tensor, target) -> Tensor:
        return F.cross_entropy(logits, target, self.reduction)


class MSELoss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, prediction: Tensor, target) -> Tensor:
        return F.mse_loss(prediction, target, self.reduction)
