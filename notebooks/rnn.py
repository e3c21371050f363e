# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Recurrent neural networks (EE-559 11.1)
# A recurrent network reads a sequence one element at a time and carries a state from one
# step to the next, $h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})$, with the same
# weights at every step. Unrolled over $T$ steps it is a deep network of $T$ layers that
# share their parameters, and it is trained like one: back-propagation *through time*
# (BPTT) sends the gradient from the answer back along the chain of states.
#
# The lab writes the recurrence and BPTT by hand, checks them against `nn.RNN` and autograd,
# and trains on a task that needs memory: the class of a sequence is its *first* symbol.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("rnn", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# ## Reading the figures
# - Without memory (a classifier on the last symbol) nothing can be done: chance.
# - With BPTT cut to the last few steps, the gradient never reaches the first symbol. Some
#   memory still appears, because the recurrent weights learned on the last steps also act
#   on the first ones; but far less than with full BPTT.
# - Before training, $|\partial L / \partial h_t|$ shrinks by a constant factor at each step
#   back in time (each step multiplies it by $W_{hh}^T$ and by $\tanh'$): the vanishing
#   gradient that LSTM and GRU (lab `lstm-gru`) are designed against.
#
# ## One step of BPTT by hand

# %%
import torch

from dlc.labs.rnn import ElmanRNN, bptt

rnn = ElmanRNN(3, 4).double()
x = torch.randn(2, 5, 3, dtype=torch.float64)
states = rnn(x)
g = torch.ones(2, 4, dtype=torch.float64)  # dL/dh_T for L = sum of the last state
hand = bptt(rnn, x, states.detach(), g)
auto = torch.autograd.grad(states[:, -1].sum(), rnn.weight_hh)[0]
print(float((hand["weight_hh"] - auto).abs().max()))

# %% [markdown]
# ## Exercise
# 1. Make the sequences longer (`--length 40`): when does the plain RNN stop learning?
# 2. Replace `tanh` by `relu` in a copy of `src/dlc/labs/rnn.py` (and in `bptt`: the
#    derivative changes). What happens to training?
