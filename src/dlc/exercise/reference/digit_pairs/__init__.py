"""Mini-project 1 as a student's package: dlc's model and its training, under the contract
``dlc check digit-pairs`` grades (see :mod:`dlc.exercise.miniprojects`).

The model is weight sharing + auxiliary loss (``DigitPairNet(share=True)``, 72,320
parameters): one digit network reads both digits, a small network compares its two
outputs, and training adds the digits' cross-entropy to the pair's. A model without digit
outputs (the plain convnet) is trained on the pair loss alone.
"""

import torch

from dlc.models.pairs import DigitPairNet, pair_loss

EPOCHS = 25  # the project's 25 epochs
BATCH_SIZE = 100
LR = 1e-3  # Adam's step size
AUX_WEIGHT = 1.0  # weight of the digit loss


def build_model() -> torch.nn.Module:
    """A fresh, randomly initialised model: pairs (N, 2, 14, 14) -> (pair logits (N, 2), digit logits)."""
    return DigitPairNet(share=True)


def train_model(model, train_input, train_target, train_classes) -> None:
    """Train ``model`` in place: Adam, 25 epochs of shuffled mini-batches."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for _ in range(EPOCHS):
        for idx in torch.randperm(len(train_input)).split(BATCH_SIZE):
            outputs = model(train_input[idx])
            aux = AUX_WEIGHT if outputs[1] is not None else 0.0
            loss = pair_loss(outputs, train_target[idx], train_classes[idx], aux)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
