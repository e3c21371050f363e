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
# # Dropout (EE-559 6.3)
# A network with far more parameters than training samples can memorise them: zero
# training error, and a test error well above it. Dropout attacks this during training:
# at every forward pass each unit is zeroed with probability p, and the survivors are
# multiplied by 1 / (1 - p) so that each unit's expected value does not change. A unit can
# no longer count on a particular other unit being there, which discourages the
# co-adapted features that only serve to memorise.
#
# At test time (`model.eval()`) dropout does nothing: the full network is used, and its
# output is deterministic. Forgetting `model.eval()` before testing is a classic bug: the
# test error is then that of one random thinned network, and changes at every call.
#
# The lab trains the same wide MLP on few MNIST images twice, from the same initial
# weights and batches, without and with dropout.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds (CI runs it); "full": all 60,000 images (little over-fitting left)
result = run_lab("dropout", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# ## The two modes, directly
# The same `nn.Dropout` layer, on the same input, in each mode:

# %%
import torch
from torch import nn

torch.manual_seed(0)
drop = nn.Dropout(p=0.5)
x = torch.ones(10)
drop.train()
print("train mode:", drop(x).tolist())
print("again     :", drop(x).tolist())
drop.eval()
print("eval mode :", drop(x).tolist())
print("mean over a million units in train mode:", nn.Dropout(0.5).train()(torch.ones(10**6)).mean().item())

# %% [markdown]
# In train mode the mask changes at every call, and the kept units are doubled (1 / (1 - 0.5)),
# so the mean stays 1; in eval mode the layer is the identity. `dlc.engine.evaluate` and
# `predict` switch the model to eval mode themselves, which is why the curves above are
# those of the full network.
#
# ## Exercise
# 1. Give more data (`train_size=5000`): how much do the gap and dropout's gain shrink?
# 2. Try `p=0.8` and `p=0.2`: which trains slower, which over-fits more?
# 3. Evaluate the dropout net in *train* mode on the test set ten times (edit a copy of the
#    lab, or build the net with `dlc.labs.dropout.make_net`): how much does the test error
#    move from one call to the next? Averaging many such passes is "Monte Carlo dropout".
