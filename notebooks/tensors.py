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
# # Tensor basics, internals and linear regression (EE-559 1.4-1.6, practical 1)
# A tensor is a view on a storage: `narrow`, `view`, `t()` change the sizes, strides and
# offset, not the numbers, so writing into a view writes into the tensor it came from.
# The lab builds practical 1's 13 x 13 pattern with `narrow(...).fill_(...)` only, checks
# that M^-1 diag(1..20) M has eigenvalues 1..20, times a matrix product in products per
# second, compares a Python-loop `mul_row` with its broadcast version, and recovers known
# coefficients by least squares. Look at the speed-up: it is why we never loop over entries.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("tensors", size=size)
print(result.line)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# Views share the storage; `clone()` does not. Strides tell how far to jump in the storage
# for one step along each dimension.

# %%
import torch
from dlc.labs.tensors import pattern_with_views, shares_storage

m = pattern_with_views()
block = m.narrow(0, 3, 2).narrow(1, 3, 2)
print(block, block.stride(), block.storage_offset(), shares_storage(block, m))
print(m.t().stride(), m.t().is_contiguous(), shares_storage(m.t(), m))

# %% [markdown]
# ## Exercise
# 1. Build the same pattern with slicing (`m[1::5] = 2`, ...) in as few lines as you can,
#    and check it with `torch.equal(m, expected_pattern())`.
# 2. Time the matrix product at the practical's size: `dlc run tensors --full`
#    (5000 x 5000: 1.25e11 products). Is the rate the same as at 2000? Try
#    `--matmul_size 100`: what dominates when the matrix is small?
# 3. Add noise to the regression (`run_lab("tensors", regression_noise=1.0)`): the
#    coefficient error grows like noise / sqrt(samples). Which number of samples brings it
#    back under 1e-4?
