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
# # Transfer learning (ESCAPE T5)
# With 500 labelled photos, a network trained from scratch has little to learn from. A
# network *pretrained* on many other images already computes useful features: freeze it,
# replace its last layer by a new 2-class head, and train only that head on the small set.
#
# The tutorial starts from a ResNet-18 pretrained on ImageNet. ImageNet weights cannot be
# downloaded here, so **the "pretrained" weights in this lab come from dlc's own
# pretraining of a ResNet-18 on CIFAR-10** (by default on its 10,000 cat and dog images,
# about half a minute of CPU). They are kept in your cache folder: the second run loads
# them instead of training again, and the result line says which happened.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds (a smoke test of pretraining); "full": a wide ResNet-18 on all of CIFAR-10
result = run_lab("transfer", size=size)
print(result.line)
for v in result.verdicts:
    print(" ", v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The fine-tuning curves compare, epoch by epoch, the frozen pretrained network with its
# new head (blue), the same network with every layer fine-tuned at a small learning rate
# (green, not at `tiny`), and the tutorial's T4 network trained from scratch on the same
# photos (red). At the default size the pretraining has seen 10,000 CIFAR-10 images of
# cats and dogs; the new head starts from features that already separate them a little,
# while the scratch network starts from nothing.
#
# ## Model surgery: freeze, replace the head
# Freezing is `requires_grad_(False)` on every parameter; the new `fc` layer is created
# afterwards, so it alone is trainable, and the optimiser is given only its parameters.
# One trap: batch normalisation. A frozen network in training mode still *updates its
# running statistics* (they are buffers, not parameters), and normalises with the batch's
# statistics instead of the pretraining's. The lab keeps the frozen layers in eval mode
# (`FrozenBackbone`); the check verifies that not one weight or statistic moved.

# %%
import torch

from dlc.labs.transfer import freeze_and_replace_head
from dlc.models.cifar import ResNet18

net = freeze_and_replace_head(ResNet18(classes=10, width=8))
trainable = [name for name, p in net.named_parameters() if p.requires_grad]
print(
    "trainable:",
    trainable,
    f"({sum(p.numel() for p in net.fc.parameters())} of {sum(p.numel() for p in net.parameters()):,} parameters)",
)

before = net.bn1.running_mean.clone()
net.train()  # what a plain training loop does
net(torch.randn(16, 3, 32, 32))
print(
    "frozen parameters, train mode: the first batch norm's running mean moved by",
    f"{float((net.bn1.running_mean - before).abs().max()):.3f}",
)

# %% [markdown]
# ## Where the pretrained weights live
# `dlc.pretrained.load_or_train` keeps them in `<cache>/pretrained/` (`~/.cache/dlc`, or
# `$DLC_CACHE_DIR`), under a name that hashes the recipe: width, classes, epochs, learning
# rate, seed and the SHA-256 of the CIFAR-10 images used. Another recipe trains anew; a
# damaged file is detected and retrained. `--pretrained_cache false` pretrains again
# and keeps nothing.

# %%
print("weights:", result.metrics["pretrained_path"])
print(
    "trained now" if result.metrics["pretrained_now"] else "loaded from the cache",
    f"- pretraining took {result.metrics['pretrain_seconds']:.1f} s,",
    f"{result.metrics['pretrain_cifar_accuracy']:.1%} test accuracy on CIFAR-10",
)

# %% [markdown]
# ## Exercise
# 1. Pretrain on all ten CIFAR-10 classes for the same budget
#    (`run_lab("transfer", pretrain_classes="all")`). Is the transfer still better than
#    scratch? What does a short, general pretraining give, compared with a short one on
#    the classes the task shares?
# 2. Train longer (`epochs=20`): which curve keeps improving, and does the scratch network
#    catch up? Transfer helps most when labelled data and time are scarce.
# 3. Compare the frozen backbone with full fine-tuning (`full_finetune=True`, the green
#    curve) at a larger `finetune_lr`: what happens to the pretrained features?
# 4. If you have time (or a GPU): `dlc run transfer --full` pretrains a width-64 ResNet-18
#    on all of CIFAR-10 once, and every later run reuses it.
