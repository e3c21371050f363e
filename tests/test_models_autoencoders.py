"""The chapter-9 auto-encoders: shapes of both architectures, the VAE's ELBO against
torch.distributions, the reparameterisation trick's gradient, PSNR."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from dlc.models.autoencoders import VAE, AutoEncoder, conv_decoder, conv_encoder, elbo, gaussian_kl, psnr


@pytest.mark.parametrize("arch", ["small", "lecture"])
def test_shapes(arch):
    x = torch.rand(3, 1, 28, 28)
    assert conv_encoder(5, 4, arch)(x).shape == (3, 5)
    assert conv_decoder(5, 4, arch)(torch.randn(3, 5)).shape == (3, 1, 28, 28)
    ae = AutoEncoder(7, 4, arch)
    assert ae.encode(x).shape == (3, 7) and ae(x).shape == x.shape
    vae = VAE(6, 4, arch)
    logits, mu, logvar = vae(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (3, 6)
    s = vae.sample(4, torch.Generator().manual_seed(0))
    assert s.shape == (4, 1, 28, 28) and 0 <= float(s.min()) and float(s.max()) <= 1


def test_the_lecture_network_has_the_lectures_layers():
    enc = conv_encoder(8, 32, "lecture")
    convs = [m for m in enc if isinstance(m, torch.nn.Conv2d)]
    assert [(m.kernel_size[0], m.stride[0], m.out_channels) for m in convs] == [
        (5, 1, 32),
        (5, 1, 32),
        (4, 2, 32),
        (3, 2, 32),
        (4, 1, 8),
    ]


def test_unknown_arch():
    with pytest.raises(ValueError, match="arch"):
        conv_encoder(4, 4, "huge")


def test_kl_and_elbo_match_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    q = Normal(mu, (0.5 * logvar).exp())
    expected = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
    assert torch.allclose(gaussian_kl(mu, logvar), expected)
    logits = torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64)
    x = torch.rand(5, 1, 4, 4, generator=g, dtype=torch.float64).round()
    value, rec, kl = elbo(logits, x, mu, logvar)
    assert torch.allclose(rec, Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1))
    assert torch.allclose(value, rec - expected) and torch.allclose(kl, expected)


def test_reparameterisation_lets_the_gradient_reach_the_encoder():
    torch.manual_seed(0)
    vae = VAE(4, 4)
    x = torch.rand(2, 1, 28, 28)
    logits, mu, logvar = vae(x)
    value = elbo(logits, x, mu, logvar)[0]
    assert value.shape == (2,)
    (-value.mean()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in vae.encoder.parameters())


def test_psnr():
    clean = torch.zeros(2, 1, 4, 4)
    noisy = clean + torch.tensor([0.1, 0.01]).view(2, 1, 1, 1)
    assert torch.allclose(psnr(noisy, clean), torch.tensor([20.0, 40.0]))
    assert float(psnr(clean, clean)[0]) == pytest.approx(120.0)  # MSE floored at 1e-12
    assert math.isfinite(float(psnr(clean, clean)[0]))
