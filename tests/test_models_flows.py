"""dlc.models.flows: the coupling layer's log-determinant against autograd's full Jacobian
(float64), exact inverses, the base density, masks, and clear errors on bad input."""

import math

import pytest
import torch

from dlc.errors import InvalidArgument
from dlc.models.flows import (
    MLP2,
    AffineCoupling,
    ConvST,
    ElementwiseAffine,
    Flow,
    alternating_masks,
    brute_force_logdet,
    conv_flow,
    coupling_flow,
    image_masks,
)


def _randomised(flow: Flow, seed: int = 0) -> Flow:
    """Perturb every parameter so that s and t are far from their initial values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return flow


def test_vector_flow_logdet_equals_autograd_jacobian_and_inverse_is_exact():
    torch.manual_seed(0)
    flow = _randomised(coupling_flow(5, layers=4, hidden=16)).double()
    x = torch.randn(6, 5, dtype=torch.float64)
    z, logdet = flow(x)
    assert z.shape == x.shape and logdet.shape == (6,)
    assert torch.allclose(logdet, brute_force_logdet(flow, x), atol=1e-10)
    assert logdet.abs().max() > 0.1  # not a volume-preserving map by accident
    assert torch.allclose(flow.inverse(z), x, atol=1e-12)


def test_image_flow_logdet_equals_autograd_jacobian():
    torch.manual_seed(1)
    shift, scale = torch.randn(1, 6, 6), torch.rand(1, 6, 6) + 0.5
    body = conv_flow(6, 6, layers=4, hidden=4, kernel=3)
    flow = _randomised(Flow([ElementwiseAffine(shift, scale), *body.layers], body.shape)).double()
    x = torch.randn(3, 1, 6, 6, dtype=torch.float64)
    z, logdet = flow(x)
    assert z.shape == x.shape
    assert torch.allclose(logdet, brute_force_logdet(flow, x), atol=1e-10)
    assert torch.allclose(flow.inverse(z), x, atol=1e-12)


def test_coupling_leaves_the_kept_coordinates_unchanged():
    layer = AffineCoupling(torch.tensor([1.0, 0.0, 1.0]), MLP2(3, 8))
    x = torch.randn(4, 3)
    y, _ = layer(x)
    assert torch.equal(y[:, [0, 2]], x[:, [0, 2]])
    assert not torch.allclose(y[:, 1], x[:, 1])


def test_log_prob_of_an_identity_like_flow_is_the_standard_normal():
    flow = Flow([ElementwiseAffine(torch.zeros(2), torch.ones(2))], (2,))
    x = torch.randn(5, 2)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)
    assert torch.allclose(flow.log_prob(x), expected, atol=1e-6)
    # scaling by 2 halves the density in each dimension: log p drops by 2 log 2 at the origin
    wide = Flow([ElementwiseAffine(torch.zeros(2), 2 * torch.ones(2))], (2,))
    assert math.isclose(float(wide.log_prob(torch.zeros(1, 2))), -math.log(2 * math.pi) - 2 * math.log(2), rel_tol=1e-6)


def test_samples_have_the_flows_shape_and_follow_the_seed():
    flow = conv_flow(4, 4, layers=2, hidden=2, kernel=3)
    a = flow.sample(3, torch.Generator().manual_seed(5))
    b = flow.sample(3, torch.Generator().manual_seed(5))
    assert a.shape == (3, 1, 4, 4) and torch.equal(a, b)


def test_masks():
    m = alternating_masks(2, 3)
    assert [t.tolist() for t in m] == [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    board, anti, top, bottom = image_masks(4, 4, 4)
    assert board.shape == (1, 4, 4) and torch.equal(board + anti, torch.ones(1, 4, 4))
    assert board[0, 0, 0] == 1 and board[0, 0, 1] == 0 and board[0, 1, 0] == 0
    assert top[0, :2].eq(1).all() and top[0, 2:].eq(0).all() and torch.equal(top + bottom, torch.ones(1, 4, 4))


def test_bad_input_is_refused_clearly():
    with pytest.raises(InvalidArgument, match="only 0s and 1s"):
        AffineCoupling(torch.tensor([0.5, 1.0]), MLP2(2, 4))
    with pytest.raises(InvalidArgument, match="mixed"):
        AffineCoupling(torch.ones(2), MLP2(2, 4))
    with pytest.raises(InvalidArgument, match="positive"):
        ElementwiseAffine(torch.zeros(2), torch.tensor([1.0, 0.0]))
    with pytest.raises(InvalidArgument, match="at least 2"):
        alternating_masks(1, 2)
    with pytest.raises(InvalidArgument, match="3 masks"):
        coupling_flow(2, layers=3, hidden=4, masks=alternating_masks(2, 2))
    with pytest.raises(InvalidArgument, match="at least one layer"):
        Flow([], (2,))
    with pytest.raises(InvalidArgument, match=">= 1"):
        conv_flow(4, 4, layers=0, hidden=2)
    assert isinstance(ConvST(image_masks(4, 4, 1)[0]), torch.nn.Module)
