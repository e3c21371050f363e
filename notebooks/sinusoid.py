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
# # Fitting a noisy sinusoid with an MLP (ESCAPE T1)
# Regression: 1,000 evenly spaced x on [-10, 10], targets y = sin(x) + 0.2 U(0, 1), an MLP
# 1 -> 200 -> 100 -> 1 with LeakyReLU, the MSE loss, Adam on the full batch for 500
# epochs. The best possible answer is the green curve sin(x) + 0.1.
#
# The tutorial starts with a learning rate of 0.5, and so does the lab (`--lr`). It then
# does the tutorial's exercise for you, the way the protocol of lecture 2.4 says: it trains
# the same network, from the same initial weights, at each rate of `--lr_grid`, and keeps
# the one with the lowest MSE on a separate *validation* draw; the test set only reports.
# The result line compares both with predicting a constant (the training mean).

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("sinusoid", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The validation MSE of every rate tried (`lr_grid.png` draws it):

# %%
for lr, v in result.metrics["val_mse"].items():
    print(f"lr {lr:>5}: validation MSE {v:.4f}")

# %% [markdown]
# ## Exercise
# 1. Too large a rate and Adam's first steps throw the fit off (the curve is wild, or
#    flat); too small and 500 epochs are not enough to bend the line into three periods.
#    Which rates of the grid are too large, which too small? Try a finer grid around the
#    best one, e.g. `run_lab("sinusoid", lr_grid="0.2,0.15,0.1,0.07,0.05,0.03")`.
# 2. Go a step further with a schedule: `run_lab("sinusoid", step_lr=True)` halves the
#    rate after half the epochs (the tutorial's StepLR(250, 0.5)). Does the fit near the
#    ends of the interval (x close to -10 or 10) improve? Does the best rate change?
# 3. Change the seed (`run_lab("sinusoid", seed=1)`): does the same rate win? How much
#    does the result depend on the initialisation?
