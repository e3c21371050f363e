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
# # Optimizing inputs (EE-559 8.4)
# Training takes the gradient of the loss with respect to the *parameters*. The same
# backward pass also gives the gradient with respect to the *input*, and an input can be
# optimised like parameters are. Three uses:
#
# - **adversarial examples**: change every pixel by at most epsilon in the direction that
#   raises the loss (FGSM: one step along the gradient's sign; PGD: several smaller steps,
#   each projected back into the epsilon box). Random signs of the same size do almost nothing:
#   it is the *direction* that matters, and in 784 dimensions a tiny step in each coordinate
#   adds up to a large change of the score;
# - **class visualisation**: start from a grey image and climb a class's score (with a penalty
#   that keeps the image near grey): what the network "looks for" in that class;
# - **deep dream**: climb the activations of an inner layer from a real image, exaggerating
#   whatever that layer responds to.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": all of MNIST (CI runs "tiny")
result = run_lab("optimizing-inputs", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# ## FGSM by hand
# One gradient of the loss with respect to the pixels, its sign, a step of epsilon.

# %%
import torch
import torch.nn.functional as F

from dlc.models.trained import train_mnist_convnet

net = train_mnist_convnet(None, train_size=500, test_size=200, epochs=3, batch_size=20)
pixels = net.to_pixels(net.test_input).requires_grad_()
loss = F.cross_entropy(net.model(net.from_pixels(pixels)), net.test_target)
(grad,) = torch.autograd.grad(loss, pixels)
with torch.no_grad():
    for eps in (0.0, 0.1, 0.2):
        adv = (pixels + eps * grad.sign()).clamp(0, 1)
        acc = (net.model(net.from_pixels(adv)).argmax(1) == net.test_target).float().mean()
        print(f"epsilon {eps}: accuracy {acc:.1%}")

# %% [markdown]
# ## Exercise
# 1. Train longer or on more data (`size = "full"`) and attack at `epsilon=0.1`: is a
#    better-trained network more or less fragile?
# 2. Adversarial training: in a copy of the lab, train on FGSM examples of each batch
#    (`Supervised(..., augment=...)` takes a function of the inputs). How do the accuracy curves change?
# 3. Set the class visualisation's `l2` to 0 and to 1: what does the penalty do to the images?
