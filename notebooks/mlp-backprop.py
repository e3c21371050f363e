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
# # Backpropagation by hand (EE-559 3.4-3.6, practical 3)
# Practical 3 writes an MLP's forward and backward passes by hand: 784 -> 50 -> 10 with
# tanh, the summed squared error on one-hot targets of -1 / +1 scaled by 0.9 (tanh never
# reaches +-1), weights from N(0, 1e-6), and full-batch gradient descent with
# eta = 0.1 / number of training samples. The lab checks `backward_pass` against
# torch.autograd in float64, then trains on the prologue's MNIST, logging the train and
# test error at every step. Watch the train error reach 0% while the test error stalls.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("mlp-backprop", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The chain rule, one layer at a time: `backward_pass` fills the four gradient tensors;
# autograd computes the same numbers from the recorded graph. (In the exercise version of
# this notebook, the `backward_pass` checked here is yours.)

# %%
from dlc.labs.mlp_backprop import backward_pass, gradient_check

for seed in range(3):
    print(f"seed {seed}: max relative error vs autograd {gradient_check(seed=seed, backward=backward_pass):.1e}")

# %% [markdown]
# ## Exercise
# The practical's initialisation is tiny (std 1e-6), so at first every hidden unit is
# nearly linear and nearly the same. Try `init_std=1.0` (`run_lab("mlp-backprop",
# init_std=1.0)` or `dlc run mlp-backprop --init_std 1.0`): tanh saturates and the
# gradients through it vanish; how do the first hundred steps change? Then vary the hidden
# size (`hidden=10`, `hidden=200`) and compare the final test errors.
