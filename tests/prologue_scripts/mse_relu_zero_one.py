# Written against the prologue of 2019 on, whose one-hot targets are 0 with 1 at the class
# (`new_zeros`): an MLP whose output goes through a ReLU, trained with the MSE. Nothing in
# it depends on dlc; it is the kind of script students wrote for the practicals.
import torch
from torch import nn

import dlc_practical_prologue as prologue

train_input, train_target, test_input, test_target = prologue.load_data(one_hot_labels=True, normalize=True)

model = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10), nn.ReLU())
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
mini_batch_size = 100

for e in range(30):
    acc_loss = 0
    for b in range(0, train_input.size(0), mini_batch_size):
        output = model(train_input.narrow(0, b, mini_batch_size))
        loss = criterion(output, train_target.narrow(0, b, mini_batch_size))
        acc_loss = acc_loss + loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print("epoch", e, "loss", acc_loss)

nb_errors = (model(test_input).argmax(1) != test_target.argmax(1)).sum().item()
print("test error", 100 * nb_errors / test_input.size(0))
