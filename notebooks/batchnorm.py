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
# # Batch normalization (EE-559 6.4)
# In a deep network every layer's input depends on all the weights below it: a large
# gradient step changes the scale of the activations, the next step is computed for
# activations that no longer exist, and with a large enough learning rate the loss
# explodes. Batch normalization fixes the scale by construction: during training it
# normalises each unit over the mini-batch (mean 0, variance 1), then applies a learned
# scale and shift, so the layer above always sees inputs of the same scale.
#
# At test time there may be no batch (one sample), and an output should not depend on
# which other samples happen to be processed with it: `model.eval()` makes the layer use
# the *running* averages of the means and variances it saw in training instead.
#
# The lab trains one 10-layer MLP on MNIST with and without `nn.BatchNorm1d`, from the
# same weights, at a small and at a large learning rate.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds (CI runs it); "full": all 60,000 MNIST images
result = run_lab("batchnorm", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# ## Train mode and eval mode, by hand
# A BatchNorm1d layer holds four tensors: `weight` and `bias` (learned), `running_mean`
# and `running_var` (buffers, updated in train mode with momentum 0.1).

# %%
import torch
from torch import nn

torch.manual_seed(0)
bn = nn.BatchNorm1d(2)
h = torch.randn(100, 2) * torch.tensor([3.0, 0.5]) + torch.tensor([10.0, -2.0])
bn.train()
for _ in range(50):  # fifty batches of the same data: the running averages converge to its statistics
    out = bn(h)
print("train-mode output mean / std per unit:", out.mean(0).tolist(), out.std(0).tolist())
print("running mean / var:", bn.running_mean.tolist(), bn.running_var.tolist())
bn.eval()
x = h[:3]
by_hand = (x - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
print("eval output equals the running-statistics formula:", torch.allclose(bn(x), by_hand, atol=1e-5))
print("eval output of one sample does not depend on the others:", torch.allclose(bn(x[:1]), bn(x)[:1]))

# %% [markdown]
# In train mode the first three samples alone would be normalised with their own mean
# and variance (and one sample alone cannot be normalised at all: BatchNorm1d refuses a
# batch of one in train mode). That is why forgetting `model.eval()` changes a BN net's
# test predictions.
#
# ## Exercise
# 1. Find the largest learning rate at which the plain net still trains (`large_lr=0.1`,
#    `0.2`, ...), and the one at which the BN net stops training.
# 2. Try a smaller batch (`batch_size=8`): the batch statistics become noisy. What happens
#    to the BN net at the large learning rate?
# 3. Put the BatchNorm1d *after* the ReLU instead of before (edit a copy of
#    `dlc.models.deep.deep_mlp`): does it matter here?
