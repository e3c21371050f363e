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
# # Saving and loading models (EE-559 10.4)
# Training is long and machines stop. A checkpoint must hold everything the next steps
# depend on: the model's parameters (and buffers, such as batch-norm statistics), the
# optimizer's state (Adam keeps two moving averages per parameter and a step count), where
# training was, and the random state that draws the next mini-batches and dropout masks.
# Leave one out and training still "works" after a restart, but it is not the same
# training any more. The lab measures this, then shows why a `state_dict` is preferred to
# pickling a whole model, and why `torch.load(..., weights_only=True)` is the safe default.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("persistence", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# ## What a complete checkpoint looks like
# A dictionary of plain containers and tensors, so that `weights_only=True` can load it:

# %%
import torch

model = torch.nn.Linear(3, 2)
opt = torch.optim.Adam(model.parameters())
model(torch.randn(4, 3)).sum().backward()
opt.step()
checkpoint = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 1, "rng": torch.get_rng_state()}
print({k: type(v).__name__ for k, v in checkpoint.items()})
print("Adam's state for the weight:", {k: tuple(v.shape) for k, v in opt.state_dict()["state"][0].items()})

# %% [markdown]
# ## Why `weights_only`
# A `.pt` file is a zip holding a pickle, and unpickling may call any function the file
# names. `weights_only=True` only rebuilds tensors and plain containers, and refuses the rest;
# the lab's "malicious" file (whose payload only writes a marker) is refused by it, and runs
# without it. Load files you did not write yourself only with `weights_only=True`.
#
# `dlc`'s own checkpoints (`runs/<lab>/<run>/checkpoints/last.pt`) hold exactly these
# pieces, plus the run they belong to, and `dlc run LAB --resume RUN_DIR` continues a run
# bit for bit.
#
# ## Exercise
# 1. Replace Adam by SGD without momentum in a copy of `src/dlc/labs/persistence.py`. Does
#    the resume without the optimizer's state still differ? Why?
# 2. Set `--dropout 0`. Which of the two partial resumes still differs, and why?
