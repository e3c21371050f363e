"""digit-pairs (mini-project 1): every configuration learns the comparison; sharing + auxiliary
loss beats the plain baseline; the models are the sizes the table says; its step reads the
(pairs, target, classes) batches."""

import json

import pytest
import torch

from dlc.cli import main
from dlc.engine import evaluate, fit
from dlc.errors import DlcError, UsageError
from dlc.labs import run_lab
from dlc.labs.digit_pairs import MAX_PAIRS, MODELS, PairStep, format_table, parse_models
from dlc.models.pairs import DigitPairNet, PairConvNet, count_parameters, pair_loss
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


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
    assert set(m["digit_accuracy"]) == {"sharing+aux"} and m["digit_accuracy"]["sharing+aux"] > 0.5
    assert_checks(result)
    assert len(result.verdicts) == 4  # three configurations vs chance, sharing+aux vs baseline
    # The inner fits write their epoch records (named by round and model), and no checkpoints.
    records = [json.loads(s) for s in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    assert len(epochs) == 2 * 3 * 25 and not [r for r in records if r.get("kind") == "step"]
    aux = [r for r in epochs if r["trainer"] == "round0-sharing+aux"]
    assert len(aux) == 25 and "train_digit_error" in aux[-1] and aux[-1]["train_error"] < 0.5
    assert "train_digit_error" not in epochs[0]  # the baseline has no digit outputs
    assert not (result.run_dir / "checkpoints").exists()


def test_the_pair_step_trains_on_pairs_targets_and_classes():
    torch.manual_seed(0)
    x = torch.randn(40, 2, 14, 14)
    classes = torch.randint(0, 10, (40, 2))
    target = (classes[:, 0] <= classes[:, 1]).long()
    net = DigitPairNet(share=True)
    step = PairStep(net, torch.optim.Adam(net.parameters(), lr=1e-3), aux_weight=0.5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    # evaluate: the same scores as the training step, and no update
    scores = step.evaluate((x, target, classes))
    assert set(scores) == {"loss", "error", "digit_error"}
    out = net(x)
    torch.testing.assert_close(scores["loss"], pair_loss(out, target, classes, 0.5))
    torch.testing.assert_close(scores["error"], (out[0].argmax(1) != target).float().mean())
    torch.testing.assert_close(scores["digit_error"], (out[1].argmax(2) != classes).float().mean())
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    # a training step returns those scores and updates the weights
    trained = step((x, target, classes))
    torch.testing.assert_close(trained["loss"], scores["loss"])
    assert not torch.equal(net.state_dict()["compare.0.weight"], before["compare.0.weight"])
    # fit takes the three tensors, evaluate scores them (means over the samples)
    history = fit(step, (x, target, classes), epochs=3, batch_size=16, callbacks=[])
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert {"train_loss", "train_error", "train_digit_error"} <= set(history[-1])
    held_out = evaluate(step, (x, target, classes))
    assert held_out["n"] == 40 and held_out["correct"] == round((1 - held_out["error"]) * 40)
    # without an auxiliary loss: no digit error, and the baseline (no digit outputs) trains too
    base = PairConvNet()
    plain = PairStep(base, torch.optim.Adam(base.parameters(), lr=1e-3))
    assert set(plain((x, target, classes))) == {"loss", "error"}


def test_too_many_pairs_are_refused_before_a_run_folder_is_made(runs_dir, capsys):
    code = main(["run", "digit-pairs", "--tiny", "--pairs", "6000", "--runs_dir", str(runs_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("dlc: error: ") and "--pairs must be at least 1 and at most 5,000" in err
    assert "Traceback" not in err
    assert not runs_dir.exists()
    assert MAX_PAIRS == 5000
    with pytest.raises(UsageError, match="pairs"):
        run_lab("digit-pairs", size="tiny", runs_dir=runs_dir, quiet=True, pairs=0)
    with pytest.raises(UsageError, match="aux_weight"):
        run_lab("digit-pairs", size="tiny", runs_dir=runs_dir, quiet=True, aux_weight=-1)
    assert not runs_dir.exists()


def test_parameter_counts_and_sharing():
    base, shared, separate = PairConvNet(), DigitPairNet(share=True), DigitPairNet(share=False)
    assert 60_000 < count_parameters(base) < 80_000  # "~70,000 parameters"
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
    torch.testing.assert_close(pair_loss(out, target, classes, aux_weight=0.5), plain + 0.5 * digit_ce)
    with pytest.raises(DlcError, match="auxiliary"):
        pair_loss(PairConvNet()(x), target, classes, aux_weight=1.0)


def test_bad_inputs_and_model_names_are_explained():
    with pytest.raises(DlcError, match="14, 14"):
        PairConvNet()(torch.randn(3, 1, 28, 28))
    with pytest.raises(UsageError, match="choose from"):
        parse_models("baseline,siamese")
    assert parse_models("sharing+aux, baseline") == ["sharing+aux", "baseline"]
    assert set(MODELS) == {"baseline", "sharing", "aux", "sharing+aux"}


def test_table_reports_the_gain_over_the_first_row():
    rows = [
        {"model": "baseline", "what": "b", "params": 70_000, "mean": 0.80, "std": 0.01, "digit": None, "seconds": 1.0},
        {
            "model": "sharing+aux",
            "what": "s",
            "params": 72_000,
            "mean": 0.88,
            "std": 0.02,
            "digit": 0.93,
            "seconds": 1.5,
        },
    ]

    class Cfg:
        rounds, pairs, epochs = 10, 1000, 25

    table = format_table(rows, Cfg, 0.55)
    assert "+8.0%" in table and "88.0% ± 2.0%" in table and "72,000" in table


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("pairs", 1),
    ("rounds", 1),
    ("epochs", 1),
    ("batch_size", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("digit-pairs", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()


@requires_mnist
@pytest.mark.parametrize("quiet", [False, True])
def test_rounds_show_progress_unless_quiet(quiet, runs_dir, capsys):
    run_lab(
        "digit-pairs",
        size="tiny",
        runs_dir=runs_dir,
        quiet=quiet,
        rounds=2,
        pairs=20,
        epochs=1,
        batch_size=10,
        models="baseline,sharing",
    )
    out, err = capsys.readouterr()
    if quiet:
        assert "round" not in err and "round" not in out.split("digit-pairs:")[0]
    else:
        assert "round 2/2, sharing" in err  # one bar over rounds x models x epochs, saying where it is
        assert "round 1/2: test accuracy" in out and "round 2/2: test accuracy" in out  # a line per round
