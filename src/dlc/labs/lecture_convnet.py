"""The first lecture's convnet on MNIST (EE-559 1.1): a small convolutional network
trained with plain SGD reaches about 1% test error on the full set.

Exactly the lecture's recipe: the network of :class:`dlc.models.convnets.LectureConvNet`
(its forward pass written out here, in :class:`Net`), inputs normalised by the training
mean and standard deviation, SGD with lr 0.1, mini-batches of 100 taken in the file's
order (no shuffling), 10 epochs, cross-entropy.

Check: the test error is far below chance (under half of 90%) and under half the error of
the same network before training, measured in the same run. ``--epochs 0`` trains
nothing: the result is the untrained network's test error, and the check says it is
near chance (over half of 90%).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlc import prologue, viz
from dlc.engine import Supervised, evaluate, fit, predict
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.models.convnets import LectureConvNet


@dataclass
class Config:
    lr: float = 0.1  # SGD step size (the lecture's 0.1)
    batch_size: int = 100  # images per SGD step (the lecture's 100)
    epochs: int = 10  # passes over the training set (the lecture's 10);
    # 0: no training, the untrained network is evaluated
    shuffle: bool = False  # reshuffle the training images every epoch (the lecture
    # keeps their file order)
    train_size: int | None = 1000  # MNIST training images (--tiny 500, --full all 60,000)
    test_size: int | None = 1000  # MNIST test images (--tiny 100, --full all 10,000)


class Net(LectureConvNet):
    """The lecture's convnet, layers from :class:`LectureConvNet`: ``conv1`` (1 -> 32
    channels, 5 x 5), ``conv2`` (32 -> 64, 5 x 5), ``fc1`` (256 -> 200), ``fc2`` (200 -> 10)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images N x 1 x 28 x 28 -> N x 10 class logits (no softmax: the loss applies it).

        conv1, max-pool 3 x 3 (stride 3), ReLU: N x 32 x 8 x 8; conv2, max-pool 2 x 2, ReLU:
        N x 64 x 2 x 2; flattened to N x 256; fc1 and ReLU: N x 200; fc2: N x 10.
        """
        ### BEGIN SOLUTION
        x = F.relu(F.max_pool2d(self.conv1(x), kernel_size=3))
        x = F.relu(F.max_pool2d(self.conv2(x), kernel_size=2))
        x = F.relu(self.fc1(x.view(-1, 256)))
        return self.fc2(x)
        ### END SOLUTION


@lab(
    "lecture-convnet",
    source="EE-559 1.1",
    summary="the first lecture's MNIST convnet with SGD: about 1% test error with --full",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    train_input, train_target, test_input, test_target = prologue.load(
        train_size=cfg.train_size, test_size=cfg.test_size, flatten=False, data_dir=ctx.data_dir, device=ctx.device
    )

    # Normalise with the training statistics only; the test set is "unseen" data.
    mu, std = train_input.mean(), train_input.std()
    train_input.sub_(mu).div_(std)
    test_input.sub_(mu).div_(std)

    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    step = Supervised(model, optimizer, loss="cross_entropy", metric="error")

    untrained = evaluate(step, (test_input, test_target), ctx)
    history = []
    if cfg.epochs:  # --epochs 0 trains nothing: only the untrained network is evaluated
        history = fit(
            step,
            (train_input, train_target),
            ctx,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            # the lecture shows the test error epoch by epoch; it is a curve to look at, never
            # a score to choose by (lecture 2.4), so it is named "test" and selects nothing
            val=(test_input, test_target),
            val_name="test",
            shuffle=cfg.shuffle,
        )
    test = evaluate(step, (test_input, test_target), ctx)

    # The test digits the network gets wrong, with the class it chose.
    predicted = predict(model, test_input).argmax(1)
    wrong = (predicted != test_target).nonzero().view(-1)[:32]
    if len(wrong):
        ctx.save_figure(
            viz.image_grid(
                test_input[wrong].cpu(),
                nrow=8,
                title="misclassified test digits (true -> predicted)",
                labels=[f"{int(test_target[i])} -> {int(predicted[i])}" for i in wrong],
            ),
            "misclassified",
        )

    n_test = test["n"]
    wrong_count = n_test - test["correct"]
    train_time = sum(r["time_s"] for r in history)
    samples = len(train_input) * len(history)
    speed = samples / sum(len(train_input) / r["samples_per_s"] for r in history) if history else 0.0
    if history:
        line = (
            f"test error {test['error']:.2%} ({wrong_count:,}/{n_test:,}), {len(history)} epochs, "
            f"{train_time:.0f} s, {speed:,.0f} samples/s"
        )
    else:
        line = (
            f"no training (--epochs 0): the untrained network's test error is {test['error']:.2%} "
            f"({wrong_count:,}/{n_test:,}); chance is 90%"
        )
    return Result(
        line,
        metrics={
            "test_error": test["error"],
            "test_errors": wrong_count,
            "test_n": n_test,
            "test_loss": test["loss"],
            "untrained_test_error": untrained["error"],
            "train_loss": history[-1]["train_loss"] if history else None,
            "train_error": history[-1]["train_error"] if history else None,
            "epochs": len(history),
            "train_samples": len(train_input),
            "time_s": train_time,
            "samples_per_s": speed,
        },
    )


def check(result: Result) -> list:
    """The lecture's point: the trained net is far better than chance and than itself untrained."""
    m = result.metrics
    if m["epochs"] == 0:  # nothing trained: the starting point the lecture improves on
        return [verdict("untrained network's test error, near chance (90%)", m["test_error"], ">", 0.9 * 0.5)]
    return [
        verdict("test error below chance (90%)", m["test_error"], "<", 0.9 * 0.5),
        verdict("test error below half the untrained net's", m["test_error"], "<", 0.5 * m["untrained_test_error"]),
    ]


# -- exercises (`dlc exercise lecture-convnet`, then `dlc check lecture-convnet`) ------------


TASKS = [
    Task(
        "Net",
        hint="forward: conv1, max-pool 3, ReLU; conv2, max-pool 2, ReLU; view as N x 256; fc1, ReLU; fc2 "
        "(return the logits, no softmax)",
        build=lambda cls: cls(),
        cases=lambda g: [(torch.randn(n, 1, 28, 28, generator=g, dtype=torch.float64),) for n in (1, 5)],
        grad=True,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
