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
# # CIFAR-10 at record speed, on a CPU
# The course's CIFAR-10 recipe (`cifar-cnn`: a small VGG-like net, Adam, batches of 32, a
# step schedule) is written to be understood. This lab asks how far the same kind of network
# gets when every second counts, in the spirit of airbench (94% on CIFAR-10 in a few seconds
# on a large GPU), scaled down to what one CPU thread can do in a minute.
#
# The tricks (each is named in `src/dlc/labs/cifar10_speedrun.py` where it is used):
# 1. the data as one normalised tensor in memory: a batch is one indexing operation;
# 2. a **whitening first layer**: a 2 x 2 convolution whose filters are the eigenvectors of
#    the covariance of the training images' 2 x 2 patches, divided by the square root of
#    their eigenvalues. It is computed once and never trained: after it, no direction of
#    the input dominates the others;
# 3. batch normalisation after each pooling;
# 4. SGD with Nesterov momentum and a triangular learning rate (up, then straight down to 0);
#    with `--minutes` the triangle runs on the clock, so a cut-short run still ends on small steps;
# 5. label smoothing 0.2;
# 6. alternating flips: each image is mirrored every other epoch, not by a fresh coin;
# 7. random shifts by up to 2 pixels;
# 8. test-time augmentation: the prediction averages the image and its mirror;
# 9. channels-last convolutions (and on a GPU, bf16).

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": about 10 s; "full": all 50,000 images at full width (an hour or more on one thread)
result = run_lab("cifar10-speedrun", size=size)
print(result.line)
print(f"before training: {result.metrics['untrained_test_error']:.1%} test error (chance: 90%)")

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The whitening figure shows the 12 filters, the strongest direction of the patches first:
# their mean brightness, then a colour contrast (orange: red against blue), the up-down and
# left-right brightness edges, another colour contrast and a brightness checkerboard, and
# last the colour edges and checkerboards. Those are the rarest directions in natural
# images (the smallest eigenvalues), which the whitening amplifies most. The schedule
# figure shows the triangle and the training loss; with label smoothing 0.2 the loss
# cannot go below the dashed line.
#
# ## Take a trick away
# Each trick is an option. Here is the same run with a learnt first layer instead of the
# frozen whitening one (`--whiten false`); compare the accuracies. `--flip false`,
# `--translate 0`, `--tta 0`, `--label_smoothing 0` and `--channels_last false` (same
# accuracy, slower steps) take away the others.

# %%
learnt = run_lab("cifar10-speedrun", size=size, quiet=True, whiten=False)
print(f"learnt first layer: {learnt.line}")
print(f"whitening layer:    {result.line}")

# %% [markdown]
# ## Equal time
# `--minutes M` stops training after M minutes of wall time (the current step is finished,
# then the network is evaluated): `dlc run cifar10-speedrun --full --minutes 5` is the
# recipe's answer to "how good in five minutes?".
#
# ## Exercise
# 1. `whitening_weights` (in `src/dlc/labs/cifar10_speedrun.py`) turns each eigenvector so
#    that its largest entry is positive. Why does the network not care about the sign, and
#    why does the grader?
# 2. The whitening adds `eps` to each eigenvalue before the square root. Set it to 0 and
#    to 0.1 (in `SpeedNet.whiten`): what happens to the last filters of the figure, and to
#    the accuracy?
# 3. At `--stride 1` the layer sees every 2 x 2 patch and every later map is twice as wide
#    and tall. Run both strides with `--minutes 1`: which wins at equal time, and which at
#    equal epochs?
