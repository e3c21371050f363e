import math

import pytest
import torch

from dlc.errors import DlcError, UsageError
from dlc.labs import get, make_config
from dlc.labs import initialization as init
from tests.labs.helpers import assert_checks, run_tiny


def test_he_keeps_activations_naive_does_not(runs_dir):
    result = run_tiny("initialization", runs_dir)
    assert_checks(result)
    assert len(result.verdicts) == 6
    m = result.metrics
    # the CURRICULUM check: He keeps the activation std within 2x across 20 ReLU layers...
    assert m["relu_he_activation_spread"] <= 2.0
    assert m["relu_he_gradient_spread"] <= 2.0
    # ...while the naive small init loses orders of magnitude, and Xavier halves the variance per ReLU
    assert m["relu_naive_activation_spread"] > 1e6
    assert m["relu_xavier_activation_spread"] > 100
    # practical 5: the shallow net with the default init learns the disc; the deep one
    # started from N(0, 1e-3) does not (its signal dies across the layers)
    assert m["shallow_default_test_error"] < 0.15  # chance is 0.5
    assert m["deep_0.001_test_error"] > 0.4
    assert (result.run_dir / "layer_statistics.png").is_file()
    assert (result.run_dir / "std_sweep.png").is_file()


@pytest.mark.parametrize("width", [128, 512])
def test_he_variance_is_preserved_through_relu_layers(width):
    st = init.layer_statistics("he", "relu", layers=20, width=width, seed=1)
    assert init.spread(st["activation"]) <= 2.0
    naive = init.layer_statistics("naive", "relu", layers=20, width=width, seed=1)
    # each layer multiplies the std by 0.01 * sqrt(width / 2)
    per_layer = (naive["activation"][-1] / naive["activation"][0]) ** (1 / 19)
    assert per_layer == pytest.approx(0.01 * math.sqrt(width / 2), rel=0.1)


def test_schemes_give_the_stated_variances():
    lin = torch.nn.Linear(400, 100)
    for scheme, std in [
        ("he", math.sqrt(2 / 400)),
        ("xavier", math.sqrt(2 / 500)),
        ("default", 1 / math.sqrt(3 * 400)),
        ("naive", 0.01),
    ]:
        init.init_scheme_(lin, scheme)
        assert lin.weight.std().item() == pytest.approx(std, rel=0.05)
        assert torch.all(lin.bias == 0)
    with pytest.raises(DlcError, match="unknown init"):
        init.init_scheme_(lin, "lecun")


def test_models_and_data_are_practical_5():
    assert [m.out_features for m in init.deep_model() if isinstance(m, torch.nn.Linear)] == [4, 8, 16, 32, 64, 128, 2]
    assert [m.out_features for m in init.shallow_model() if isinstance(m, torch.nn.Linear)] == [128, 2]
    x, y, xt, yt = init.disc_data(1000, seed=0)
    assert x.mean(0).abs().max() < 1e-5 and (x.std(0) - 1).abs().max() < 1e-5
    assert 0.4 < y.float().mean() < 0.6


def test_bad_stds_are_refused():
    assert init.parse_stds("default, 1e-2") == [None, 0.01]
    for bad in ("default,-1", "default,big", "", " , "):
        with pytest.raises(UsageError, match="--stds"):
            make_config(get("initialization"), stds=bad)
