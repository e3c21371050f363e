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
# # Hyperband model selection (EDHEC; Li et al. 2018)
# Too many hyper-parameters to train every configuration for long. Hyperband draws many
# random configurations, trains them briefly, keeps the best third, trains those three times
# longer, and so on (successive halving); its brackets hedge between "many configurations,
# stopped early" and "few configurations, trained fully" (= random search). Here it searches
# the width, depth and Adam learning rate of an MLP on MNIST, with training epochs as the
# resource, selects on a validation set held out from the training set, and is compared with
# random search given exactly the same number of epochs. The test set is used only for the
# winners.

# %% [markdown]
# The schedule of the paper (R = 81, eta = 3): each column is a bracket s, each row a rung i
# with n_i configurations trained for r_i epochs.

# %%
from dlc import tune

print(tune.format_schedule(81, 3))
print("epochs in total:", tune.schedule_budget(81, 3), "(resuming promoted configurations),",
      tune.schedule_budget(81, 3, resume=False), "(retraining them)")

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("hyperband", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# `dlc.tune` works on any configuration: give it `sample_config(rng) -> dict` and
# `evaluate(config, epochs, state) -> (loss, state)`. A toy objective with a known best:

# %%
def sample(rng):
    return {"x": rng.uniform(-1, 1)}


def evaluate(config, epochs, state):
    return (config["x"] - 0.3) ** 2 + 1 / epochs, None   # a "learning curve" that falls


found = tune.hyperband(sample, evaluate, R=27, eta=3, rng=0)
print(found.best_config, "after", found.n_configs, "configurations,", found.budget, "epochs")

# %% [markdown]
# ## Exercise
# 1. Change eta: `run_lab("hyperband", eta=2)` (or `dlc run hyperband --eta 2`). How do the
#    brackets change (print `tune.format_schedule(27, 2)`), and how many configurations does
#    Hyperband look at for its budget?
# 2. Give it more resource with `R=81` (slower): does the winner's number of epochs grow?
# 3. Hyperband here resumes a promoted configuration where it stopped. Call
#    `tune.hyperband(..., resume=False)` on the toy objective above and compare `found.budget`.
