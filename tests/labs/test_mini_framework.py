"""mini-framework: the mini-project's network, trained with explicit backward passes,
beats chance by far on the disc set; its pieces are checked against torch.autograd."""

import json

import pytest
import torch

from dlc.errors import UsageError
from dlc.labs import mini_framework as lab
from dlc.labs import run_lab
from dlc.scratch import modules as M
from tests.labs.helpers import assert_checks, run_tiny


def test_tiny_run_learns_the_disc(runs_dir):
    result = run_tiny("mini-framework", runs_dir)
    m = result.metrics
    assert m["majority_error"] > 0.4  # the classes are balanced: chance is ~50%
    assert m["test_error"] < 0.10  # the stated threshold at --tiny
    assert m["train_error"] < 0.10
    assert m["final_loss"] < 0.5 * m["first_loss"]
    assert (result.run_dir / "regions.png").is_file()
    lines = (result.run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == m["epochs"]  # the loss is logged every epoch
    assert [json.loads(s)["epoch"] for s in lines] == list(range(1, 13))
    assert_checks(result)


def test_bad_options_are_refused(runs_dir):
    with pytest.raises(UsageError, match="activation"):
        run_lab("mini-framework", size="tiny", runs_dir=runs_dir, quiet=True, activation="gelu")
    with pytest.raises(UsageError, match="batch_size"):
        run_lab("mini-framework", size="tiny", runs_dir=runs_dir, quiet=True, batch_size=0)
    with pytest.raises(UsageError, match="activation"):
        lab.build_model(8, "sigmoid")
    assert not runs_dir.exists()


def test_the_data_is_the_mini_projects():
    x, y, xt, yt = lab.disc_data(1000, seed=0)
    assert x.shape == (1000, 2) and xt.shape == (1000, 2)
    assert x.min() >= 0 and x.max() <= 1
    inside = ((x - 0.5) ** 2).sum(1) < 1 / (2 * torch.pi)
    assert torch.equal(y, inside.long())
    assert not torch.equal(x, xt)  # test points are drawn afresh


def test_one_training_step_equals_autograd_sgd():
    torch.manual_seed(0)
    model = lab.build_model(8, "tanh").to(dtype=torch.float64)
    params = [p.clone().requires_grad_() for p, _ in model.param()]
    x = torch.rand(16, 2, dtype=torch.float64)
    target = torch.nn.functional.one_hot(torch.randint(0, 2, (16,)), 2).double()
    with torch.no_grad():
        lab.train_epoch(
            model, M.LossMSE(), M.SGD(model.param(), lr=0.1), x, target, batch_size=16
        )  # one batch: one step, order irrelevant
    h = x
    for i in range(0, 6, 2):
        h = torch.tanh(h @ params[i].t() + params[i + 1])
    out = h @ params[6].t() + params[7]
    torch.nn.functional.mse_loss(out, target).backward()
    for (p, _), q in zip(model.param(), params):
        expected = q.detach() - 0.1 * q.grad
        assert (p - expected).abs().max() <= 1e-10 * expected.abs().max()


# Every count option at 0 is refused before the run, with the minimum it needs.
ZERO_COUNTS = [
    ("epochs", 1),
    ("n", 1),
    ("hidden", 1),
    ("batch_size", 1),
]


@pytest.mark.parametrize("option, minimum", ZERO_COUNTS)
def test_a_count_of_zero_is_refused_with_its_minimum(option, minimum, runs_dir):
    with pytest.raises(UsageError, match=rf"--{option} must be (at least|>=) {minimum}\b"):
        run_lab("mini-framework", size="tiny", runs_dir=runs_dir, quiet=True, **{option: 0})
    assert not runs_dir.exists()
