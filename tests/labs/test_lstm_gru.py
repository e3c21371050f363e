"""lstm-gru: at the longest length the LSTM and the GRU recall the marked symbol and the
plain RNN does not; before training, the RNN's gradient vanishes through time and the
gated ones' does not."""

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import get, make_config
from dlc.labs.lstm_gru import Classifier, gradient_through_time, marked_symbol_task, recurrent
from tests.labs.helpers import assert_checks, run_tiny


def test_lab_at_tiny(runs_dir):
    result = run_tiny("lstm-gru", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    acc, longest = m["test_accuracy"], str(m["lengths"][-1])
    assert acc["LSTM"][longest] > 0.9 and acc["GRU"][longest] > 0.9
    assert acc["RNN"][longest] < 0.5  # chance is 25%
    grads = m["untrained_gradient"]
    assert all(len(g) == m["lengths"][-1] for g in grads.values())
    assert grads["RNN"][0] < 1e-2 * grads["RNN"][-1]  # vanishes on its way back
    for name in ("accuracy_vs_length.png", "gradient_through_time.png"):
        assert (result.run_dir / name).is_file()


def test_the_task_marks_one_symbol_in_the_first_quarter():
    x, y = marked_symbol_task(64, 12, 5, seed=3)
    assert x.shape == (64, 12, 6) and y.dtype == torch.int64
    marker = x[..., 5]
    assert (marker.sum(1) == 1).all() and (marker[:, 3:] == 0).all()
    where = marker.argmax(1)
    assert torch.equal(x[torch.arange(64), where, :5].argmax(1), y)
    assert (x[..., :5].sum(2) == 1).all()


def test_the_keep_gates_bias_is_set():
    lstm, gru = recurrent("LSTM", 3, 4, 2.5), recurrent("GRU", 3, 4, 2.5)
    assert torch.allclose(lstm.bias_ih_l0[4:8] + lstm.bias_hh_l0[4:8], torch.full((4,), 2.5))
    assert torch.allclose(gru.bias_ih_l0[4:8] + gru.bias_hh_l0[4:8], torch.full((4,), 2.5))


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_stepping_through_time_is_the_fused_module_and_its_gradient_reaches_every_step(kind):
    torch.manual_seed(0)
    model = Classifier(kind, 4, 6, 3, gate_bias=1.0)
    x, y = torch.randn(5, 7, 4), torch.randint(0, 3, (5,))
    grads = gradient_through_time(model, x, y)
    assert len(grads) == 7 and all(g > 0 for g in grads)
    # the last state's gradient is that of the loss on the fused module's last output
    out = model.rnn(x)[0]
    last = out[:, -1].detach().requires_grad_()
    (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model.fc(last), y), last)
    assert abs(float(g.norm(dim=1).mean()) - grads[-1]) < 1e-6


def test_bad_lengths_are_refused():
    lab = get("lstm-gru")
    for bad in ("10,5", "5,5", "1", "a,b"):
        with pytest.raises(UsageError, match="--lengths"):
            make_config(lab, lengths=bad)
