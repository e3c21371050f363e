"""resnet at --tiny: the practical's experiment. The plain deep net's gradient vanishes
towards the input while the residual net's does not, and the residual net trains better
than the same net without skip connections (same run)."""

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import get, make_config
from dlc.labs.resnet import VARIANTS, ResBlock, ResNet, block_gradient_norms, smooth
from tests.conftest import requires_cifar
from tests.labs.helpers import assert_checks, run_tiny


@requires_cifar
def test_resnet_at_tiny(runs_dir):
    result = run_tiny("resnet", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["epochs"] == 2 and m["train_samples"] == 500 and m["test_n"] == 100
    norms = m["gradient_norms"]
    assert set(norms) == set(VARIANTS) and all(len(g) == m["blocks"] for g in norms.values())
    plain, res = norms["no skip, no BN (plain)"], norms["skip + BN (ResNet)"]
    # towards the input the plain net's gradient only shrinks; the residual one's stays put
    assert plain[0] < plain[len(plain) // 2] < plain[-1]
    assert max(res) / min(res) < 100
    loss = m["final_train_loss"]
    assert loss["skip + BN (ResNet)"] < loss["no skip, no BN (plain)"] - 0.05
    for name in ("gradient-norms.png", "training.png"):
        assert (result.run_dir / name).is_file(), name


@requires_cifar
def test_zero_epochs_measures_the_gradients_only(runs_dir):
    result = run_tiny("resnet", runs_dir, force_cpu=True, epochs=0)
    assert_checks(result)
    assert len(result.verdicts) == 2 and "final_train_loss" not in result.metrics
    assert not (result.run_dir / "training.png").exists()


def test_block_adds_its_input_only_with_skip():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    with_skip, without = ResBlock(4, skip=True, batch_norm=False), ResBlock(4, skip=False, batch_norm=False)
    without.load_state_dict(with_skip.state_dict())
    branch = with_skip.conv2(torch.relu(with_skip.conv1(x)))
    assert torch.allclose(with_skip(x), torch.relu(branch + x), atol=1e-6)
    assert torch.allclose(without(x), torch.relu(branch), atol=1e-6)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in without.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in ResBlock(4).modules()) == 2


def test_network_shapes_and_gradient_norms():
    net = ResNet(blocks=5, channels=3)
    assert net(torch.zeros(4, 3, 8, 8)).shape == (4, 10)
    g = block_gradient_norms(net, torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3]))
    assert len(g) == 5 and all(v > 0 for v in g)
    assert all(p.grad is None for p in net.parameters())  # left clean for training


def test_smooth_is_a_running_mean():
    assert smooth([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]


@pytest.mark.parametrize(
    "option, value", [("blocks", 1), ("kernel_size", 2), ("image_size", 12), ("grad_samples", 1), ("channels", 0)]
)
def test_bad_options_are_refused(option, value):
    with pytest.raises(UsageError, match=f"--{option}"):
        make_config(get("resnet"), **{option: value})
