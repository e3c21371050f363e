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
# # Optimizers: SGD, momentum, Nesterov, RMSProp, Adam (EE-559 5.2-5.3)
# Each update rule is a few lines (`update` in `dlc/labs/optimizers.py`). The lab checks
# that they take exactly the steps of `torch.optim` (float64, step by step), draws their
# paths on the Rosenbrock valley, and trains the same MLP on MNIST with each of them.
# Look at how momentum overshoots and then runs along the valley, and at how the adaptive
# methods (RMSProp, Adam) move at a steady speed whatever the gradient's size.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("optimizers", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The update rules are ordinary optimizers: here is Adam on the valley, by hand.

# %%
from dlc.labs.optimizers import Adam, rosenbrock, trajectory

path = trajectory(lambda ps: Adam(ps, lr=0.05), steps=500)
print("Adam lr 0.05, 500 steps: f =", rosenbrock(path[-1]).item(), "at", path[-1].tolist())

# %% [markdown]
# ## Exercise
# 1. With momentum, the steady-state step is lr / (1 - gamma). Try `gamma` = 0.5 and 0.99 on
#    the valley (`trajectory(lambda ps: Momentum(ps, 1e-3, 0.99), 1000)`): which one
#    oscillates, which one is too slow?
# 2. Raise SGD's learning rate on MNIST until training diverges
#    (`run_lab("optimizers", lr_sgd=1.0)`, `dlc run optimizers --lr_sgd 1.0`; a fit whose loss
#    becomes NaN is reported as "diverged" and the others go on) and compare with
#    Adam at `--lr_adam 0.01`: which one tolerates a bad step size better, and why?
