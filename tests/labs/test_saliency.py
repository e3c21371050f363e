"""saliency at --tiny: deleting the pixels each map ranks first lowers the class probability
much faster than deleting pixels in a random order (same images, same run)."""

import pytest
import torch
from torch import nn

from dlc.errors import UsageError
from dlc.labs import get, make_config
from dlc.labs.saliency import deletion_curve, gradient_map, occlusion_map, smoothgrad_map
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_saliency_at_tiny(runs_dir):
    result = run_tiny("saliency", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["n_images"] == 30 and len(m["fractions"]) == 15
    for key in ("gradient", "smoothgrad", "occlusion"):
        assert m[f"auc_{key}"] < 0.8 * m["auc_random"]
    for curve in m["curves"].values():
        assert curve[0] == pytest.approx(m["curves"]["random order"][0])  # nothing deleted: one start
    for name in ("maps.png", "deletion.png", "curves.png"):
        assert (result.run_dir / name).is_file(), name


@requires_mnist
def test_zero_epochs_says_the_net_is_untrained(runs_dir):
    result = run_tiny("saliency", runs_dir, force_cpu=True, epochs=0, n_images=5, samples=2)
    assert_checks(result)
    assert [v.name for v in result.verdicts] == ["untrained network's test error, near chance (90%)"]


class Linear(nn.Module):
    """A linear 'network' on 4 x 4 images: its saliency is known exactly."""

    def __init__(self, w):
        super().__init__()
        self.w = w  # classes x 16

    def forward(self, x):
        return x.reshape(len(x), -1) @ self.w.T


def test_maps_of_a_linear_model():
    w = torch.zeros(2, 16)
    w[1, 5] = 3.0
    w[1, 10] = -1.0
    model = Linear(w)
    x = torch.rand(3, 1, 4, 4)
    classes = torch.tensor([1, 1, 0])
    g = gradient_map(model, x, classes)
    assert g.shape == (3, 4, 4)
    assert torch.allclose(g[0].flatten(), w[1].abs()) and float(g[2].abs().max()) == 0
    # the gradient of a linear model is the same everywhere: SmoothGrad equals it
    s = smoothgrad_map(model, x, classes, samples=4, noise=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(s, g, atol=1e-6)
    o = occlusion_map(model, x, classes, patch=1, black=0.0)
    assert o.shape == (3, 4, 4) and int(o[0].flatten().argmax()) == 5  # the heaviest positive weight


def test_deletion_curve_deletes_in_order():
    w = torch.zeros(2, 16)
    w[1, 0] = 5.0  # class 1 rests on pixel 0 alone
    model = Linear(w)
    x = torch.ones(1, 1, 4, 4)
    classes = torch.tensor([1])
    first = torch.arange(16)[None]
    last = torch.arange(16).flip(0)[None]
    a = deletion_curve(model, x, classes, first, [0.0, 1 / 16, 0.5], black=0.0)
    b = deletion_curve(model, x, classes, last, [0.0, 1 / 16, 0.5], black=0.0)
    assert a[0] == b[0] == b[1] == b[2] > 0.99
    assert a[1] == a[2] == pytest.approx(0.5)  # pixel 0 gone: both logits 0


def test_bad_values_are_refused():
    with pytest.raises(UsageError, match="--max_deleted"):
        make_config(get("saliency"), max_deleted=1.5)
    with pytest.raises(UsageError, match="--patch must be at most 28"):
        make_config(get("saliency"), patch=29)
