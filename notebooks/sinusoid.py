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
# epochs. The best possible answer is the green curve sin(x) + 0.1; the red curve is the
# network's. The result line compares the test MSE with that of predicting a constant
# (the training mean), and gives the distance to the true curve.

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
# The tutorial's notebook starts with a learning rate of 0.5. Same data, same epochs:

# %%
too_big = run_lab("sinusoid", size=size, lr=0.5, quiet=True)
print(too_big.line)

# %% [markdown]
# ## Exercise
# Tune the learning rate. Try `run_lab("sinusoid", lr=lr)` for lr in 0.5, 0.2, 0.1,
# 0.05, 0.01, 0.001 (or `dlc run sinusoid --lr 0.01`) and compare the test MSE and the
# fitted curves: too large and Adam's steps throw the fit off (the curve is flat or
# wild); too small and 500 epochs are not enough to bend the line into three periods.
# Then go a step further with a schedule: `run_lab("sinusoid", step_lr=True)` halves the
# rate after half the epochs (the tutorial's StepLR(250, 0.5)). Does the fit near the
# ends of the interval (x close to -10 or 10) improve? Change the seed
# (`run_lab("sinusoid", seed=1)`): how much does the result depend on the initialisation?
