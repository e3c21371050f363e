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
# # Early stopping (EDHEC, regularisation)
# A wide MLP trained on a small MNIST set whose labels are 40% wrong first learns the
# digits, then memorises the wrong labels: the training loss keeps falling while the
# validation loss turns up. Early stopping watches the validation loss, stops after
# `patience` epochs without improvement and restores the best epoch's weights. The figure
# shows the same network trained to the end from the same start; the dashed lines are the
# best epoch and the stop. Compare the two test errors in the result line.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("early-stopping", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The restored weights are exactly the best epoch's:

# %%
m = dict(result.metrics)  # a copy: the numbers of this run
print(f"best validation loss {m['best_val_loss']:.4f} at epoch {m['best_epoch']}, "
      f"restored model {m['restored_val_loss']:.4f}")

# %% [markdown]
# ## Exercise
# 1. Without wrong labels, does over-training still hurt the test *error*?
#    `run_lab("early-stopping", label_noise=0.0)` (or `dlc run early-stopping --label_noise 0`):
#    the validation loss still turns up (the network grows over-confident), but look at the
#    test error.
# 2. Patience trades time for safety: try `patience=2` and `patience=30`. With a small
#    patience a noisy validation curve can stop the training too soon.
