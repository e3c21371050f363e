"""optimizing-inputs at --tiny: FGSM/PGD at a small epsilon hurt far more than random signs
of the same size; class visualisations are classified as their class; deep dream raises
the layer's activations."""

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import get, make_config
from dlc.labs.optimizing_inputs import fgsm, pgd, random_signs
from dlc.models.convnets import LectureConvNet
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_optimizing_inputs_at_tiny(runs_dir):
    result = run_tiny("optimizing-inputs", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["n_attacked"] == 100 and 0.2 in m["epsilons"] and m["epsilons"][0] == 0
    assert m["fgsm_accuracy"] < 0.5 * m["clean_accuracy"] < m["noise_accuracy"]
    assert m["pgd_accuracy"] <= m["fgsm_accuracy"]
    assert m["visualisation_classes_right"] >= 9
    for name in ("accuracy_vs_epsilon.png", "adversarial_examples.png", "class_visualisation.png", "deep_dream.png"):
        assert (result.run_dir / name).is_file(), name


def test_attacks_stay_in_the_box():
    torch.manual_seed(0)
    model = LectureConvNet().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    pixels = torch.rand(8, 1, 28, 28)
    targets = torch.randint(0, 10, (8,))
    ident = lambda p: p
    for adv in (
        fgsm(model, ident, pixels, targets, 0.1),
        pgd(model, ident, pixels, targets, 0.1, 5),
        random_signs(pixels, 0.1, torch.Generator().manual_seed(0)),
    ):
        assert float((adv - pixels).abs().max()) <= 0.1 + 1e-6
        assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    loss = lambda x: torch.nn.functional.cross_entropy(model(x), targets)
    assert loss(fgsm(model, ident, pixels, targets, 0.05)) > loss(pixels)
    assert loss(pgd(model, ident, pixels, targets, 0.05, 10)) >= loss(fgsm(model, ident, pixels, targets, 0.05)) - 1e-6


def test_bad_epsilons_are_refused():
    with pytest.raises(UsageError, match="epsilon"):
        make_config(get("optimizing-inputs"), epsilon=0.5, max_epsilon=0.3)
