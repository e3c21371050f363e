"""Batch augmentation: each image transformed as a whole, seeded, on the right shapes."""

import pytest
import torch

from dlc.data.augment import flip_crop, random_crop, random_erase, random_flip, random_rotation
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
    with pytest.raises(InvalidArgument, match="size must be >= 0"):
        random_erase(torch.zeros(1, 1, 8, 8), -1)
    with pytest.raises(InvalidArgument, match="p must be a probability"):
        random_erase(torch.zeros(1, 1, 8, 8), 4, p=1.5)


def test_erase_blanks_one_clipped_square_per_chosen_image():
    x = torch.rand(200, 2, 12, 12) + 1  # no value is 0 before erasing
    y = random_erase(x, 5, p=0.5, value=0.0, generator=torch.Generator().manual_seed(4))
    erased = 0
    for i in range(200):
        hole = y[i] == 0
        assert torch.equal(hole[0], hole[1]), "every channel loses the same pixels"
        assert torch.equal(y[i][~hole], x[i][~hole]), "the rest of the image is untouched"
        if not hole.any():
            continue
        erased += 1
        rows, cols = hole[0].any(1).nonzero().view(-1), hole[0].any(0).nonzero().view(-1)
        # one axis-aligned rectangle, at most 5 x 5 (less where it hangs over the border)
        assert hole[0, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()
        assert hole[0].sum() == len(rows) * len(cols) and len(rows) <= 5 and len(cols) <= 5
    assert 70 < erased < 130  # about half of the images
    assert torch.equal(random_erase(x, 0), x) and torch.equal(random_erase(x, 5, p=0.0), x)
    torch.manual_seed(2)
    a = random_erase(x, 5, p=1.0)
    torch.manual_seed(2)
    assert torch.equal(a, random_erase(x, 5, p=1.0)) and (a == 0).flatten(1).any(1).all()
