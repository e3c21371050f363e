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
# # Fashion-MNIST at record speed
# Fashion-MNIST has MNIST's shape (28 x 28 grey images, 10 classes) and is much harder:
# shirts, T-shirts, pullovers and coats look alike at this size. The first lecture's recipe
# (its convnet, plain SGD, batches of 100, 10 epochs) reaches about 90% on it. This lab
# spends the same time differently, with the tricks of `src/dlc/speedrun.py` (data in memory
# normalised once, batch normalisation, SGD with Nesterov momentum and weight decay, a
# one-cycle learning rate, batches of 256, channels-last convolutions, label smoothing) and two that only images with
# a mirror symmetry allow:
# - **mirror augmentation**: each training image is mirrored left-right with probability 1/2;
# - **test-time mirroring**: the prediction averages the image's and its mirror's.
#
# A mirrored shoe is a shoe; a mirrored 2 is not a 2, which is why the MNIST speedrun uses
# neither. The network also starts on 2 x 2 patches of pixels (a "pixel-unshuffle" stem),
# which makes each later convolution four times cheaper than at full resolution.
# `benchmarks/bench_speedruns.py` times `size = "full"` against the lecture recipe run on
# Fashion-MNIST, both as whole processes on the same machine.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the record recipe on all 60,000 images (CI runs "tiny")
result = run_lab("fashion-speedrun", size=size)
print(result.line)
print(f"before training: {result.metrics['untrained_test_error']:.1%} test error (chance: 90%)")

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The misclassified images are mostly the tops: which of them would *you* get right?
# The schedule figure shows the one-cycle learning rate and what it does to the loss; with
# label smoothing 0.1 the loss cannot go below the dashed line.
#
# ## Test-time mirroring, measured
# The result line gives the accuracy of the same trained network with and without
# averaging over the mirror. The mirrored prediction costs a second forward pass over the
# test set, nothing at training time.

# %%
m = result.metrics
print(f"plain prediction:    {1 - m['plain_test_error']:.2%}")
print(f"averaged with mirror: {m['test_accuracy']:.2%}")

# %% [markdown]
# ## Exercise
# 1. `mirrored_probabilities` (in `src/dlc/labs/fashion_speedrun.py`) averages
#    probabilities. Average the logits instead: is the accuracy different? Why might a
#    product of probabilities (a sum of log-probabilities) be a better combination?
# 2. Train without mirrored images (`--mirror false`) at `--full`: what happens to the
#    training loss, and to the test accuracy?
# 3. Widen the network (`--width 1.5`) and train fewer epochs in the same time: which
#    spends the seconds better on this machine?
