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
# # Nearest neighbour, random projections and PCA (EE-559 2.1, practical 2)
# The 1-NN classifier labels a test image with the class of the closest training image.
# Practical 2 counts its errors on MNIST without projection, after a random projection to
# 100 dimensions, and after PCA to 100, 50, 10 and 3 dimensions. The vectorised search is
# checked against the practical's one-sample `nearest_classification`. Look at the bar
# chart: PCA to 50 dimensions is as good as the raw pixels, 3 is not enough.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("nearest-neighbor", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The practical's functions, called directly on the prologue's data, at the sizes the lab
# used. The practical's `PCA` is `dlc.stats.pca` (the clustering lab embeds MNIST with it too).

# %%
from dlc import prologue
from dlc.labs.nearest_neighbor import compute_nb_errors
from dlc.stats import pca

train_input, train_target, test_input, test_target = prologue.load(
    train_size=result.metrics["n_train"], test_size=result.metrics["n_test"])
mean, basis = pca(train_input)
for d in (2, 20):
    print(d, "dims:", compute_nb_errors(train_input, train_target, test_input, test_target,
                                        mean, basis[:d]), "errors")

# %% [markdown]
# ## Exercise
# Run the same comparison on CIFAR-10: `run_lab("nearest-neighbor", cifar=True)` or
# `dlc run nearest-neighbor --cifar true`. Why is 1-NN so much worse there (about 75% error
# against 17% on MNIST), and why does PCA no longer help much? Then find the smallest PCA
# dimension whose error on MNIST stays within 1% of the raw pixels
# (`run_lab("nearest-neighbor", pca_dims="40,30,20,15")`).
