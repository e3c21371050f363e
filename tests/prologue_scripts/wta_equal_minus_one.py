# Written against the prologue of 2018 (and the course page), whose one-hot targets are -1
# with +1 at the class: a tanh MLP trained with the MSE, and errors counted winner-takes-all
# by comparing each target row with `torch.equal` to a row of -1 with +1 at the largest
# output. Nothing in it depends on dlc; it is the kind of script students wrote.
import torch
from torch import nn

import dlc_practical_prologue as prologue

train_input, train_target, test_input, test_target = prologue.load_data(one_hot_labels=True, normalize=True)


def compute_nb_errors(model, input, target):
    output = model(input)
    winner = output.new_full(output.size(), -1)
    winner.scatter_(1, output.argmax(1, keepdim=True), 1.0)
    nb_errors = 0
    for n in range(input.size(0)):
        if not torch.equal(winner[n], target[n]):
            nb_errors = nb_errors + 1
    return nb_errors


model = nn.Sequential(nn.Linear(784, 100), nn.Tanh(), nn.Linear(100, 10), nn.Tanh())
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
mini_batch_size = 100

with torch.no_grad():
    print("untrained test error", 100 * compute_nb_errors(model, test_input, test_target) / test_input.size(0))

for e in range(20):
    acc_loss = 0
    for b in range(0, train_input.size(0), mini_batch_size):
        output = model(train_input.narrow(0, b, mini_batch_size))
        loss = criterion(output, train_target.narrow(0, b, mini_batch_size))
        acc_loss = acc_loss + loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print("epoch", e, "loss", acc_loss)

with torch.no_grad():
    print("train error", 100 * compute_nb_errors(model, train_input, train_target) / train_input.size(0))
    print("test error", 100 * compute_nb_errors(model, test_input, test_target) / test_input.size(0))
