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
# # The perceptron (EE-559 3.1)
# Rosenblatt's rule adds y_n x_n to the weights each time a sample is misclassified. On
# linearly separable data it stops after at most (R / gamma)^2 updates; on XOR, which no
# line separates, it keeps cycling and never does better than 25% error. Look at the
# updates per epoch: they reach zero on one set and never on the other.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("perceptron", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %%
import torch
from dlc.labs.perceptron import train_perceptron

x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
for name, y in (("OR", [-1.0, 1.0, 1.0, 1.0]), ("XOR", [-1.0, -1.0, 1.0, 1.0])):
    w, b, history = train_perceptron(x, torch.tensor(y, dtype=torch.float64), 20)
    print(name, len(history), "epochs, last epoch error", history[-1]["error"])

# %% [markdown]
# ## Exercise
# The bound (R / gamma)^2 grows as the margin shrinks. Run with smaller margins
# (`run_lab("perceptron", margin=0.005)`, then 0.001) and compare the number of updates
# with the bound. Is the bound tight? What does the perceptron do on XOR if you add the
# feature x1 * x2 to the inputs?
