"""digit-pairs (mini-project 1): every configuration learns the comparison; sharing + auxiliary
loss beats the plain baseline; the models are the sizes the table says."""

import pytest
import torch

from dlc.errors import DlcError
from dlc.labs.digit_pairs import MODELS, format_table, parse_models
from dlc.models.pairs import DigitPairNet, PairConvNet, count_parameters, pair_loss
from tests.conftest import requires_mnist
from tests.labs.helpers import run_tiny


@requires_mnist
def test_tiny_run_beats_chance_and_the_ideas_help(runs_dir):
    result = run_tiny("digit-pairs", runs_dir)
    m = result.metrics
    assert set(m["accuracy"]) == {"baseline", "sharing", "sharing+aux"}
    for name, acc in m["accuracy"].items():
        assert acc > m["chance"] + 0.15, f"{name}: {acc:.1%} vs chance {m['chance']:.1%}"
    assert m["accuracy"]["sharing+aux"] > m["accuracy"]["baseline"]
    assert all(len(accs) == m["rounds"] == 2 for accs in m["per_round"].values())
    table = (result.run_dir / "table.md").read_text()
    assert "sharing+aux" in table and "±" in table


def test_parameter_counts_and_sharing():
    base, shared, separate = PairConvNet(), DigitPairNet(share=True), DigitPairNet(share=False)
    assert 60_000 < count_parameters(base) < 80_000           # "~70,000 parameters"
    assert 60_000 < count_parameters(shared) < 80_000
    digit_net = count_parameters(shared.first)
    # Without sharing, the second digit has a digit network of its own.
    assert count_parameters(separate) == count_parameters(shared) + digit_net
    assert shared.first is shared.second


def test_shared_net_reads_both_digits_with_the_same_weights():
    torch.manual_seed(0)
    net = DigitPairNet(share=True)
    x = torch.randn(4, 2, 14, 14)
    swapped = x.flip(1)
    _, digits = net(x)
    _, digits_swapped = net(swapped)
    # The same network on each digit: swapping the digits swaps their outputs exactly.
    torch.testing.assert_close(digits_swapped, digits.flip(1))


def test_auxiliary_loss_adds_the_digit_cross_entropy():
    torch.manual_seed(0)
    net = DigitPairNet(share=True)
    x = torch.randn(6, 2, 14, 14)
    target, classes = torch.randint(0, 2, (6,)), torch.randint(0, 10, (6, 2))
    out = net(x)
    plain = pair_loss(out, target)
    digit_ce = torch.nn.functional.cross_entropy(out[1].reshape(-1, 10), classes.reshape(-1))
    torch.testing.assert_close(pair_loss(out, target, classes, aux_weight=0.5),
                               plain + 0.5 * digit_ce)
    with pytest.raises(DlcError, match="auxiliary"):
        pair_loss(PairConvNet()(x), target, classes, aux_weight=1.0)


def test_bad_inputs_and_model_names_are_explained():
    with pytest.raises(DlcError, match="14, 14"):
        PairConvNet()(torch.randn(3, 1, 28, 28))
    with pytest.raises(DlcError, match="choose from"):
        parse_models("baseline,siamese")
    assert parse_models("sharing+aux, baseline") == ["sharing+aux", "baseline"]
    assert set(MODELS) == {"baseline", "sharing", "aux", "sharing+aux"}


def test_table_reports_the_gain_over_the_first_row():
    rows = [{"model": "baseline", "what": "b", "params": 70_000, "mean": 0.80, "std": 0.01,
             "digit": None, "seconds": 1.0},
            {"model": "sharing+aux", "what": "s", "params": 72_000, "mean": 0.88, "std": 0.02,
             "digit": 0.93, "seconds": 1.5}]

    class Cfg:
        rounds, pairs, epochs = 10, 1000, 25
    table = format_table(rows, Cfg, 0.55)
    assert "+8.0%" in table and "88.0% ± 2.0%" in table and "72,000" in table
