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
# # Capacity: over- and under-fitting, bias and variance (EE-559 2.2-2.3)
# Polynomials of degree 0 to 10 are fitted by least squares to 20 noisy samples of a smooth
# function, on many independent training sets. The training error always falls with the
# degree; the test error falls, then rises: low degrees are biased, high degrees follow the
# noise of their training set (variance). The second figure shows one training set and the
# spread of the fits over all of them.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("capacity", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The lecture's `fit_polynomial(D, x, y)` is in the library (`dlc.stats`), with `polynomial`
# to evaluate the fitted coefficients; the lab's `sample` draws noisy points of its function.

# %%
import torch
from dlc.labs.capacity import sample
from dlc.stats import fit_polynomial, polynomial

g = torch.Generator().manual_seed(0)
x, y = sample(20, 0.2, g)
x_test, y_test = sample(1000, 0.2, g)
for degree in (1, 3, 9):
    alpha = fit_polynomial(degree, x, y)
    print(degree, float(((polynomial(alpha, x_test) - y_test) ** 2).mean()))

# %% [markdown]
# ## Exercise
# Capacity is relative to the amount of data. Double the training set
# (`run_lab("capacity", n_train=40)`): which degree is best now? Then lower the noise
# (`noise=0.05`): does the best degree move up or down, and why, in terms of bias and
# variance?
