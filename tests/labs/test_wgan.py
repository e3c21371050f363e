"""wgan at --tiny: the WGAN-GP critic's estimate follows the sample distance over training,
its generator moves towards the data, and the three methods share one budget."""

import math

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import run_lab
from dlc.labs.wgan import Track, WGANStep, critic_estimate, pearson
from dlc.models.gans import GANStep, mlp_critic, mlp_generator
from tests.labs.helpers import assert_checks, run_tiny


def test_wgan_critic_tracks_quality_at_tiny(runs_dir):
    result = run_tiny("wgan", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    # the same budget of generator updates: 3 passes of 40 batches; the WGANs' critics see 5 x more batches
    assert m["g_steps"] == 120 and m["warmup_batches"] == 80
    assert m["gan_g_updates"] == m["wgan_clip_g_updates"] == m["wgan_gp_g_updates"] == 120
    assert m["gan_batches"] == 80 + 120 and m["wgan_gp_batches"] == m["wgan_clip_batches"] == 80 + 5 * 120
    assert m["wgan_gp_measures"] == 120 // 10 + 1  # from the end of the warm-up, every 10 G updates
    # the WGAN-GP estimate falls with the distance; the distances are ordered: floor < trained < untrained
    assert m["wgan_gp_estimate_end"] < m["wgan_gp_estimate_start"]
    assert m["sw_floor"] < m["wgan_gp_sw"] < m["sw_untrained"]
    assert m["mmd_floor"] < m["wgan_gp_mmd"] < m["mmd_untrained"]
    assert all(-1 <= m[f"{k}_corr"] <= 1 for k in ("gan", "wgan_clip", "wgan_gp"))
    for name in ("critic_tracks_quality.png", "samples.png"):
        assert (result.run_dir / name).is_file(), name


def test_bad_options_are_refused(runs_dir):
    with pytest.raises(UsageError, match="--epochs must be at least 1"):
        run_lab("wgan", size="tiny", runs_dir=runs_dir, quiet=True, epochs=0)
    with pytest.raises(UsageError, match="--clip must be positive"):
        run_lab("wgan", size="tiny", runs_dir=runs_dir, quiet=True, clip=0.0)


def test_weight_clipping_keeps_every_critic_weight_in_range_and_g_waits_for_the_critic():
    torch.manual_seed(0)
    G, C = mlp_generator(8), mlp_critic()
    opts = torch.optim.RMSprop(G.parameters(), lr=1e-2), torch.optim.RMSprop(C.parameters(), lr=1e-2)
    step = WGANStep(G, C, *opts, n_critic=2, clip=0.01, warmup=3)
    g_before = [p.detach().clone() for p in G.parameters()]
    for _ in range(4):  # 3 warm-up batches, then the 1st of n_critic = 2: the critic alone
        out = step((torch.randn(16, 2),))
        assert set(out) == {"c_loss", "w_estimate"}
        assert all(p.abs().max() <= 0.01 for p in C.parameters())
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters())) and step.g_updates == 0
    step((torch.randn(16, 2),))  # the 2nd after the warm-up: a G step
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters())) and step.g_updates == 1


def test_gradient_penalty_step_adds_the_penalty_to_the_critic_loss():
    torch.manual_seed(0)
    G, C = mlp_generator(8), mlp_critic()
    opts = torch.optim.Adam(G.parameters(), lr=1e-4), torch.optim.Adam(C.parameters(), lr=1e-4)
    out = WGANStep(G, C, *opts, n_critic=5, gp_lambda=10.0)((torch.randn(16, 2),))
    # critic loss = -W estimate + 10 x penalty, and the penalty is positive
    assert out["c_loss"].item() > -out["w_estimate"].item()
    out = WGANStep(G, C, *opts, n_critic=5, gp_lambda=0.0)((torch.randn(16, 2),))
    assert out["c_loss"].item() == pytest.approx(-out["w_estimate"].item())


def test_estimates_of_a_known_critic():
    # C(x) = x1: the WGAN estimate is the difference of the means of x1
    C = torch.nn.Linear(2, 1)
    with torch.no_grad():
        C.weight.copy_(torch.tensor([[1.0, 0.0]]))
        C.bias.zero_()
    real, fake = torch.randn(50, 2) + torch.tensor([2.0, 5.0]), torch.randn(50, 2)
    expected = (real[:, 0].mean() - fake[:, 0].mean()).item()
    assert critic_estimate("wgan_gp", C, real, fake) == pytest.approx(expected, rel=1e-5)
    # a GAN discriminator that says 1/2 everywhere: the Jensen-Shannon bound is 0
    torch.nn.init.zeros_(C.weight)
    assert critic_estimate("gan", C, real, fake) == pytest.approx(0.0, abs=1e-7)


def test_track_measures_every_few_generator_updates_after_the_warm_up():
    torch.manual_seed(0)
    G, C = mlp_generator(8), mlp_critic()
    opts = torch.optim.Adam(G.parameters(), lr=1e-3), torch.optim.Adam(C.parameters(), lr=1e-3)
    step = GANStep(G, C, *opts, z_dim=8, warmup=2)
    held, z = torch.randn(100, 2), torch.randn(100, 8)
    track = Track("gan", step, held, z, every=3)
    for _ in range(9):
        step((torch.randn(16, 2),))
        track.on_batch_end(None, step.batches)
    # batch 2 ends the warm-up (g = 0); then g = 3 at batch 5, g = 6 at batch 8
    assert [r["g"] for r in track.rows] == [0, 3, 6] and step.g_updates == 7
    assert all(r["sw"] > 0 and math.isfinite(r["estimate"]) for r in track.rows)


def test_pearson():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
