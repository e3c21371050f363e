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
# # Parameter initialization (EE-559 5.5, practical 5)
# A linear layer multiplies the variance of its input by fan-in x Var(w) (and a ReLU halves
# it): over 20 layers that factor is raised to the 20th power. The first figure follows the
# activations forward and the gradients backward through 20 layers for a naive N(0, 0.01)
# init, PyTorch's default, Xavier and He. The second is practical 5: a shallow (2-128-2)
# and a deep (2-4-8-...-128-2) net on the disc set, from initial weights of every size
# (left), and from PyTorch's default and He's init (right). No single std lets the deep
# net learn; He's init, a std per layer (sqrt(2 / fan-in)), does.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("initialization", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The per-layer factor, measured: with naive N(0, 0.01) weights and width 256, each ReLU
# layer should multiply the std by 0.01 * sqrt(256 / 2) ~ 0.11.

# %%
from dlc.labs.initialization import layer_statistics

st = layer_statistics("naive", "relu", layers=5, width=256)
print([f"{b / a:.3f}" for a, b in zip(st["activation"], st["activation"][1:])])

# %% [markdown]
# ## Exercise
# 1. Find the naive std that keeps 20 ReLU layers of width 256 stable (solve
#    256 v / 2 = 1), then check it: `run_lab("initialization", naive_std=0.088)`.
# 2. Practical 5's question: which initial std lets the deep net learn? Try values between
#    0.1 and 1 (`dlc run initialization --stds 0.2,0.3,0.5`) and compare with He's
#    sqrt(2 / fan-in) for its layers.
