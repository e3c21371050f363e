"""The synthetic-shapes generator: shapes, dtypes, targets that agree with each other,
seeding, and clear errors."""

import pytest
import torch

from dlc.data.shapes import CLASSES, shapes
from dlc.errors import InvalidArgument


def test_shapes_dtypes_and_ranges():
    s = shapes(50, size=32, objects=(1, 3), seed=1)
    assert s.images.shape == (50, 3, 32, 32) and s.images.dtype == torch.float32
    assert s.masks.shape == s.instances.shape == (50, 32, 32) and s.masks.dtype == torch.int64
    assert s.boxes.shape == (50, 3, 4) and s.labels.shape == (50, 3) and s.counts.shape == (50,)
    assert 0 <= s.images.min() and s.images.max() <= 1
    assert ((1 <= s.counts) & (s.counts <= 3)).all()
    assert set(s.masks.unique().tolist()) <= set(range(len(CLASSES) + 1))


def test_targets_agree_with_each_other():
    s = shapes(40, size=48, objects=(0, 3), seed=2)
    for i in range(len(s)):
        n = int(s.counts[i])
        assert (s.labels[i, n:] == -1).all() and (s.boxes[i, n:] == 0).all()
        assert (s.labels[i, :n] >= 0).all()
        for k in range(n):
            obj = s.instances[i] == k + 1
            # the mask of object k has its class, and its box is the mask's tight bounds
            assert (s.masks[i][obj] == s.labels[i, k] + 1).all()
            rows, cols = obj.any(1).nonzero().view(-1), obj.any(0).nonzero().view(-1)
            expected = [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
            assert s.boxes[i, k].tolist() == [float(v) for v in expected]
        assert ((s.masks[i] > 0) == (s.instances[i] > 0)).all()
        # boxes of one image do not overlap
        for a in range(n):
            for b in range(a + 1, n):
                x0, y0, x1, y1 = s.boxes[i, a].tolist()
                u0, v0, u1, v1 = s.boxes[i, b].tolist()
                assert x1 <= u0 or u1 <= x0 or y1 <= v0 or v1 <= y0


def test_objects_are_brighter_than_their_background():
    s = shapes(20, size=32, objects=(1, 1), noise=0.0, seed=3)
    inside = s.masks > 0
    for i in range(len(s)):
        assert s.images[i][:, inside[i]].mean() > s.images[i][:, ~inside[i]].mean() + 0.2


def test_same_seed_same_set_other_seed_other_set():
    a, b, c = shapes(10, seed=5), shapes(10, seed=5), shapes(10, seed=6)
    assert torch.equal(a.images, b.images) and torch.equal(a.boxes, b.boxes)
    assert not torch.equal(a.images, c.images)


def test_every_class_appears():
    s = shapes(200, objects=(1, 1), seed=0)
    counts = torch.bincount(s.labels[:, 0], minlength=3)
    assert (counts > 40).all(), counts


def test_subsets():
    s = shapes(10, seed=0)
    assert len(s[2:5]) == 3 and torch.equal(s[3].images[0], s.images[3])


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"n": -1}, "n >= 0"),
        ({"n": 3, "size": 4}, "size >= 8"),
        ({"n": 3, "objects": (2, 1)}, "objects must be"),
        ({"n": 3, "scale": (0.1, 0.6)}, "scale must be"),
        ({"n": 3, "noise": -0.1}, "noise must be"),
    ],
)
def test_bad_arguments_are_refused(kw, words):
    with pytest.raises(InvalidArgument, match=words):
        shapes(**kw)
