"""parameters at --tiny: the first-layer filters become smooth with training, and what
training added to them is far smoother than the initial noise."""

import torch

from dlc.labs.parameters import smoothness
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_parameters_at_tiny(runs_dir):
    result = run_tiny("parameters", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["n_filters"] == 32 and m["epochs"] == 5
    assert abs(m["smoothness_before"]) < 0.15
    assert m["smoothness_after"] > m["smoothness_before"] + 0.05
    assert m["smoothness_change"] > 0.3 + m["smoothness_before"]
    assert 0 < m["relative_change"] < 2
    for name in ("filters.png", "smoothness.png", "curves.png"):
        assert (result.run_dir / name).is_file(), name


@requires_mnist
def test_zero_epochs_measures_the_initial_noise(runs_dir):
    result = run_tiny("parameters", runs_dir, force_cpu=True, epochs=0)
    assert_checks(result)
    m = result.metrics
    assert m["smoothness_change"] == 0 and m["relative_change"] == 0
    assert m["smoothness_after"] == m["smoothness_before"]
    assert [v.name for v in result.verdicts] == ["untrained filters: |mean smoothness| (noise: about 0)"]


def test_smoothness_of_known_filters():
    torch.manual_seed(0)
    noise = torch.randn(2000, 1, 5, 5)
    assert abs(float(smoothness(noise).mean())) < 0.08  # white noise: about 0 (slightly below)
    x = torch.arange(5.0)
    ramp = x.expand(5, 5).reshape(1, 1, 5, 5)
    assert float(smoothness(ramp)) > 0.4
    gauss = torch.exp(-((x - 2) ** 2)[:, None] - ((x - 2) ** 2)[None, :]).reshape(1, 5, 5)
    assert float(smoothness(gauss)) > 0.3
    checker = ((x[:, None] + x[None, :]) % 2 * 2 - 1).reshape(1, 5, 5)
    assert float(smoothness(checker)) < -0.9
    # shapes: F x H x W and F x C x H x W give one value per filter
    assert smoothness(torch.randn(7, 3, 4, 4)).shape == (7,)
    assert smoothness(torch.randn(7, 4, 4)).shape == (7,)
