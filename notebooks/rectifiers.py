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
# # Rectifiers (EE-559 6.2)
# The gradient of the loss with respect to the first layer's weights is a product of
# factors, one per layer above it: a weight matrix and the derivative of the activation.
# The sigmoid's derivative is at most 1/4, and close to 0 wherever the unit saturates.
# Ten such factors and the first layer receives almost nothing: it does not learn, and
# neither does the network. A rectifier, relu(x) = max(0, x), has derivative exactly 1
# wherever the unit is active; leaky ReLU and ELU keep a small gradient even where it is not.
#
# The lab takes one MLP shape (10 hidden layers of 100 units on MNIST), gives it each
# activation in turn with the same (Xavier) initialisation, measures the gradient norm of
# every layer at the start, then trains each with the same SGD steps.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds (CI runs it); "full": all 60,000 MNIST images
result = run_lab("rectifiers", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# ## The derivatives themselves
# The factor each layer contributes on the way back is the activation's derivative at
# that unit's input. Compare them on inputs spread like pre-activations:

# %%
import torch

s = torch.linspace(-4, 4, 9, requires_grad=True)
for name, f in [
    ("sigmoid", torch.sigmoid),
    ("tanh", torch.tanh),
    ("relu", torch.relu),
    ("leaky_relu", torch.nn.functional.leaky_relu),
    ("elu", torch.nn.functional.elu),
]:
    (grad,) = torch.autograd.grad(f(s).sum(), s)
    print(f"{name:10s}", " ".join(f"{g:5.2f}" for g in grad.tolist()))

# %% [markdown]
# The sigmoid's row never exceeds 0.25: ten layers multiply at most 0.25^10, about 1e-6,
# which is the gap the first figure shows between the sigmoid net's first and last layers.
# tanh is 1 at 0 and, with Xavier's init keeping the pre-activations near 0, it trains
# well here; it saturates as soon as the inputs grow. ReLU's derivative is 0 or 1: no
# shrinking where the unit is on. Its overall gradient is smaller than tanh's in the
# figure because Xavier's init is tuned for units that keep the whole signal, and a ReLU
# keeps half of it: He's init (lecture 5.5, the `initialization` lab) fixes exactly this.
#
# ## Exercise
# 1. Make the net deeper (`depth=20`): what happens to the sigmoid net's ratio, and to tanh's loss?
# 2. With `activations="sigmoid"` only, try a ten times larger step (`lr=1`). Does the first
#    layer learn now? Why is a larger step a poor cure for vanishing gradients?
# 3. Edit a copy of `make_net` to use He's init (`nn.init.kaiming_normal_(m.weight,
#    nonlinearity="relu")`) for the ReLU net only: how many steps does it now need to beat tanh?
