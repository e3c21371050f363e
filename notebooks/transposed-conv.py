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
# # Transposed convolution (EE-559 9.1)
# A convolution is linear in its input: flatten the signal and it is a matrix $C$. The
# *transposed* convolution multiplies by $C^T$. It goes from the convolution's output space
# back to its input space, so it is how a decoder increases resolution; and because
# $\partial \langle C x, y \rangle / \partial x = C^T y$, it is also exactly what autograd
# runs for a convolution's backward pass. It is **not** an inverse: $C^T C \neq I$.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("transposed-conv", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# ## The adjoint identity by hand
# For any $x$ and $y$ of the right shapes, $\langle \mathrm{conv}(x), y \rangle =
# \langle x, \mathrm{conv\_transpose}(y) \rangle$. With a stride, several input sizes give
# the same output size, so the transposed convolution needs `output_padding` to know which
# one to return.

# %%
import torch
import torch.nn.functional as F

x = torch.randn(1, 2, 11, 11, dtype=torch.float64)
w = torch.randn(3, 2, 3, 3, dtype=torch.float64)
out = F.conv2d(x, w, stride=2, padding=1)  # 11 -> 6
y = torch.randn_like(out)
back = F.conv_transpose2d(y, w, stride=2, padding=1, output_padding=0)  # 6 -> 11
print(tuple(out.shape), tuple(back.shape))
print(float((out * y).sum()), float((x * back).sum()))

# %% [markdown]
# ## Checkerboards
# With stride 2 and a kernel of size 3, neighbouring output pixels receive different numbers
# of contributions, so even a constant input gives a grid pattern; a generator built of such
# layers has to learn to hide it. A kernel size divisible by the stride, or upsampling
# followed by an ordinary convolution, covers the output evenly.
#
# ## Exercise
# 1. Which kernel sizes give an even overlap for stride 3? Change `checkerboards` in a copy of
#    `src/dlc/labs/transposed_conv.py` and look at the spread.
# 2. Show that `conv_transpose` is not the inverse of `conv`: compute $C^T C$ with
#    `conv_matrix` and compare it with the identity.
