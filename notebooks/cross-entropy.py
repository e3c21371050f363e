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
# # Cross-entropy loss (EE-559 5.1)
# A classifier's logits become probabilities through the softmax, and the cross-entropy
# is the mean of -log p(y | x). Written literally, `exp(f) / sum(exp(f))` overflows as soon
# as a logit passes ~88 in float32. Subtracting the largest logit first (log-sum-exp)
# fixes it. The lab evaluates both versions on logits of size +-1e4 and compares them
# with `torch.nn.functional.cross_entropy`; the figure shows where the naive one breaks.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("cross-entropy", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The lecture's example: two samples, three classes; torch prints 2.5141.

# %%
import torch
from dlc.labs.cross_entropy import cross_entropy, naive_cross_entropy

f = torch.tensor([[-1.0, -3.0, 4.0], [-3.0, 3.0, -1.0]])
y = torch.tensor([0, 1])
print(cross_entropy(f, y), naive_cross_entropy(f, y), naive_cross_entropy(100 * f, y))

# %% [markdown]
# ## Exercise
# In float64 the naive formula lasts longer. Predict the logit size at which it breaks
# (exp overflows at log(max float64) ~ 709.8), then check with
# `run_lab("cross-entropy", dtype="float64")` or `dlc run cross-entropy --dtype float64`.
# Then write `nll_loss(log_probs, y)` yourself and check that `nll_loss(log_softmax(f), y)`
# equals `cross_entropy(f, y)`: that is exactly how `nn.CrossEntropyLoss` is built.
