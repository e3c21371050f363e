"""gan at --tiny: the trained generators' samples are far closer to real data than the
untrained ones' (ring: sliced Wasserstein; MNIST: Fréchet distance by dlc's judge), they
cover more modes and digits, and the figures of samples over training are written."""

import json

import pytest
import torch

from dlc.labs.gan import GANStep, snapshot_epochs
from dlc.models.gans import mlp_critic, mlp_generator
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_gan_learns_at_tiny(runs_dir):
    result = run_tiny("gan", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["epochs_2d"] == 12 and m["epochs"] == 6 and m["train_images"] == 500 and m["samples_measured"] == 100
    # ring: untrained far from the data, trained far closer, the floor below both
    assert m["ring_sw_floor"] < m["ring_sw"] < m["ring_sw_untrained"] / 3
    assert m["ring_modes_covered_real"] == 8 and m["ring_modes_covered_untrained"] == 0
    assert m["ring_modes_covered"] >= 4
    # MNIST: the same ordering with the judge's Fréchet distance
    assert m["frechet_floor"] < m["frechet"] < m["frechet_untrained"] / 2
    assert m["digits_covered_real"] >= 9 and m["digits_covered"] > m["digits_covered_untrained"]
    assert sum(m["digit_shares"]) == pytest.approx(1.0)
    assert list(m["frechet_over_training"]) == snapshot_epochs(6, 5)
    for name in ("ring_over_training.png", "digits_over_training.png", "digit_shares.png"):
        assert (result.run_dir / name).is_file(), name
    assert result.line.startswith(f"ring: sliced W {m['ring_sw']:.3f} vs")
    records = [json.loads(s) for s in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {r.get("trainer") for r in records if r.get("kind") == "epoch"} == {"ring", "mnist"}


@requires_mnist
def test_zero_epochs_measures_the_untrained_generators_and_says_so(runs_dir):
    result = run_tiny("gan", runs_dir, force_cpu=True, epochs=0, epochs_2d=0)
    m = result.metrics
    assert m["ring_sw"] == m["ring_sw_untrained"] and m["frechet"] == m["frechet_untrained"]
    assert result.line.startswith("no training (--epochs 0 --epochs_2d 0): ")
    assert [v.name for v in result.verdicts] == [
        "ring: untrained G's sliced W, over 5 x the real floor",
        "MNIST: untrained G's Fréchet distance, over 5 x the real floor",
    ]
    assert result.passed


def test_the_step_updates_both_players_and_reports_both_losses():
    torch.manual_seed(0)
    G, D = mlp_generator(8), mlp_critic()
    step = GANStep(G, D, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters()), z_dim=8)
    before = [p.detach().clone() for p in [*G.parameters(), *D.parameters()]]
    out = step((torch.randn(20, 2),))
    assert set(out) == {"d_loss", "g_loss"} and all(v.dim() == 0 for v in out.values())
    after = [*G.parameters(), *D.parameters()]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
    assert set(step.models()) == {"G", "D"} and set(step.optimizers()) == {"opt_g", "opt_d"}


def test_snapshot_epochs_start_untrained_and_end_at_the_last():
    assert snapshot_epochs(30, 5) == [0, 8, 15, 22, 30]
    assert snapshot_epochs(2, 5) == [0, 1, 2]
    assert snapshot_epochs(0, 5) == [0]
