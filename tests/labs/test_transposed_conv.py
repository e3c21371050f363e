"""transposed-conv: conv_transpose is the adjoint of conv (numerically, in float64), the
size formula is torch's, and the checkerboard appears exactly when the overlap is uneven."""

import pytest
import torch
import torch.nn.functional as F

from dlc.labs.transposed_conv import checkerboards, conv_matrix, conv_out, interior_spread, transposed_out
from tests.labs.helpers import assert_checks, run_tiny


def test_lab_at_tiny(runs_dir):
    result = run_tiny("transposed-conv", runs_dir)
    assert_checks(result)
    m = result.metrics
    assert m["trials"] == 40 and m["size_settings"] > 500
    for name in ("matrix.png", "checkerboard.png"):
        assert (result.run_dir / name).is_file()


@pytest.mark.parametrize("n, k, s, p", [(8, 3, 2, 1), (7, 2, 1, 0), (10, 4, 3, 2)])
def test_conv_matrix_is_the_convolution_and_its_transpose_the_transposed_one(n, k, s, p):
    w = torch.randn(k, dtype=torch.float64)
    c = conv_matrix(w, n, stride=s, padding=p)
    x = torch.randn(n, dtype=torch.float64)
    assert torch.allclose(c @ x, F.conv1d(x.view(1, 1, -1), w.view(1, 1, -1), stride=s, padding=p).view(-1))
    y = torch.randn(c.shape[0], dtype=torch.float64)
    op = n - transposed_out(c.shape[0], k, s, p)
    back = F.conv_transpose1d(y.view(1, 1, -1), w.view(1, 1, -1), stride=s, padding=p, output_padding=op)
    assert torch.allclose(c.T @ y, back.view(-1), atol=1e-12)


def test_transposed_size_inverts_the_convolution_size():
    for n in range(5, 20):
        for k, s, p in [(3, 2, 1), (4, 2, 1), (5, 3, 2)]:
            m = conv_out(n, k, s, p)
            sizes = {transposed_out(m, k, s, p, output_padding=op) for op in range(s)}
            assert n in sizes


def test_checkerboard_spread_measures_the_pattern():
    boards = checkerboards()
    k3 = boards["transposed conv, kernel 3, stride 2"][0, 0]
    # stride 2, kernel 3: interior pixels receive 1, 2 or 4 contributions (rows x columns)
    assert set(k3[4:-4, 4:-4].unique().tolist()) == {1.0, 2.0, 4.0}
    assert interior_spread(torch.ones(1, 1, 12, 12)) == 0
