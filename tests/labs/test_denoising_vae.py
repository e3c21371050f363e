"""denoising-vae at --tiny: the denoiser's PSNR is well above the noisy input's (and a
mean filter's), the VAE's ELBO rises, and its samples are judged closer to real digits
than the untrained decoder's, all measured in the same run."""

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import get, make_config
from dlc.labs.denoising_vae import DenoisingStep, VAEStep, corrupt, mean_filter
from dlc.models.autoencoders import VAE, AutoEncoder
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_denoising_vae_at_tiny(runs_dir):
    result = run_tiny("denoising-vae", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["train_samples"] == 500 and m["test_samples"] == 100 and m["judge_samples"] == 200
    assert m["psnr_denoised"] > m["psnr_noisy"] + 3 and m["psnr_denoised"] > m["psnr_untrained_denoiser"]
    assert m["elbo_curve"][-1] == pytest.approx(m["elbo_test"], abs=5.0)  # one z per image: a noisy estimate
    assert m["elbo_untrained"] < m["elbo_first_epoch"] < m["elbo_test"] < 0
    assert m["frechet_floor"] < m["frechet_vae"] < 0.5 * m["frechet_untrained"]
    assert m["judge_test_accuracy"] > 0.95
    assert ("judge trained now" in result.line) == m["judge_trained_now"]
    for name in ("denoising.png", "elbo.png", "denoiser_psnr.png", "vae_samples.png"):
        assert (result.run_dir / name).is_file(), name


def test_corruptions():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28)
    noisy = corrupt(x, "gaussian", 0.5, g)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not torch.equal(noisy, x)
    masked = corrupt(torch.ones(1000, 1, 28, 28), "mask", 0.25, g)
    assert set(masked.unique().tolist()) == {0.0, 1.0}
    assert float(1 - masked.mean()) == pytest.approx(0.25, abs=0.01)
    assert torch.allclose(mean_filter(torch.full((1, 1, 5, 5), 0.3)), torch.full((1, 1, 5, 5), 0.3))


def test_steps_train_and_score():
    torch.manual_seed(0)
    x = torch.rand(32, 1, 28, 28) * (torch.rand(32, 1, 28, 28) > 0.7)
    dae = AutoEncoder(8, 4)
    dstep = DenoisingStep(dae, torch.optim.Adam(dae.parameters(), lr=3e-3), "gaussian", 0.3)
    scores = dstep((x,))
    assert set(scores) == {"loss"}
    assert set(dstep.evaluate((corrupt(x, "gaussian", 0.3), x))) == {"loss", "psnr"}
    vae = VAE(4, 4)
    vstep = VAEStep(vae, torch.optim.Adam(vae.parameters(), lr=3e-3))
    first = vstep((x,))
    for _ in range(20):
        last = vstep((x,))
    assert set(first) == {"loss", "rec", "kl"}
    assert float(last["loss"]) < float(first["loss"])
    assert float(last["loss"]) == pytest.approx(float(-last["rec"] + last["kl"]), rel=1e-5)


@pytest.mark.parametrize(
    "options, needle",
    [
        ({"noise": "salt"}, "--noise"),
        ({"noise": "mask", "noise_level": 1.5}, "--noise_level"),
        ({"epochs": 0}, "--epochs"),
        ({"vae_epochs": 0}, "--vae_epochs"),
        ({"judge_samples": 6000}, "--judge_samples"),
        ({"arch": "big"}, "--arch"),
    ],
)
def test_bad_options_are_refused(options, needle):
    with pytest.raises(UsageError, match=needle):
        make_config(get("denoising-vae"), "tiny", **options)
