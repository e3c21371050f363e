"""dlc.viz.image_rows: one row of panels per label, images on a fixed 0..1 scale."""

import pytest
import torch

from dlc import viz
from dlc.errors import InvalidArgument


def test_image_rows_lays_out_labelled_rows():
    rows = [("originals", torch.rand(4, 1, 28, 28)), ("model", torch.rand(3, 784) * 3 - 1)]
    fig = viz.image_rows(rows, "a title", col_labels=["a", "b", "c", "d"])
    axes = fig.axes
    assert len(axes) == 2 * 4
    assert [axes[0].get_ylabel(), axes[4].get_ylabel()] == ["originals", "model"]
    assert [ax.get_title() for ax in axes[:4]] == ["a", "b", "c", "d"]
    shown = axes[4].images[0].get_array()
    assert shown.shape == (28, 28) and shown.min() >= 0 and shown.max() <= 1  # clamped to 0..1
    assert not axes[7].images  # the shorter row leaves its last panel empty
    assert fig._suptitle.get_text() == "a title"


def test_image_rows_needs_a_row():
    with pytest.raises(InvalidArgument, match="at least one row"):
        viz.image_rows([], "nothing")
