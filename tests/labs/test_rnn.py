"""rnn: the recurrence from its equation equals nn.RNN, hand BPTT equals autograd, and
full BPTT learns a long-range recall that truncated BPTT and a memoryless baseline do not."""

import torch

from dlc.labs.rnn import ElmanRNN, bptt, first_symbol_task, torch_rnn_like
from tests.labs.helpers import assert_checks, run_tiny


def test_lab_at_tiny(runs_dir):
    result = run_tiny("rnn", runs_dir)
    assert_checks(result)
    acc = result.metrics["test_accuracy"]
    assert acc["RNN from its equations"] > 0.8
    assert acc["last symbol only (no memory)"] < 0.4  # chance is 25%
    # before training, the gradient shrinks on its way back through time
    assert result.metrics["untrained_gradient_first_over_last"] < 0.1
    for name in ("accuracy.png", "gradient_through_time.png"):
        assert (result.run_dir / name).is_file()


def test_bptt_by_hand_equals_autograd_with_a_loss_on_every_state():
    torch.manual_seed(0)
    rnn = ElmanRNN(3, 5).double()
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    states = rnn(x)
    # a loss on the last state only, as the lab's classifier
    g = torch.randn(4, 5, dtype=torch.float64)
    auto = dict(zip([n for n, _ in rnn.named_parameters()], torch.autograd.grad(states[:, -1], rnn.parameters(), g)))
    hand = bptt(rnn, x, states.detach(), g)
    for name in auto:
        assert torch.allclose(auto[name], hand[name], atol=1e-12, rtol=0), name


def test_the_recurrence_is_nn_rnns_and_truncation_cuts_the_gradient():
    torch.manual_seed(1)
    ours = ElmanRNN(4, 6).double()
    x = torch.randn(2, 9, 4, dtype=torch.float64, requires_grad=True)
    out, h_n = torch_rnn_like(ours)(x)
    assert torch.allclose(ours(x), out, atol=1e-14) and torch.allclose(out[:, -1], h_n[0])
    ours.truncate = 3
    (grad,) = torch.autograd.grad(ours(x)[:, -1].sum(), x)
    assert (grad[:, :6] == 0).all() and (grad[:, 6:] != 0).any()


def test_the_task_is_the_first_symbol():
    x, y = first_symbol_task(50, 8, 5, seed=3)
    assert x.shape == (50, 8, 5) and y.dtype == torch.int64
    assert torch.equal(x[:, 0].argmax(1), y) and (x.sum(2) == 1).all()
