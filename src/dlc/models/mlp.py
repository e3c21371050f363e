"""A plain multi-layer perceptron: Linear layers with an activation between them.

    MLP([2, 16, 16, 1], activation="leaky_relu")

is ``Linear(2, 16) -> LeakyReLU -> Linear(16, 16) -> LeakyReLU -> Linear(16, 1)``.
The last Linear has no activation unless ``output_activation`` names one: for
classification, keep the logits and let the loss (cross-entropy, BCE with logits)
apply the softmax or sigmoid, which is numerically safer than doing it twice.
``MLP([2, 1])`` (no hidden layer) is a linear model, the baseline the MLP labs beat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from dlc.errors import DlcError

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softmax": lambda: nn.Softmax(dim=1),
    "identity": nn.Identity,
}

Activation = str | Callable[[], nn.Module] | None


def make_activation(spec: Activation) -> nn.Module:
    """A fresh activation module from a name in ``ACTIVATIONS``, a module class/factory, or None."""
    if spec is None:
        return nn.Identity()
    if isinstance(spec, str):
        key = spec.lower().replace("-", "_")
        if key not in ACTIVATIONS:
            raise DlcError(
                f"unknown activation {spec!r}; choose one of {sorted(ACTIVATIONS)} "
                f"or pass an nn.Module class such as nn.GELU"
            )
        return ACTIVATIONS[key]()
    module = spec()
    if not isinstance(module, nn.Module):
        raise DlcError(f"activation factory {spec!r} returned {type(module).__name__}, not an nn.Module")
    return module


class MLP(nn.Module):
    """Fully-connected network.

    Args:
        sizes: layer widths ``[in, hidden_1, ..., hidden_k, out]``, at least two entries,
            all positive integers.
        activation: between hidden layers: a name (``"relu"``, ``"leaky_relu"``,
            ``"tanh"``, ``"sigmoid"``) or an ``nn.Module`` class/factory.
        output_activation: after the last layer; None (default) gives raw outputs.
        bias: whether the Linear layers have biases.

    Shape:
        input ``(N, sizes[0])`` -> output ``(N, sizes[-1])``.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: Activation = "relu",
        output_activation: Activation = None,
        bias: bool = True,
    ):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise DlcError(f"an MLP needs at least an input and an output size, got {sizes}")
        bad = [s for s in sizes if not isinstance(s, int) or isinstance(s, bool) or s < 1]
        if bad:
            raise DlcError(f"MLP layer sizes must be positive integers, got {sizes} (bad: {bad})")
        self.sizes = sizes
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out, bias=bias))
            last = i == len(sizes) - 2
            if not last:
                layers.append(make_activation(activation))
            elif output_activation is not None:
                layers.append(make_activation(output_activation))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.sizes[0]:
            raise DlcError(
                f"MLP expects inputs of shape (N, {self.sizes[0]}), "
                f"got {tuple(x.shape)}; flatten or reshape the input first"
            )
        return self.layers(x)
