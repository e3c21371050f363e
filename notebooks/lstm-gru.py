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
# # LSTM and GRU (EE-559 11.2)
# Unrolled over $T$ steps, a recurrent network is a network of depth $T$. In the plain
# (Elman) RNN each step multiplies the gradient by $W_{hh}^T$ and by $\tanh'$: over many
# steps it shrinks (or explodes) geometrically, and a dependency that spans many steps
# cannot be learned.
#
# The LSTM adds a *cell* updated additively, $c_t = f_t \odot c_{t-1} + i_t \odot g_t$, and
# the GRU mixes old and new state, $h_t = z_t \odot h_{t-1} + (1 - z_t) \odot n_t$. With the
# forget gate $f_t$ (update gate $z_t$) close to 1, the state, and its gradient, passes
# through a step almost unchanged: the gates decide when to write, keep and read.
#
# The lab's task: a sequence of random symbols, one of them *marked* (an extra input
# channel) among the first quarter; the class is the marked symbol. All the others are
# distractors. The three architectures are trained the same way at growing lengths.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("lstm-gru", size=size)
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
# - At short lengths all three learn. As the sequences grow, the plain RNN falls to chance
#   while the LSTM and the GRU still recall the marked symbol.
# - Before training, the plain RNN's $|\partial L / \partial h_t|$ falls by orders of
#   magnitude from the last step back to the first: the marked symbol's step gets almost
#   no learning signal. The LSTM's and the GRU's stay within a factor of ten or so.
# - The gated nets start "open to keep": the lab sets the bias of the LSTM's forget gate
#   and of the GRU's update gate to `gate_bias` (3). With torch's default (about 0) the
#   state is halved at each step at first, and at length 30 the LSTM did not learn within
#   this budget.
#
# ## One step of the gradient, by hand
# The Jacobian $\partial h_t / \partial h_{t-1}$ of one step, for an untrained plain RNN and
# GRU: its largest singular value is how much a gradient can grow (or shrink) per step.

# %%
import torch

from dlc.labs.lstm_gru import recurrent

torch.manual_seed(0)
for kind in ("RNN", "GRU"):
    cell = recurrent(kind, 5, 32, gate_bias=3.0)
    x = torch.zeros(1, 1, 5)
    h = torch.randn(1, 1, 32) * 0.5
    jac = torch.autograd.functional.jacobian(lambda h0, c=cell, x=x: c(x, h0)[1].reshape(32), h).reshape(32, 32)
    s = torch.linalg.svdvals(jac)
    print(f"{kind}: singular values of dh_t/dh_(t-1) from {s.min():.3f} to {s.max():.3f}, median {s.median():.3f}")

# %% [markdown]
# Every singular value of the RNN's Jacobian is below 1 and most are far below: a gradient
# loses a large factor at each step, and these factors multiply over $T$ steps. The GRU's
# all sit near $z \approx \sigma(3) = 0.95$: one step is almost $0.95$ times the
# identity, so the gradient survives many steps.
#
# ## Exercise
# 1. Run with `--gate_bias 0` (torch's initialisation): at which length does the LSTM stop
#    learning in 15 epochs? And the GRU?
# 2. Make the sequences longer (`--lengths 10,40,60`). Which architecture fails first? Does
#    more training (`--epochs 30`) help the plain RNN?
# 3. In the plain RNN, the gradient through time depends on the scale of $W_{hh}$. Initialise
#    it as an orthogonal matrix (`torch.nn.init.orthogonal_`) in a copy of the lab: does the
#    RNN's curve in the gradient figure flatten, and does it learn longer dependencies?
