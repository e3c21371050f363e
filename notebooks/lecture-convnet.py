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
# # The first lecture's convnet (EE-559 1.1)
# The first lecture ends with a complete deep-learning program: a small convolutional
# network (two convolutions with max-pooling, two fully connected layers), MNIST inputs
# normalised by the training mean and standard deviation, and ten epochs of plain SGD
# (lr 0.1, batches of 100). On the full set it reaches about 1% test error. Here it runs
# through `dlc`'s training loop; look at the loss and error curves, and at the digits it gets wrong.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("lecture-convnet", size=size)
print(result.line)
print(f"before training: {result.metrics['untrained_test_error']:.1%} test error (chance: 90%)")

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The network, layer by layer: each convolution (kernel 5) takes 4 pixels off each side,
# each max-pooling divides the size, so 28 -> 24 -> 8 -> 4 -> 2, and 64 channels of 2 x 2
# give the 256 inputs of the first fully connected layer.

# %%
import torch
from dlc.models.convnets import LectureConvNet

net = LectureConvNet()
x = torch.zeros(1, 1, 28, 28)
for name, layer in net.named_children():
    print(f"{name:6} {str(tuple(layer.weight.shape)):18} {layer.weight.numel() + layer.bias.numel():7,} parameters")
print(f"total {sum(p.numel() for p in net.parameters()):,} parameters")

# %% [markdown]
# The training loop itself is the lecture's five lines: `dlc.engine.fit` walks the epochs and
# batches and calls a *step* (here `Supervised`: forward, loss, backward, optimizer step);
# callbacks add the progress bar, the metrics file, TensorBoard (`tensorboard --logdir runs`),
# checkpoints and `dlc run lecture-convnet --resume RUN_DIR` after an interruption.
#
# ## Exercise
# 1. The lecture takes the training images in their file order. Shuffle them at each epoch
#    (`run_lab("lecture-convnet", shuffle=True)` or `dlc run lecture-convnet --shuffle true`):
#    does the test error change more than between two seeds (`--seed 1`)?
# 2. Try a ten times smaller and a ten times larger step (`--lr 0.01`, `--lr 1`). With 0.01
#    the error after 10 epochs is clearly higher (too slow); with 1 training may diverge and
#    the run stops with a message saying at which step the loss became NaN.
# 3. Remove the normalisation (edit a copy of `src/dlc/labs/lecture_convnet.py`): inputs in
#    0..255 make the first steps far too large for lr 0.1. What happens to the loss?
