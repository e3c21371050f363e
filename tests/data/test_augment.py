"""Batch augmentation: each image transformed as a whole, seeded, on the right shapes."""

import pytest
import torch

from dlc.data.augment import flip_crop, random_crop, random_flip, random_rotation
from dlc.errors import InvalidArgument


def test_flip_mirrors_some_images_exactly():
    x = torch.randn(64, 3, 8, 8)
    y = random_flip(x, generator=torch.Generator().manual_seed(0))
    same = [torch.equal(y[i], x[i]) for i in range(64)]
    mirrored = [torch.equal(y[i], x[i].flip(2)) for i in range(64)]
    assert all(a or b for a, b in zip(same, mirrored))
    assert 10 < sum(mirrored) < 54


def test_crop_is_a_translation_of_the_padded_image():
    x = torch.randn(32, 2, 10, 12)
    y = random_crop(x, padding=3, generator=torch.Generator().manual_seed(1), mode="constant")
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3))
    shifts = set()
    for i in range(32):
        found = [
            (dy, dx)
            for dy in range(7)
            for dx in range(7)
            if torch.equal(padded[i, :, dy : dy + 10, dx : dx + 12], y[i])
        ]
        assert found, f"image {i} is not a crop of its padded self"
        shifts.add(found[0])
    assert len(shifts) > 5


def test_rotation_by_zero_degrees_is_the_identity_and_seeding_repeats():
    x = torch.rand(4, 3, 16, 16)
    assert torch.allclose(random_rotation(x, 0.0), x, atol=1e-5)
    a = random_rotation(x, 15.0, generator=torch.Generator().manual_seed(3))
    b = random_rotation(x, 15.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.allclose(a, x, atol=1e-3)


def test_flip_crop_keeps_shape_and_the_global_seed_repeats_it():
    x = torch.randn(8, 3, 32, 32)
    torch.manual_seed(0)
    a = flip_crop(x)
    torch.manual_seed(0)
    assert torch.equal(a, flip_crop(x)) and a.shape == x.shape


def test_bad_input_is_refused():
    with pytest.raises(InvalidArgument, match="N x C x H x W"):
        random_flip(torch.zeros(3, 8, 8))
    with pytest.raises(InvalidArgument, match="padding"):
        random_crop(torch.zeros(1, 1, 8, 8), padding=-1)
    with pytest.raises(InvalidArgument, match="degrees"):
        random_rotation(torch.zeros(1, 1, 8, 8), float("nan"))
