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
# # Basic clustering and embeddings (EE-559 2.5)
# K-means alternates "assign each sample to its nearest centroid" and "move each centroid
# to the mean of its samples"; neither step can raise the objective. The lab runs it on 2-D
# blobs and on MNIST (the centroids are average digits) and embeds MNIST on its two first
# principal directions. Look at the embedding coloured by class: PCA never saw the labels.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("clustering", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %%
import torch
from dlc.labs.clustering import kmeans, purity
from dlc.data import toy

x, labels = toy.blobs(300, centers=3, std=1.0, seed=1)
centroids, assign, history = kmeans(x, 3, 50, torch.Generator().manual_seed(0))
print([round(v, 3) for _, _, v in history], "purity", purity(assign, labels, 3))

# %% [markdown]
# ## Exercise
# K-means finds a local minimum that depends on the initial centroids. Run the lab with
# several seeds (`run_lab("clustering", seed=s)` for s in 0..4) and compare the final
# objectives and purities. Then use more clusters than classes (`k=30`): does purity rise?
# Is that a better clustering, or is purity the wrong measure?
