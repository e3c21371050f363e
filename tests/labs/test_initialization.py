import math

import pytest
import torch

from dlc.errors import DlcError, UsageError
from dlc.labs import get, make_config, run_lab
from dlc.labs import initialization as init
from tests.labs.helpers import assert_checks, run_tiny


def test_he_keeps_activations_naive_does_not(runs_dir):
    result = run_tiny("initialization", runs_dir)
    assert_checks(result)
    assert len(result.verdicts) == 7
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
    # ...and the lecture's He init (a std per layer) rescues the deep net
    assert m["deep_he_test_error"] < 0.3
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
    assert init.parse_stds("he,xavier,1") == ["he", "xavier", 1.0]
    for bad in ("default,-1", "default,big", "", " , ", "lecun", "default,nan"):
        with pytest.raises(UsageError, match="--stds"):
            make_config(get("initialization"), stds=bad)


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("n", 2),
    ("epochs", 1),
    ("layers", 2),
    ("width", 1),
    ("batch_size", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("initialization", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()


def test_named_inits_set_every_layer_and_zero_the_biases():
    model = init.initialize_(init.deep_model(), "he")
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            assert torch.all(layer.bias == 0)
    last = [m for m in model if isinstance(m, torch.nn.Linear)][-2]  # 64 -> 128: enough weights to measure
    assert last.weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.1)
    default = init.deep_model()
    assert init.initialize_(default, None) is default  # PyTorch's own init is left alone


@pytest.mark.parametrize("quiet", [False, True])
def test_the_sweep_shows_progress_unless_quiet(quiet, runs_dir, capsys):
    run_lab(
        "initialization", size="tiny", runs_dir=runs_dir, quiet=quiet, n=50, epochs=2, stds="he,1", layers=2, width=4
    )
    out, err = capsys.readouterr()
    if quiet:
        assert "part 1:" not in err and "epoch/s" not in err
        assert "deep-he" not in out  # no line per configuration either
    else:
        assert "part 1: deep-std1" in err  # the bar says which configuration trains
        assert "deep-he " in out and "test error" in out  # a line per configuration
