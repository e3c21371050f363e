"""cgan at --tiny: the conditional generator draws the requested digit (judged by dlc's digit
classifier, against the untrained generator of the same run), and pix2pix's outputs are more
colourful than L1-only's at a higher L1 error; plus the steps and models on their own."""

import torch

from dlc.labs.cgan import (
    CGANStep,
    CondGenerator,
    PatchDiscriminator,
    Pix2PixStep,
    ProjectionDiscriminator,
    UNet,
    label_maps,
    saturation,
    sharpness,
)
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_cgan_draws_the_requested_digit_and_pix2pix_beats_l1_on_colour(runs_dir):
    result = run_tiny("cgan", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["epochs"] == 4 and m["judge_samples"] == 200
    assert abs(m["untrained_cond_accuracy"] - 0.1) < 0.1  # chance
    assert m["cond_accuracy"] > 3 * m["untrained_cond_accuracy"]
    assert m["real_frechet"] < m["frechet"] < 0.5 * m["untrained_frechet"]
    assert len(m["per_digit_accuracy"]) == 10
    assert m["pix2pix_saturation"] > 2 * m["l1_saturation"]
    assert m["l1_l1_error"] < m["pix2pix_l1_error"]
    for name in ("cgan_samples.png", "translation.png", "metrics.jsonl"):
        assert (result.run_dir / name).is_file(), name


@requires_mnist
def test_zero_epochs_judges_the_untrained_generator(runs_dir):
    result = run_tiny("cgan", runs_dir, force_cpu=True, epochs=0, toy_epochs=0)
    assert [v.name for v in result.verdicts] == ["untrained generator: requested digit read near chance (10%)"]
    assert result.passed
    assert result.metrics["cond_accuracy"] == result.metrics["untrained_cond_accuracy"]


def test_models_shapes_and_conditioning():
    torch.manual_seed(0)
    G, D = CondGenerator(8, 4), ProjectionDiscriminator(4)
    y = torch.tensor([0, 3, 9])
    x = G(torch.randn(3, 8), y)
    assert x.shape == (3, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert D(x, y).shape == (3,)
    # the embedding starts at zero: at first the discriminator ignores the class...
    assert torch.equal(D(x, y), D(x, torch.tensor([1, 1, 1])))
    # ...and once it is not zero, the same image scores differently under another label
    torch.nn.init.normal_(D.embed.weight)
    assert not torch.allclose(D(x, y), D(x, torch.tensor([1, 1, 1])))
    m = label_maps(torch.randint(0, 4, (2, 16, 16)), 4)
    assert m.shape == (2, 4, 16, 16) and torch.allclose(m.sum(1), torch.ones(2, 16, 16))
    assert UNet(4, 4)(m).shape == (2, 3, 16, 16)
    assert PatchDiscriminator(7, 4)(m, torch.rand(2, 3, 16, 16)).shape == (2, 1, 4, 4)


def test_measures():
    grey = torch.rand(2, 1, 8, 8).expand(2, 3, 8, 8)
    assert saturation(grey) == 0
    assert sharpness(torch.ones(1, 3, 8, 8)) == 0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1  # columns alternate: every horizontal neighbour differs by 1
    assert sharpness(stripes) == 1


def test_steps_update_both_players():
    torch.manual_seed(0)
    G, D = CondGenerator(8, 4), ProjectionDiscriminator(4)
    step = CGANStep(G, D, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters()))
    before = [p.clone() for p in (*G.parameters(), *D.parameters())]
    out = step((torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))))
    assert set(out) == {"d_loss", "g_loss"}
    assert all(not torch.equal(a, b) for a, b in zip(before, (*G.parameters(), *D.parameters())))
    G2, D2 = UNet(4, 4), PatchDiscriminator(7, 4)
    s2 = Pix2PixStep(G2, D2, torch.optim.Adam(G2.parameters()), torch.optim.Adam(D2.parameters()), 10.0)
    out = s2((label_maps(torch.randint(0, 4, (4, 16, 16)), 2), torch.rand(4, 3, 16, 16)))
    assert set(out) == {"d_loss", "g_gan", "l1"}
