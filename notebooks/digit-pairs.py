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
# # Digit pairs (EE-559 mini-project 1)
# Two 14 x 14 MNIST digits: is the first smaller than or equal to the second? The project
# compares a plain convnet of ~70,000 parameters (the two digits as two channels) with two
# ideas: **weight sharing** (one digit network reads each digit, a small network compares
# the two outputs) and **auxiliary losses** (the digit network is also trained to classify
# each digit, since the data give the classes). Every configuration is trained over several
# rounds with new pairs and a new initialisation; look at the mean ± std in the table and
# at how much each idea adds over the row above it.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("digit-pairs", size=size)
print(result.line)
print((result.run_dir / "table.md").read_text())

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The siamese network is one digit network applied to both digits: swapping the two digits
# swaps its two digit outputs, and it has half the parameters of two separate networks.
# (In the exercise version of this notebook, `SiameseNet` is yours, from the task above.)

# %%
import torch

from dlc.labs.digit_pairs import SiameseNet
from dlc.models.pairs import DigitPairNet, PairConvNet, count_parameters

shared, separate = SiameseNet(), DigitPairNet(share=False)
print("baseline", count_parameters(PairConvNet()), "| shared", count_parameters(shared),
      "| separate", count_parameters(separate))
x = torch.randn(3, 2, 14, 14)
print(torch.allclose(shared(x.flip(1))[1], shared(x)[1].flip(1)))

# %% [markdown]
# The training loop hands each batch, here three tensors (the pairs, their targets and the
# digits' classes), to a *step*: `PairStep` computes the pair loss plus the weighted digit
# loss, updates the network, and returns the batch's scores (the digit error only when
# there is an auxiliary loss).

# %%
from dlc.labs.digit_pairs import PairStep

classes = torch.randint(0, 10, (8, 2))
target = (classes[:, 0] <= classes[:, 1]).long()
step = PairStep(shared, torch.optim.Adam(shared.parameters(), lr=1e-3), aux_weight=1.0)
scores = step((torch.randn(8, 2, 14, 14), target, classes))
print({k: round(float(v), 3) for k, v in scores.items()})

# %% [markdown]
# ## Exercise
# 1. Does the auxiliary loss help without the sharing? Add the fourth configuration:
#    `run_lab("digit-pairs", models="baseline,aux,sharing+aux")`
#    (or `dlc run digit-pairs --models baseline,aux,sharing+aux`); "aux" has two separate
#    digit networks, twice the parameters.
# 2. How much weight should the digit loss get? Try `aux_weight=0.1` and `aux_weight=5`.
#    With a large weight the network becomes a digit classifier first and a comparator
#    second: watch the digit accuracy column against the pair accuracy.

# %% [markdown]
# ## The mini-project itself
# The project is yours from the data to the table. `dlc check digit-pairs path/to/your_package`
# grades a folder (a Python package) that defines `build_model()`, a fresh model mapping
# pairs (N, 2, 14, 14) to the (N, 2) logits (or a tuple that starts with them), and
# `train_model(model, train_input, train_target, train_classes)`, which trains it in place.
# It checks the model's size (about 70,000 parameters), then trains and tests it over 10
# rounds of `generate_pair_sets(1000)` and reports the test error's mean ± std next to
# dlc's plain convnet trained on the same rounds, which it must beat.
