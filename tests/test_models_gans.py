"""The GAN labs' library pieces: the ring of Gaussians, mode coverage, the models' shapes,
and WGAN-GP's gradient penalty against a closed form and a brute-force reference."""

import math

import pytest
import torch
from torch import nn

from dlc.errors import InvalidArgument
from dlc.models.gans import (
    DCDiscriminator,
    DCGenerator,
    GANStep,
    discriminator_loss,
    gradient_penalty,
    js_estimate,
    mlp_critic,
    mlp_generator,
    mode_coverage,
    ring,
    ring_centers,
)


def test_ring_is_a_seeded_even_mixture_on_the_circle():
    x, mode = ring(8000, modes=8, radius=2.0, std=0.05, seed=3)
    assert x.shape == (8000, 2) and x.dtype == torch.float32 and mode.dtype == torch.int64
    assert torch.equal(x, ring(8000, modes=8, radius=2.0, std=0.05, seed=3)[0])
    assert not torch.equal(x, ring(8000, seed=4, std=0.05)[0])
    counts = torch.bincount(mode, minlength=8)
    assert counts.min() > 850 and counts.max() < 1150  # even shares of 1000
    centers = ring_centers(8, 2.0)
    assert torch.allclose(centers.norm(dim=1), torch.full((8,), 2.0))
    assert torch.allclose(centers[2], torch.tensor([0.0, 2.0]), atol=1e-6)  # 90 degrees
    offsets = x - centers[mode]
    assert offsets.std().item() == pytest.approx(0.05, rel=0.05)


def test_mode_coverage_counts_modes_with_enough_samples_nearby():
    centers = ring_centers(4, 1.0)  # (1,0), (0,1), (-1,0), (0,-1)
    std = 0.1  # near: within 0.3 of a centre
    samples = torch.tensor(
        [[1.0, 0.0]] * 50 + [[0.0, 1.1]] * 45 + [[-1.0, 0.2]] * 3 + [[0.0, 0.0]] * 2, dtype=torch.float32
    )
    c = mode_coverage(samples, centers, std, min_share=0.05)
    assert c["shares"] == pytest.approx([0.50, 0.45, 0.03, 0.0])
    assert c["modes_covered"] == 2  # 3% is under the 5% asked
    assert c["near"] == pytest.approx(0.98)
    assert mode_coverage(samples, centers, std, min_share=0.02)["modes_covered"] == 3
    # real samples of the ring cover every mode
    x, _ = ring(2000, modes=8, std=0.1, seed=0)
    assert mode_coverage(x, ring_centers(8), 0.1)["modes_covered"] == 8


def test_bad_inputs_are_refused():
    with pytest.raises(InvalidArgument, match="N x 2"):
        mode_coverage(torch.zeros(5, 3), ring_centers(), 0.1)
    with pytest.raises(InvalidArgument, match="no samples"):
        mode_coverage(torch.zeros(0, 2), ring_centers(), 0.1)
    with pytest.raises(InvalidArgument, match="at least 1 mode"):
        ring_centers(0)
    with pytest.raises(InvalidArgument, match="std must be positive"):
        ring(10, std=0.0)
    with pytest.raises(InvalidArgument, match="differ in shape"):
        gradient_penalty(mlp_critic(), torch.zeros(4, 2), torch.zeros(3, 2))


def test_model_shapes():
    assert mlp_generator(8)(torch.randn(5, 8)).shape == (5, 2)
    assert mlp_critic()(torch.randn(5, 2)).shape == (5, 1)
    G, D = DCGenerator(z_dim=16, channels=8), DCDiscriminator(channels=8)
    img = G(torch.randn(4, 16))
    assert img.shape == (4, 1, 28, 28) and img.min() >= 0 and img.max() <= 1
    assert D(img).shape == (4, 1)
    critic = DCDiscriminator(channels=8, batchnorm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())


def test_gradient_penalty_of_a_linear_critic_is_closed_form():
    """C(x) = w.x has gradient w everywhere: the penalty is (|w| - 1)^2, whatever the points."""
    critic = nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 4.0]]))
    real, fake = torch.randn(16, 2, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)
    gp.backward()  # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert torch.allclose(critic.weight.grad, 2 * 4.0 * torch.tensor([[3.0, 4.0]], dtype=torch.float64) / 5)


def test_gradient_penalty_equals_a_finite_difference_reference():
    """On a nonlinear critic, in float64: the same interpolation points (same seed), the
    gradient norms by central differences."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    real, fake = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    torch.manual_seed(5)
    gp = gradient_penalty(critic, real, fake).item()
    torch.manual_seed(5)
    eps = torch.rand(6, 1, dtype=torch.float64)
    x_hat = eps * real + (1 - eps) * fake
    h = 1e-6
    grads = torch.zeros(6, 2, dtype=torch.float64)
    with torch.no_grad():
        for k in range(2):
            step = torch.zeros(2, dtype=torch.float64)
            step[k] = h
            grads[:, k] = (critic(x_hat + step) - critic(x_hat - step)).view(-1) / (2 * h)
    expected = ((grads.norm(dim=1) - 1) ** 2).mean().item()
    assert gp == pytest.approx(expected, rel=1e-6)
    assert math.isfinite(gp)


def test_discriminator_loss_is_the_bce_of_real_as_1_and_fake_as_0():
    """Against the formula -mean log sigmoid(D(real)) - mean log(1 - sigmoid(D(fake))), in float64."""
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    real, fake = torch.randn(7, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    p_real, p_fake = torch.sigmoid(D(real)), torch.sigmoid(D(fake))
    expected = -p_real.log().mean() - (1 - p_fake).log().mean()
    assert discriminator_loss(D, real, fake).item() == pytest.approx(expected.item(), rel=1e-12)


def test_js_estimate_is_0_for_a_coin_and_near_ln2_for_a_perfect_discriminator():
    real, fake = torch.randn(20, 2) + torch.tensor([10.0, 0.0]), torch.randn(20, 2) - torch.tensor([10.0, 0.0])
    coin = nn.Linear(2, 1)
    nn.init.zeros_(coin.weight)
    nn.init.zeros_(coin.bias)
    assert js_estimate(coin, real, fake) == pytest.approx(0.0, abs=1e-7)
    sharp = nn.Linear(2, 1)  # logit 10 x1: sure and right on both sets (disjoint supports)
    with torch.no_grad():
        sharp.weight.copy_(torch.tensor([[10.0, 0.0]]))
        sharp.bias.zero_()
    assert js_estimate(sharp, real, fake) == pytest.approx(math.log(2), abs=1e-6)


def test_gan_step_warm_up_trains_the_discriminator_alone():
    torch.manual_seed(0)
    G, D = mlp_generator(8), mlp_critic()
    step = GANStep(G, D, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters()), z_dim=8, warmup=2)
    g0, d0 = [p.detach().clone() for p in G.parameters()], [p.detach().clone() for p in D.parameters()]
    for _ in range(2):
        out = step((torch.randn(10, 2),))
        assert set(out) == {"d_loss", "g_loss"}  # the same scores as after the warm-up
    assert all(torch.equal(a, b) for a, b in zip(g0, G.parameters())) and step.g_updates == 0
    assert all(not torch.equal(a, b) for a, b in zip(d0, D.parameters()))
    step((torch.randn(10, 2),))
    assert all(not torch.equal(a, b) for a, b in zip(g0, G.parameters())) and step.g_updates == 1
