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
# # Proper evaluation protocols (EE-559 2.4)
# Hyper-parameters (here, the degree of a polynomial) are chosen on a validation set, never
# on the test set; the test set only reports the chosen model. With little data, k-fold
# cross-validation replaces the single validation split. The lab selects the degree both
# ways, checks that changing the test set does not change the choice, and measures, over
# many draws, that the validation error of the winner is optimistic.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("evaluation", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The folds of k-fold cross-validation partition the samples: each one is validated once.

# %%
from dlc.labs.evaluation import kfold_indices

for train_idx, val_idx in kfold_indices(10, 3):
    print(sorted(val_idx.tolist()), "validated; trained on", sorted(train_idx.tolist()))

# %% [markdown]
# ## Exercise
# Make the validation set tiny (`run_lab("evaluation", n_val=12)`): how often does the
# selection pick a bad degree, and what happens to the gap between the selected validation
# error and its test error? Compare with 10-fold cross-validation (`folds=10`).
