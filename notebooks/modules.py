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
# # Modules, batch processing, writing a module (EE-559 4.3, 4.6)
# A module registers its `Parameter`s and sub-modules and maps a whole batch at once.
# The lab writes `MyLinear` (its own weight and bias) and the lecture's MNIST convnet `Net`
# around it, checks that a batch gives the same outputs as its samples one by one, shows
# that layers kept in a plain list are invisible to `parameters()`, and trains `Net`.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("modules", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# What `parameters()` sees, and the list mistake:

# %%
from dlc.labs.modules import ListMLP, ModuleListMLP, Net, count_parameters

for name, p in Net().named_parameters():
    print(f"{name:14s} {list(p.shape)}")
print("plain list:", count_parameters(ListMLP()), " ModuleList:", count_parameters(ModuleListMLP()))

# %% [markdown]
# ## Exercise
# 1. Replace `fc1` by a `MyLinear` without bias (write `MyLinear(..., bias=False)`: register
#    `None` with `self.register_parameter("bias", None)`) and check the count of parameters.
# 2. Try a smaller hidden layer (`run_lab("modules", hidden=50)`, `dlc run modules --hidden 50`):
#    how much test error does it cost?
