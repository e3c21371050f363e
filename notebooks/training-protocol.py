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
# # Learning-rate schedules and the training protocol (EE-559 5.6)
# The same MLP, from the same initial weights and on the same batches, is trained with SGD
# under four learning-rate schedules: constant, step, cosine and one-cycle. The first figure
# shows the learning rates, the second the training losses. Then the protocol: the schedule
# is chosen on a validation set held out from the training set, the final model is trained
# with early stopping on that validation set (the best epoch is checkpointed and restored),
# and the test set is used once, at the end.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("training-protocol", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# Early stopping put back the best epoch's weights, the same as the saved best checkpoint:

# %%
m = dict(result.metrics)  # a copy: the numbers of this run
print(f"best epoch {m['best_epoch']} (checkpoint: epoch {m['best_checkpoint_epoch']}), "
      f"recorded best validation loss {m['best_val_loss']:.4f}, restored model "
      f"{m['restored_val_loss']:.4f}, same weights: {m['restored_is_best_checkpoint']}")

# %% [markdown]
# ## Exercise
# The schedules pay off when the learning rate is large. Raise it:
# `run_lab("training-protocol", lr=0.7)` (or `dlc run training-protocol --lr 0.7`), then
# `lr=1.0`. With a constant rate the loss now bounces instead of settling; which schedules
# still end low? Then make the final training stop sooner with `patience=2` and compare the
# test error.
