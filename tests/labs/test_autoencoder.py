"""autoencoder at --tiny: the convolutional auto-encoder's test error is below PCA's with
the same latent dimension (both measured in the run), training lowered it, and the
figures are written."""

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import get, make_config
from dlc.labs.autoencoder import ReconstructionStep, pca_errors
from dlc.models.autoencoders import AutoEncoder
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_autoencoder_beats_pca_at_tiny(runs_dir):
    result = run_tiny("autoencoder", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["latent_dims"] == [8] and m["train_samples"] == 500 and m["test_samples"] == 100
    assert m["ae_mse"][8] < m["pca_mse"][8] < m["untrained_mse"][8]
    # the PCA curve falls with d, and its value at d = 8 is the baseline of the check
    curve = m["pca_curve"]
    assert all(a >= b - 1e-7 for a, b in zip(curve, curve[1:]))
    assert curve[7] == pytest.approx(m["pca_mse"][8])
    assert result.line.startswith("test MSE per pixel, AE vs PCA: d=8: AE ")
    for name in ("curves.png", "error_vs_dim.png", "reconstructions.png", "interpolation.png"):
        assert (result.run_dir / name).is_file(), name


@requires_mnist
def test_zero_epochs_compares_the_untrained_autoencoder(runs_dir):
    result = run_tiny("autoencoder", runs_dir, force_cpu=True, epochs=0)
    assert_checks(result)
    assert [v.name for v in result.verdicts] == ["d=8: untrained AE's test MSE above PCA's"]
    assert result.line.startswith("no training (--epochs 0): test MSE per pixel, untrained AE vs PCA")
    assert not (result.run_dir / "curves.png").exists()


def test_pca_errors_match_explicit_reconstructions():
    g = torch.Generator().manual_seed(0)
    train, test = torch.rand(60, 1, 5, 5, generator=g), torch.rand(20, 1, 5, 5, generator=g)
    errors, reconstruct = pca_errors(train, test, 10)
    for d in (1, 4, 10):
        direct = (reconstruct(test, d) - test).pow(2).mean()
        assert float(errors[d - 1]) == pytest.approx(float(direct), rel=1e-5)


def test_the_step_lowers_the_reconstruction_error():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28) * (torch.rand(64, 1, 28, 28) > 0.7)
    model = AutoEncoder(4, width=4)
    step = ReconstructionStep(model, torch.optim.Adam(model.parameters(), lr=3e-3))
    with torch.no_grad():
        first = float(step.evaluate((x,))["loss"])
    for _ in range(30):
        step((x,))
    with torch.no_grad():
        assert float(step.evaluate((x,))["loss"]) < 0.7 * first


@pytest.mark.parametrize(
    "options, needle",
    [({"latent_dims": "2,x"}, "--latent_dims"), ({"latent_dims": "0"}, "--latent_dims"), ({"arch": "big"}, "--arch")],
)
def test_bad_options_are_refused(options, needle):
    with pytest.raises(UsageError, match=needle):
        make_config(get("autoencoder"), "tiny", **options)
