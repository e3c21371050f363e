"""depth at --tiny: the hand-built deep sawtooth net has 2^L pieces and is the sawtooth;
the shallow net of equal parameter count has far fewer pieces and misses the teeth."""

import pytest
import torch

from dlc.labs.depth import deep_sawtooth_net, equal_budget_units, sawtooth, shallow_fit
from dlc.models.deep import count_pieces, parameter_count
from tests.labs.helpers import assert_checks, run_tiny


def test_depth_at_tiny(runs_dir):
    result = run_tiny("depth", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["depth"] == 6 and m["deep_pieces"] == 64 and m["deep_parameters"] == 37
    assert m["shallow_parameters"] <= m["deep_parameters"] and m["shallow_units"] == 12
    assert m["shallow_pieces"] <= m["shallow_units"] + 1
    assert m["shallow_mse"] > 1e6 * max(m["deep_mse"], 1e-18)
    # pieces per depth: exactly doubling for the deep net, growing by about 2 for the shallow one
    rows = m["by_depth"]
    assert [r["deep_pieces"] for r in rows] == [2**d for d in range(1, 7)]
    assert all(r["shallow_pieces"] <= r["shallow_units"] + 1 for r in rows)
    for name in ("fits.png", "pieces.png"):
        assert (result.run_dir / name).is_file()
    assert result.line.startswith("37 parameters: deep (6 x 2) 64 pieces vs shallow (1 x 12) 13")


@pytest.mark.parametrize("depth", [1, 2, 5, 9])
def test_the_construction_is_the_composed_tent(depth):
    x = ((torch.arange(4096, dtype=torch.float64) + 0.5) / 4096).unsqueeze(1)
    net = deep_sawtooth_net(depth).double()
    assert parameter_count(net) == 6 * depth + 1
    assert torch.equal(net(x), sawtooth(x, depth))
    assert count_pieces(net, x) == 2**depth


def test_the_shallow_fit_is_least_squares():
    x = ((torch.arange(2000, dtype=torch.float64) + 0.5) / 2000).unsqueeze(1)
    y = x**2
    net = shallow_fit(equal_budget_units(31), x, y)
    assert equal_budget_units(31) == 10 and parameter_count(net) == 31
    err = ((net(x) - y) ** 2).mean()
    # perturbing the output layer can only make the fit worse
    with torch.no_grad():
        net[2].bias += 1e-3
    assert ((net(x) - y) ** 2).mean() > err
    assert err < 1e-4  # a parabola is smooth: 11 pieces fit it well


def test_bad_depth_is_refused(runs_dir):
    from dlc.errors import UsageError
    from dlc.labs import run_lab

    with pytest.raises(UsageError, match="--depth"):
        run_lab("depth", depth=0, runs_dir=runs_dir, quiet=True)
    with pytest.raises(UsageError, match="--grid"):
        run_lab("depth", depth=10, grid=100, runs_dir=runs_dir, quiet=True)
