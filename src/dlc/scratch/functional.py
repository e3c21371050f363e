"""Operations built on :class:`~dlc.scratch.tensor.Tensor`: layers, losses, convolution.

Some are fused (one node with a hand-written backward) because they sit in every
training step and one node is cheaper than five: ``linear``, ``log_softmax``,
``cross_entropy``, ``mse_loss``. Others are compositions of simpler differentiable
operations, and need no backward of their own: ``conv2d`` is ``unfold`` then a matrix
product, ``max_pool2d`` is ``unfold`` then ``max``.
"""

from __future__ import annotations

import torch
from torch.nn.functional import fold as _fold  # tensor ops, no autograd
from torch.nn.functional import unfold as _unfold

from dlc.errors import InvalidArgument
from dlc.scratch.tensor import ShapeError, Tensor, _as_tensor, _fmt, _result, _same_device


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


# -- layers ---------------------------------------------------------------------------
def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` with x (..., in), weight (out, in), bias (out,)."""
    x = _as_tensor(x, weight)
    xd, wd = x.data, weight.data
    if wd.dim() != 2 or xd.dim() == 0 or xd.shape[-1] != wd.shape[1]:
        raise ShapeError(
            f"linear: input of shape {_fmt(xd.shape)} does not fit a weight of "
            f"shape {_fmt(wd.shape)} (the input's last dimension must be "
            f"{wd.shape[1] if wd.dim() == 2 else 'in_features'})"
        )
    if bias is None:
        _same_device("linear", x, weight)
        data = xd @ wd.t()
        parents = (x, weight)
    else:
        _same_device("linear", x, weight, bias)
        if bias.data.shape != wd.shape[:1]:
            raise ShapeError(
                f"linear: bias of shape {_fmt(bias.shape)} does not fit a weight "
                f"of shape {_fmt(wd.shape)}; expected ({wd.shape[0]},)"
            )
        data = torch.addmm(bias.data, xd, wd.t()) if xd.dim() == 2 else xd @ wd.t() + bias.data
        parents = (x, weight, bias)

    def backward(g):
        g2 = g if g.dim() == 2 else g.reshape(-1, g.shape[-1])
        x2 = xd if xd.dim() == 2 else xd.reshape(-1, xd.shape[-1])
        gx = (g @ wd) if x.requires_grad else None
        gw = g2.t().mm(x2) if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (g2.sum(0) if bias.requires_grad else None)

    return _result(data, parents, backward, "linear")


def relu(x: Tensor) -> Tensor:
    return x.relu()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only)."""
    if not 0.0 <= p <= 1.0:
        raise InvalidArgument(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        scale = torch.zeros_like(x.data)
    else:
        scale = (torch.rand_like(x.data) >= p).to(x.data.dtype) / (1.0 - p)
    return _result(x.data * scale, (x,), lambda g: (g * scale,), "dropout")


# -- softmax and losses ---------------------------------------------------------------
def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``x - log(sum(exp(x)))`` along dim, computed stably (logsumexp shifts by the max)."""
    data = x.data - torch.logsumexp(x.data, dim, keepdim=True)

    def backward(g):  # d/dx of log p_i = delta_ij - p_j
        return (g - data.exp() * g.sum(dim, keepdim=True),)

    return _result(data, (x,), backward, "log_softmax")


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    data = (x.data - torch.logsumexp(x.data, dim, keepdim=True)).exp()

    def backward(g):  # Jacobian diag(p) - p p^T applied to g
        return (data * (g - (g * data).sum(dim, keepdim=True)),)

    return _result(data, (x,), backward, "softmax")


def cross_entropy(logits: Tensor, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices ``target`` (N,) under softmax(logits) (N, C).

    Fused: the gradient with respect to the logits is softmax(logits) - one_hot(target).
    """
    t = target.data if isinstance(target, Tensor) else torch.as_tensor(target)
    z = logits.data
    if z.dim() != 2 or t.dim() != 1 or t.shape[0] != z.shape[0]:
        raise ShapeError(
            f"cross_entropy: logits of shape {_fmt(z.shape)} and target of shape "
            f"{_fmt(t.shape)} do not fit; expected (N, C) and (N,) class indices"
        )
    if t.dtype != torch.int64:
        raise ShapeError(f"cross_entropy: target must hold class indices as int64, got {t.dtype}")
    if t.device != z.device:
        from dlc.scratch.tensor import DeviceError

        raise DeviceError(
            f"cross_entropy: logits on {z.device} and target on {t.device}; move them to one device with .to(device)"
        )
    logp = z - torch.logsumexp(z, 1, keepdim=True)
    picked = t.unsqueeze(1)
    try:
        nll = -logp.gather(1, picked).squeeze(1)
    except RuntimeError as e:
        raise ShapeError(f"cross_entropy: a target index is outside [0, {z.shape[1]}) for {z.shape[1]} classes") from e
    if reduction == "mean":
        data, scale = nll.mean(), 1.0 / z.shape[0]
    elif reduction == "sum":
        data, scale = nll.sum(), 1.0
    elif reduction == "none":
        data, scale = nll, None
    else:
        raise InvalidArgument(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")

    def backward(g):
        grad = logp.exp()
        grad.scatter_add_(1, picked, torch.full_like(picked, -1, dtype=grad.dtype))
        if scale is None:
            return (grad * g.unsqueeze(1),)
        return (grad.mul_(g * scale),)

    return _result(data, (logits,), backward, "cross_entropy")


def mse_loss(prediction: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean (or sum) of squared differences; shapes must be equal."""
    target = _as_tensor(target, prediction)
    if prediction.data.shape != target.data.shape:
        raise ShapeError(
            f"mse_loss: prediction of shape {_fmt(prediction.shape)} and target "
            f"of shape {_fmt(target.shape)} differ; they must be equal"
        )
    _same_device("mse_loss", prediction, target)
    diff = prediction.data - target.data
    if reduction == "mean":
        data, scale = (diff * diff).mean(), 2.0 / max(diff.numel(), 1)
    elif reduction == "sum":
        data, scale = (diff * diff).sum(), 2.0
    else:
        raise InvalidArgument(f"mse_loss: reduction must be 'mean' or 'sum', got {reduction!r}")

    def backward(g):
        gp = diff * (g * scale)
        return (gp if prediction.requires_grad else None, -gp if target.requires_grad else None)

    return _result(data, (prediction, target), backward, "mse_loss")


# -- convolution and pooling ------------------------------------------------------------
def unfold(x: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Patches of a batch of images (N, C, H, W) as columns (N, C*kh*kw, L).

    Its adjoint, ``fold``, sums the columns back into images, overlapping patches adding
    up: that is exactly the gradient of unfold.
    """
    if x.dim() != 4:
        raise ShapeError(f"unfold: needs a batch of images (N, C, H, W), got shape {_fmt(x.shape)}")
    size = tuple(x.data.shape[2:])
    kw = dict(kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    try:
        data = _unfold(x.data, **kw)
    except RuntimeError as e:
        raise ShapeError(
            f"unfold: a kernel of size {kernel_size} (padding {padding}, "
            f"dilation {dilation}) does not fit images of size {size}"
        ) from e
    return _result(data, (x,), lambda g: (_fold(g, size, **kw),), "unfold")


def pad2d(x: Tensor, padding: int, value: float = 0.0) -> Tensor:
    """Pad the last two dimensions by ``padding`` on each side with ``value``."""
    if padding == 0:
        return x
    p = padding
    shape = (*x.data.shape[:-2], x.data.shape[-2] + 2 * p, x.data.shape[-1] + 2 * p)
    data = torch.full(shape, value, dtype=x.data.dtype, device=x.data.device)
    data[..., p:-p, p:-p] = x.data
    return _result(data, (x,), lambda g: (g[..., p:-p, p:-p],), "pad2d")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1) -> Tensor:
    """2-D cross-correlation as torch's conv2d: x (N, C, H, W), weight (O, C, kh, kw).

    Unfold the patches into columns and multiply by the flattened kernels; the backward
    pass follows from unfold and matmul.
    """
    if x.dim() != 4 or weight.dim() != 4 or x.shape[1] != weight.shape[1]:
        raise ShapeError(
            f"conv2d: input of shape {_fmt(x.shape)} does not fit a weight of "
            f"shape {_fmt(weight.shape)}; expected input (N, C, H, W) and weight "
            f"(out_channels, C, kh, kw) with the same C"
        )
    n, _, h, w = x.shape
    out_ch, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    ho, wo = conv_output_size(h, kh, sh, ph, dh), conv_output_size(w, kw, sw, pw, dw)
    cols = unfold(x, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))
    out = (weight.reshape(out_ch, -1) @ cols).reshape(n, out_ch, ho, wo)
    if bias is not None:
        out = out + bias.reshape(1, out_ch, 1, 1)
    return out


def max_pool2d(x: Tensor, kernel_size, stride=None, padding: int = 0) -> Tensor:
    """Max over each (kh, kw) window, as torch's max_pool2d (padding counts as -inf)."""
    if x.dim() != 4:
        raise ShapeError(f"max_pool2d: needs (N, C, H, W), got shape {_fmt(x.shape)}")
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(stride if stride is not None else kernel_size)
    n, c, h, w = x.shape
    ho = conv_output_size(h, kh, sh, padding)
    wo = conv_output_size(w, kw, sw, padding)
    x = pad2d(x, padding, float("-inf"))
    # Each channel is pooled alone: treat channels as images of one channel.
    cols = unfold(x.reshape(n * c, 1, *x.shape[2:]), (kh, kw), stride=(sh, sw))
    return cols.max(dim=1).reshape(n, c, ho, wo)
