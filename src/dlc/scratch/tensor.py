"""A tensor that records what was computed from it, and differentiates it backward.

This is micrograd on tensors. Every operation computes its value with plain torch
tensor operations (never with ``torch.autograd``) and returns a new :class:`Tensor`
that remembers its inputs (``_parents``) and a small function (``_backward``) mapping
the gradient of the output to the gradients of the inputs. ``backward()`` walks that
graph from the output to the leaves in reverse topological order, so a value used
several times receives the sum of its gradients (the chain rule on a DAG).

Three rules keep the engine correct and cheap:

- a ``_backward`` never modifies the gradient it is given (it may be shared);
- gradients of broadcast operands are summed back to the operand's shape
  (:func:`unbroadcast`): size-1 dimensions, scalars, fewer dimensions;
- nothing is recorded when no input requires a gradient, or inside :func:`no_grad`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Sequence

import torch

from dlc.errors import DlcError


class ShapeError(DlcError, ValueError):
    """Operands whose shapes do not fit the operation."""


class DeviceError(DlcError, ValueError):
    """Operands on different devices."""


class GradError(DlcError, RuntimeError):
    """``backward()`` called where it cannot compute a gradient."""


_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Compute without recording (evaluation, optimiser steps); also a decorator."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


Number = (int, float)


class Tensor:
    """A torch tensor (``.data``) plus what is needed to differentiate through it."""

    __slots__ = (
        "data",
        "grad",
        "requires_grad",
        "name",
        "_parents",
        "_backward",
        "_op",
        "_acc",
        "_acc_shared",
        "__weakref__",
    )

    def __init__(self, data, requires_grad: bool = False, *, dtype=None, device=None, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, torch.Tensor):
            data = data.detach()  # our graph is the only graph: torch records nothing
            if dtype is not None or device is not None:
                data = data.to(device=device, dtype=dtype)
        else:
            if dtype is None and _is_floaty(data):
                dtype = torch.get_default_dtype()
            data = torch.as_tensor(data, dtype=dtype, device=device)
        if requires_grad and not (data.is_floating_point() or data.is_complex()):
            raise GradError(
                f"only floating-point tensors can require a gradient, "
                f"got dtype {data.dtype}; convert with dtype=torch.float32"
            )
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self.name = name
        self._parents = ()
        self._backward = None
        self._op = "leaf"
        self._acc = None
        self._acc_shared = False

    # -- what it is -----------------------------------------------------------------
    @property
    def shape(self) -> torch.Size:
        return self.data.shape

    @property
    def dtype(self) -> torch.dtype:
        return self.data.dtype

    @property
    def device(self) -> torch.device:
        return self.data.device

    @property
    def ndim(self) -> int:
        return self.data.dim()

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    @property
    def op(self) -> str:
        """The operation that produced this tensor ('leaf' for an input or parameter)."""
        return self._op

    @property
    def parents(self) -> tuple[Tensor, ...]:
        return self._parents

    def dim(self) -> int:
        return self.data.dim()

    def size(self, dim: int | None = None):
        return self.data.size() if dim is None else self.data.size(dim)

    def numel(self) -> int:
        return self.data.numel()

    def item(self) -> float:
        return self.data.item()

    def numpy(self):
        return self.data.cpu().numpy()

    def detach(self) -> Tensor:
        return Tensor(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = repr(self.data)
        body = body[len("tensor(") : -1] if body.startswith("tensor(") else body
        extra = f", op={self._op!r}" if self._backward is not None else ""
        extra += ", requires_grad=True" if self.requires_grad and self._backward is None else ""
        extra += f", name={self.name!r}" if self.name else ""
        return f"Tensor({body}{extra})"

    # -- elementwise arithmetic, with broadcasting ----------------------------------
    def __add__(self, other) -> Tensor:
        if isinstance(other, Number):
            return _result(self.data + other, (self,), _pass_through, "add")
        other = _as_tensor(other, self)
        data = _broadcasting("add", torch.add, self, other)
        a, b = self, other

        def backward(g):
            return (
                unbroadcast(g, a.data.shape) if a.requires_grad else None,
                unbroadcast(g, b.data.shape) if b.requires_grad else None,
            )

        return _result(data, (a, b), backward, "add")

    __radd__ = __add__

    def __sub__(self, other) -> Tensor:
        if isinstance(other, Number):
            return _result(self.data - other, (self,), _pass_through, "sub")
        other = _as_tensor(other, self)
        data = _broadcasting("sub", torch.sub, self, other)
        a, b = self, other

        def backward(g):
            return (
                unbroadcast(g, a.data.shape) if a.requires_grad else None,
                unbroadcast(-g, b.data.shape) if b.requires_grad else None,
            )

        return _result(data, (a, b), backward, "sub")

    def __rsub__(self, other) -> Tensor:
        if isinstance(other, Number):
            return _result(other - self.data, (self,), lambda g: (-g,), "rsub")
        return _as_tensor(other, self) - self

    def __neg__(self) -> Tensor:
        return _result(-self.data, (self,), lambda g: (-g,), "neg")

    def __mul__(self, other) -> Tensor:
        if isinstance(other, Number):
            return _result(self.data * other, (self,), lambda g: (g * other,), "mul")
        other = _as_tensor(other, self)
        data = _broadcasting("mul", torch.mul, self, other)
        a, b = self, other

        def backward(g):
            return (
                unbroadcast(g * b.data, a.data.shape) if a.requires_grad else None,
                unbroadcast(g * a.data, b.data.shape) if b.requires_grad else None,
            )

        return _result(data, (a, b), backward, "mul")

    __rmul__ = __mul__

    def __truediv__(self, other) -> Tensor:
        if isinstance(other, Number):
            return _result(self.data / other, (self,), lambda g: (g / other,), "div")
        other = _as_tensor(other, self)
        data = _broadcasting("div", torch.div, self, other)
        a, b = self, other

        def backward(g):  # d(a/b)/db = -a/b^2 = -out/b
            ga = g / b.data
            return (
                unbroadcast(ga, a.data.shape) if a.requires_grad else None,
                unbroadcast(-ga * data, b.data.shape) if b.requires_grad else None,
            )

        return _result(data, (a, b), backward, "div")

    def __rtruediv__(self, other) -> Tensor:
        if isinstance(other, Number):
            data = other / self.data
            return _result(data, (self,), lambda g: (-g * data / self.data,), "rdiv")
        return _as_tensor(other, self) / self

    def __pow__(self, exponent) -> Tensor:
        a = self
        if isinstance(exponent, Number):
            data = a.data**exponent
            return _result(data, (a,), lambda g: (g * exponent * a.data ** (exponent - 1),), "pow")
        b = _as_tensor(exponent, self)
        data = _broadcasting("pow", torch.pow, a, b)

        def backward(g):  # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log a
            return (
                unbroadcast(g * b.data * a.data ** (b.data - 1), a.data.shape) if a.requires_grad else None,
                unbroadcast(g * data * torch.log(a.data), b.data.shape) if b.requires_grad else None,
            )

        return _result(data, (a, b), backward, "pow")

    def __rpow__(self, base) -> Tensor:
        if isinstance(base, Number):  # base^x = exp(x log base)
            data = torch.pow(base, self.data)
            return _result(data, (self,), lambda g: (g * data * math.log(base),), "rpow")
        return _as_tensor(base, self) ** self

    # -- matrix product -------------------------------------------------------------
    def __matmul__(self, other) -> Tensor:
        other = _as_tensor(other, self)
        a, b = self, other
        _same_device("matmul", a, b)
        try:
            data = torch.matmul(a.data, b.data)
        except RuntimeError as e:
            raise ShapeError(
                f"matmul: shapes {_fmt(a.shape)} and {_fmt(b.shape)} cannot be "
                f"multiplied (the last dimension of the first must equal the "
                f"{'only' if b.dim() == 1 else 'second-to-last'} dimension of "
                f"the second)"
            ) from e

        def backward(g):
            ad, bd = a.data, b.data
            if ad.dim() == 1 and bd.dim() == 1:  # a dot product
                return (g * bd if a.requires_grad else None, g * ad if b.requires_grad else None)
            if ad.dim() == 2 and bd.dim() == 2:  # the common case, without reshaping
                return (g.mm(bd.t()) if a.requires_grad else None, ad.t().mm(g) if b.requires_grad else None)
            # Promote vectors to matrices as torch.matmul does, then undo it.
            A = ad if ad.dim() > 1 else ad.unsqueeze(0)
            B = bd if bd.dim() > 1 else bd.unsqueeze(-1)
            G = g.unsqueeze(-2) if ad.dim() == 1 else g
            G = G.unsqueeze(-1) if bd.dim() == 1 else G
            ga = gb = None
            if a.requires_grad:
                ga = unbroadcast(G @ B.transpose(-1, -2), A.shape).reshape(ad.shape)
            if b.requires_grad:
                gb = unbroadcast(A.transpose(-1, -2) @ G, B.shape).reshape(bd.shape)
            return ga, gb

        return _result(data, (a, b), backward, "matmul")

    def __rmatmul__(self, other) -> Tensor:
        return _as_tensor(other, self) @ self

    matmul = __matmul__

    # -- reductions -----------------------------------------------------------------
    def sum(self, dim=None, keepdim: bool = False) -> Tensor:
        a = self
        data = a.data.sum() if dim is None else a.data.sum(dim, keepdim=keepdim)

        def backward(g):
            return (_expand_reduced(g, a.data.shape, dim, keepdim),)

        return _result(data, (a,), backward, "sum")

    def mean(self, dim=None, keepdim: bool = False) -> Tensor:
        a = self
        data = a.data.mean() if dim is None else a.data.mean(dim, keepdim=keepdim)
        count = a.data.numel() // max(data.numel(), 1) if a.data.numel() else 1

        def backward(g):
            return (_expand_reduced(g / count, a.data.shape, dim, keepdim),)

        return _result(data, (a,), backward, "mean")

    def max(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """The maximum (over all elements, or along ``dim``); values only.

        Over all elements the gradient is shared evenly between tied maxima; along a
        dimension it goes to the index torch.max returns, as torch does.
        """
        a = self
        if dim is None:
            data = a.data.amax()

            def backward(g):
                mask = (a.data == data).to(g.dtype)
                return (mask * (g / mask.sum()),)

            return _result(data, (a,), backward, "max")
        values, index = a.data.max(dim, keepdim=True)
        data = values if keepdim else values.squeeze(dim)

        def backward(g):
            g = g if keepdim else g.unsqueeze(dim)
            return (torch.zeros_like(a.data).scatter_(dim, index, g),)

        return _result(data, (a,), backward, "max")

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Indices of the maxima; not differentiable."""
        return Tensor(self.data.argmax(dim, keepdim=keepdim))

    # -- shapes ---------------------------------------------------------------------
    def reshape(self, *shape) -> Tensor:
        shape = _shape_args(shape)
        a = self
        try:
            data = a.data.reshape(shape)
        except RuntimeError as e:
            raise ShapeError(
                f"reshape: cannot view shape {_fmt(a.shape)} ({a.numel()} elements) as {_fmt(shape)}"
            ) from e
        return _result(data, (a,), lambda g: (g.reshape(a.data.shape),), "reshape")

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        shape = self.data.flatten(start_dim, end_dim).shape if self.dim() else (1,)
        return self.reshape(shape)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return _result(self.data.transpose(dim0, dim1), (self,), lambda g: (g.transpose(dim0, dim1),), "transpose")

    @property
    def T(self) -> Tensor:
        if self.dim() != 2:
            raise ShapeError(
                f"T: needs a 2-D tensor, got shape {_fmt(self.shape)}; use transpose(dim0, dim1) or permute(...)"
            )
        return self.transpose(0, 1)

    def t(self) -> Tensor:
        return self.T

    def permute(self, *dims) -> Tensor:
        dims = _shape_args(dims)
        inverse = [0] * len(dims)
        for i, d in enumerate(dims):
            inverse[d] = i
        return _result(self.data.permute(dims), (self,), lambda g: (g.permute(inverse),), "permute")

    def unsqueeze(self, dim: int) -> Tensor:
        return self.reshape(self.data.unsqueeze(dim).shape)

    def squeeze(self, dim: int | None = None) -> Tensor:
        data = self.data.squeeze() if dim is None else self.data.squeeze(dim)
        return self.reshape(data.shape)

    def expand(self, *shape) -> Tensor:
        a = self
        data = a.data.expand(_shape_args(shape))
        return _result(data, (a,), lambda g: (unbroadcast(g, a.data.shape),), "expand")

    def __getitem__(self, index) -> Tensor:
        a = self
        index = _unwrap_index(index)
        data = a.data[index]

        def backward(g):
            if _is_basic_index(index):  # slices and integers: a view, no repeats
                ga = torch.zeros_like(a.data)
                ga[index] = g
                return (ga,)
            # Advanced indexing may select an element several times: accumulate through
            # the flat positions the index selects.
            flat = torch.arange(a.data.numel(), device=a.data.device).reshape(a.data.shape)
            where = flat[index].reshape(-1)
            ga = torch.zeros(a.data.numel(), dtype=g.dtype, device=g.device)
            return (ga.index_add_(0, where, g.reshape(-1)).reshape(a.data.shape),)

        return _result(data, (a,), backward, "index")

    # -- elementwise functions ------------------------------------------------------
    def exp(self) -> Tensor:
        data = self.data.exp()
        return _result(data, (self,), lambda g: (g * data,), "exp")

    def log(self) -> Tensor:
        a = self
        return _result(a.data.log(), (a,), lambda g: (g / a.data,), "log")

    def sqrt(self) -> Tensor:
        data = self.data.sqrt()
        return _result(data, (self,), lambda g: (g / (2 * data),), "sqrt")

    def abs(self) -> Tensor:
        a = self
        return _result(a.data.abs(), (a,), lambda g: (g * a.data.sign(),), "abs")

    def tanh(self) -> Tensor:
        data = self.data.tanh()
        return _result(data, (self,), lambda g: (g * (1 - data * data),), "tanh")

    def sigmoid(self) -> Tensor:
        data = self.data.sigmoid()
        return _result(data, (self,), lambda g: (g * data * (1 - data),), "sigmoid")

    def relu(self) -> Tensor:
        data = self.data.relu()
        # relu's output is >= 0, so its sign is the 0/1 mask of positive inputs (and on
        # a CPU, sign() is several times faster than a comparison).
        return _result(data, (self,), lambda g: (g * data.sign(),), "relu")

    def log_softmax(self, dim: int = -1) -> Tensor:
        from dlc.scratch.functional import log_softmax

        return log_softmax(self, dim)

    def softmax(self, dim: int = -1) -> Tensor:
        from dlc.scratch.functional import softmax

        return softmax(self, dim)

    # -- devices and types ----------------------------------------------------------
    def to(self, device=None, dtype=None) -> Tensor:
        """Move or convert (differentiable: the gradient goes back the same way)."""
        if isinstance(device, torch.dtype):
            device, dtype = None, device
        a = self
        data = a.data.to(device=device, dtype=dtype)
        if data is a.data:
            return a
        return _result(data, (a,), lambda g: (g.to(device=a.data.device, dtype=a.data.dtype),), "to")

    def float(self) -> Tensor:
        return self.to(dtype=torch.float32)

    def double(self) -> Tensor:
        return self.to(dtype=torch.float64)

    # -- the backward pass ----------------------------------------------------------
    def tape(self) -> list[Tensor]:
        """Every tensor this one depends on through recorded operations, inputs first.

        This is the order of the forward computation; ``backward()`` walks it reversed.
        """
        order: list[Tensor] = []
        seen = {id(self)}
        stack = [(self, iter(self._parents))]
        while stack:  # depth-first post-order, without recursion (deep graphs)
            node, parents = stack[-1]
            for p in parents:
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    stack.append((p, iter(p._parents)))
                    break
            else:
                stack.pop()
                order.append(node)
        return order

    def backward(self, gradient=None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires it.

        ``gradient`` is d(final)/d(self); it may be omitted only when self is a scalar.
        """
        if not self.requires_grad:
            raise GradError(
                "backward(): this tensor does not depend on any tensor that "
                "requires a gradient (create inputs or parameters with "
                "requires_grad=True, outside no_grad())"
            )
        if gradient is None:
            if self.data.numel() != 1:
                raise GradError(
                    f"backward(): the tensor has shape {_fmt(self.shape)}, not a scalar, so "
                    f"the gradient of what with respect to it is ambiguous; reduce it to a "
                    f"scalar first (e.g. .sum()) or pass backward(gradient) with a gradient "
                    f"of shape {_fmt(self.shape)}"
                )
            gradient, shared = torch.ones_like(self.data), False
        else:
            gradient = (
                gradient.data
                if isinstance(gradient, Tensor)
                else torch.as_tensor(gradient, dtype=self.data.dtype, device=self.data.device)
            )
            if gradient.shape != self.data.shape:
                raise ShapeError(
                    f"backward(): gradient of shape {_fmt(gradient.shape)} does "
                    f"not match the tensor's shape {_fmt(self.shape)}"
                )
            shared = True
        order = self.tape()
        try:
            with torch.no_grad():
                self._acc, self._acc_shared = gradient, shared
                _run_backward(order)
        except BaseException:
            for node in order:  # leave no half-accumulated gradient behind
                node._acc = None
            raise


def _run_backward(order: list[Tensor]) -> None:
    """Propagate the gradients waiting in ``_acc`` from the output (last) to the inputs."""
    for node in reversed(order):
        g, node._acc = node._acc, None
        if g is None:
            continue
        if node._backward is None:  # a leaf: keep what arrived
            if node._acc_shared or g._base is not None:
                g = g.clone(memory_format=torch.contiguous_format)
            node.grad = g if node.grad is None else node.grad + g
            continue
        for p, pg in zip(node._parents, node._backward(g)):
            if pg is None or not p.requires_grad:
                continue
            if p._acc is None:  # remember whether it is someone else's tensor
                p._acc, p._acc_shared = pg, pg is g or pg._base is not None
            else:
                p._acc, p._acc_shared = p._acc + pg, False


# -- building results ------------------------------------------------------------------
def _result(data: torch.Tensor, parents: tuple, backward: Callable, op: str) -> Tensor:
    """Wrap an operation's value; record its inputs only if a gradient will be needed."""
    out = Tensor.__new__(Tensor)
    out.data = data
    out.grad = None
    out.name = None
    out._op = op
    out._acc = None
    out._acc_shared = False
    if _grad_enabled and (parents[0].requires_grad or (len(parents) > 1 and any(p.requires_grad for p in parents[1:]))):
        out.requires_grad = True
        out._parents = parents
        out._backward = backward
    else:
        out.requires_grad = False
        out._parents = ()
        out._backward = None
    return out


def _pass_through(g):
    return (g,)


def tensor(data, requires_grad: bool = False, *, dtype=None, device=None, name: str | None = None) -> Tensor:
    """Make a Tensor (like torch.tensor)."""
    return Tensor(data, requires_grad, dtype=dtype, device=device, name=name)


def _as_tensor(x, like: Tensor) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, torch.Tensor):
        return Tensor(x)
    return Tensor(torch.as_tensor(x, dtype=like.data.dtype, device=like.data.device))


def _is_floaty(data) -> bool:
    if isinstance(data, float):
        return True
    if isinstance(data, (list, tuple)):
        return any(_is_floaty(d) for d in data)
    return False


def _same_device(op: str, *tensors: Tensor) -> None:
    device = tensors[0].data.device
    for t in tensors[1:]:
        if t.data.device != device:
            raise DeviceError(
                f"{op}: operands are on different devices ({device} and "
                f"{t.data.device}); move them to one device with .to(device)"
            )


def _broadcasting(op: str, fn, a: Tensor, b: Tensor) -> torch.Tensor:
    _same_device(op, a, b)
    try:
        return fn(a.data, b.data)
    except RuntimeError as e:
        raise ShapeError(
            f"{op}: shapes {_fmt(a.shape)} and {_fmt(b.shape)} do not broadcast "
            f"(aligned from the right, each pair of sizes must be equal or "
            f"one of them 1)"
        ) from e


def _fmt(shape) -> str:
    return str(tuple(shape))


def _shape_args(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
        return tuple(shape[0])
    return tuple(shape)


# -- gradients of broadcasting and reductions -------------------------------------------
def unbroadcast(g: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Sum ``g`` over the dimensions that broadcasting added or stretched, back to ``shape``."""
    if g.shape == shape:
        return g
    lead = g.dim() - len(shape)
    dims = [*range(lead), *(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)]
    if dims:
        g = g.sum(dims, keepdim=True)
    return g.reshape(shape)


def _expand_reduced(g: torch.Tensor, shape, dim, keepdim: bool) -> torch.Tensor:
    """The gradient of a sum: ``g`` copied back along the reduced dimensions."""
    if dim is not None and not keepdim:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        for d in sorted(d % len(shape) for d in dims):
            g = g.unsqueeze(d)
    return g.expand(shape)


def _unwrap_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


# -- building blocks used by several modules ---------------------------------------------
def cat(tensors: Iterable[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along ``dim``; the gradient is cut back into the pieces."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ShapeError("cat: needs at least one tensor")
    _same_device("cat", *tensors)
    try:
        data = torch.cat([t.data for t in tensors], dim)
    except RuntimeError as e:
        shapes = ", ".join(_fmt(t.shape) for t in tensors)
        raise ShapeError(
            f"cat: shapes {shapes} cannot be concatenated along dim {dim} (all other dimensions must match)"
        ) from e
    sizes = [t.data.shape[dim] for t in tensors]

    def backward(g):
        return tuple(piece if t.requires_grad else None for t, piece in zip(tensors, g.split(sizes, dim)))

    return _result(data, tuple(tensors), backward, "cat")


def stack(tensors: Iterable[Tensor], dim: int = 0) -> Tensor:
    """Stack equal-shaped tensors along a new dimension ``dim``."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all shapes must be equal, got {', '.join(_fmt(t.shape) for t in tensors)}")
    return cat([t.unsqueeze(dim) for t in tensors], dim)


def format_tape(root: Tensor) -> str:
    """The recorded computation, one line per operation, inputs first (like a listing)."""
    order = root.tape()
    names = {}
    for i, t in enumerate(order):
        names[id(t)] = t.name or f"t{i}"
    lines = []
    for t in order:
        shape = _fmt(t.shape)
        if t._backward is None:
            lines.append(f"{names[id(t)]:>6} = input{shape}")
        else:
            args = ", ".join(names.get(id(p), "const") for p in t._parents)
            lines.append(f"{names[id(t)]:>6} = {t._op}({args}) -> {shape}")
    return "\n".join(lines)
