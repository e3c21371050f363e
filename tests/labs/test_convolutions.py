import pytest
import torch
import torch.nn.functional as F

from dlc.errors import DlcError, UsageError
from dlc.labs import convolutions as cv
from dlc.labs import run_lab
from tests.conftest import requires_mnist
from tests.labs.helpers import assert_checks, run_tiny


@requires_mnist
def test_lab_matches_torch(runs_dir):
    result = run_tiny("convolutions", runs_dir)
    assert_checks(result)
    m = result.metrics
    for name in ("conv2d_loops", "conv2d_unfold", "max_pool2d_unfold", "avg_pool2d_unfold"):
        assert m[f"{name}_max_error"] < 1e-10, name
    assert (result.run_dir / "filters.png").is_file()


@pytest.mark.parametrize("case", cv.CONV_CASES)
def test_conv_outputs_and_gradients_equal_torch(case):
    torch.manual_seed(1)
    assert cv.conv_max_error(case, cv.conv2d_unfold) < 1e-10
    if case[-1] == 1:  # the loop version is the plain definition, without dilation
        assert cv.conv_max_error(case, cv.conv2d_loops) < 1e-10


@pytest.mark.parametrize("case", cv.POOL_CASES)
def test_pooling_outputs_and_gradients_equal_torch(case):
    torch.manual_seed(2)
    assert cv.pool_max_error(case, cv.max_pool2d_unfold, F.max_pool2d) < 1e-12
    assert cv.pool_max_error(case, cv.avg_pool2d_unfold, F.avg_pool2d) < 1e-12


def test_out_size_formula_matches_torch():
    for n, k, s, p, d in [(28, 5, 1, 0, 1), (32, 3, 2, 1, 1), (17, 3, 3, 2, 2)]:
        y = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d)
        assert y.shape[-1] == cv.out_size(n, k, s, p, d)


def test_mismatched_channels_are_refused():
    with pytest.raises(DlcError, match="same C"):
        cv.conv2d_unfold(torch.zeros(1, 3, 8, 8), torch.zeros(2, 1, 3, 3))
    with pytest.raises(ValueError, match="same C"):  # still a ValueError, as torch's are
        cv.conv2d_loops(torch.zeros(1, 3, 8, 8), torch.zeros(2, 1, 3, 3))


def test_bad_options_are_refused():
    for bad in ({"kernel": 0}, {"kernel": 29}, {"batch": 0}):
        with pytest.raises(UsageError):
            cv.Config(**bad)


# Every count option at 0 is refused before the run, with the minimum it needs (never an IndexError).
ZERO_COUNTS = [
    ("batch", 1),
    ("filters", 1),
    ("kernel", 1),
    ("digits", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("convolutions", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()


def test_every_kernel_of_the_figure_is_visible():
    from dlc.labs.convolutions import FILTERS, filters_figure

    fig = filters_figure(torch.rand(2, 1, 28, 28))
    kernels = [ax for ax in fig.axes[1 : 1 + 2 * len(FILTERS) : 2]]  # row 0: input, then kernel and its pooled title
    for ax, name in zip(kernels, FILTERS):
        (image,) = ax.get_images()
        lo, hi = image.get_clim()
        weights = image.get_array()
        # each kernel on its own symmetric scale: its largest weight takes the full colour
        # (the blur's 4/16 on a -2..2 scale was all but white)
        assert hi == pytest.approx(float(abs(weights).max())) and lo == -hi, name
        assert len(ax.texts) == 9  # its weights are written in
    assert fig._suptitle is not None and "red positive" in fig._suptitle.get_text()
