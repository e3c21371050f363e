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
# # Image classification: from LeNet to ResNet (EE-559 7.2)
# The lecture walks through the networks that made image classification work: LeNet-5
# for digits (two convolutions with pooling, three fully connected layers), AlexNet (big
# first kernels, ReLU, overlapping max-pooling, dropout, GPUs), VGG (nothing but 3x3
# convolutions, stacked in stages that halve the image and double the channels; batch
# norm in its later form) and ResNet (residual blocks that let the depth grow). Here each
# one is reduced to a size a laptop trains in seconds, and all are trained the same way, so
# that the table compares the architectures: how many parameters, how many training
# images per second, and what test accuracy after the same short training.
#
# The default trains on 1,000 images for 2 epochs: the numbers show that each network
# learns, not what it can reach. `size = "full"` runs the lectures' whole recipe on the
# compact ResNet-9 for 16 epochs of all 50,000 images, and its check asks for 90% test
# accuracy (hours on a 2-core CPU, minutes on a GPU).

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": ResNet-9 to 90% on all of CIFAR-10 (CI runs "tiny")
result = run_lab("image-classification", size=size)
print(result.line)
for v in result.verdicts:
    print(v)
print((result.run_dir / "table.md").read_text())

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# Parameters are not the cost: a convolution's weights are shared across the image, so
# its cost grows with the image's area while its parameter count does not. LeNet's
# fully connected layers hold most of its parameters; in the VGG- and ResNet-style nets the
# convolutions at full resolution take most of the time. Count both for each layer of the
# small VGG: parameters, and multiply-adds for one 32 x 32 image.

# %%
import torch

from dlc.models.classic import SmallVGG

net = SmallVGG()
x = torch.zeros(1, 3, 32, 32)
for layer in net.features:
    y = layer(x)
    conv = layer[0] if isinstance(layer, torch.nn.Sequential) else None
    if conv is not None:
        macs = conv.weight.numel() * y.shape[-1] * y.shape[-2]
        print(f"conv {conv.in_channels:3} -> {conv.out_channels:3} at {y.shape[-1]:2}x{y.shape[-2]:2}: "
              f"{conv.weight.numel():7,} weights, {macs / 1e6:5.2f} M multiply-adds")
    x = y
fc = net.classifier[1]
print(f"fc {fc.in_features} -> {fc.out_features}: {fc.weight.numel():,} weights, {fc.weight.numel() / 1e6:.2f} M multiply-adds")

# %% [markdown]
# ## What `--full` adds
# To reach 90% on CIFAR-10 the lectures' tools all come together: batch norm and residual
# connections (ResNet-9), data augmentation (a random left-right flip and a translation by
# up to 4 pixels, applied to every training batch: `Supervised(augment=...)`), label
# smoothing (the targets are 0.9/0.1-ish instead of 1/0, so the network does not push its
# logits to infinity), SGD with Nesterov momentum and weight decay, and a one-cycle schedule
# (the learning rate rises for a quarter of the run, then falls to nearly zero).

# %%
from dlc.data.augment import flip_crop

torch.manual_seed(0)
image = torch.arange(16.0).view(1, 1, 4, 4)
print(flip_crop(image.repeat(3, 1, 1, 1), padding=1)[:, 0])

# %% [markdown]
# ## Exercise
# 1. Give the AlexNet-style net its dropout back (`--dropout 0.5`): what happens in 2
#    epochs, and in 10 (`--epochs 10`)?
# 2. Widen ResNet-18 (`--width 16`): how do parameters, speed and accuracy change?
# 3. Add the `--full` recipe's augmentation to the short run (`--augment true`): with 2
#    epochs, does it help or hurt, and why?
