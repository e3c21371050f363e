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
# # CIFAR-10 with a simple CNN, logged to TensorBoard (ESCAPE T4)
# CIFAR-10 holds 32 x 32 colour photos of ten classes (airplane, automobile, bird, cat,
# deer, dog, frog, horse, ship, truck). The tutorial's network is "VGG-like": blocks of
# two 3x3 convolutions with LeakyReLU, each block followed by a 2x2 max-pooling that halves
# the image while the next block doubles the channels (16 -> 32 -> 64), then a small fully
# connected classifier. The inputs are normalised to [-1, 1] (mean 0.5, std 0.5 per
# channel); Adam (lr 0.001) takes batches of 32, and a step scheduler lowers the learning
# rate after a few epochs. Everything the loop measures goes to TensorBoard.
#
# At the default size the network sees only 1,000 training images for a few epochs (a
# minute on a laptop CPU), so expect 30-40% test accuracy; `size = "full"` trains on all
# 50,000 images for 10 epochs (long on a CPU) and does much better.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": all 50,000 images (CI runs "tiny")
result = run_lab("cifar-cnn", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The confusion matrix shows *which* mistakes the network makes: look where the animals
# (cat, dog, deer, bird, frog) go, and where the vehicles go; most mistakes stay within
# the animals or within the vehicles. Before training the network gives nearly the same answer to every image
# (one grey bar), which is chance level.
#
# ## What each block does to the image
# Each 3x3 convolution (padding 1) keeps the size; each max-pooling halves it. The number
# of values per image shrinks from 3,072 to 1,024 while the channels grow: the network
# trades *where* for *what*.

# %%
import torch

from dlc.models.cifar import T4Net

net = T4Net()
x = torch.zeros(1, 3, 32, 32)
for layer in net.features:
    x = layer(x)
    if isinstance(layer, torch.nn.MaxPool2d):
        print(f"after a block: {tuple(x.shape[1:])} = {x[0].numel():,} values")
print(f"parameters: {sum(p.numel() for p in net.parameters()):,}")

# %% [markdown]
# ## TensorBoard
# The run folder's `tensorboard/` holds the step and epoch scalars (loss, accuracy,
# learning rate; the step schedule is visible in `epoch/lr`) and the model's graph. Start
# it with `tensorboard --logdir runs/cifar-cnn` and open the "Scalars" and "Graphs" tabs.

# %%
print(result.run_dir / "tensorboard")
print("learning rate per epoch:", result.metrics["lrs"])

# %% [markdown]
# ## Exercise
# 1. Train longer (`dlc run cifar-cnn --epochs 20`): when does the test loss start to rise
#    while the training loss still falls? That is over-fitting on 1,000 images.
# 2. Remove the schedule (`--lr_gamma 1`) and compare the last epochs' test accuracy.
# 3. Use more data (`--train_size 10000`): how much does the accuracy gain, and which
#    classes gain most in the confusion matrix?
