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
# # Saliency maps (EE-559 8.3)
# Which pixels does a decision depend on? The simplest answer is the gradient of the class
# score with respect to the input: a pixel whose small change moves the score much is
# *salient*. For a ReLU network that gradient is very noisy (it jumps as units switch on and
# off), so SmoothGrad averages it over noisy copies of the image. Occlusion asks the question
# directly, with forward passes only: hide a square of the image and see how much the
# class probability drops.
#
# Maps are pictures, and pictures persuade easily. The lab therefore also *tests* them: delete
# pixels in each map's order (most salient first) and in a random order, and compare how fast
# the class probability falls (the area under the deletion curve: lower is better).

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": all of MNIST (CI runs "tiny")
result = run_lab("saliency", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# Random deletion barely hurts: most of an MNIST image is background, and deleting a black
# pixel changes nothing. The maps pick out the stroke, and among the stroke the parts that
# tell this digit from others. Occlusion usually wins this particular test, and that is
# partly by construction: it measures exactly "what happens when this part is set to black",
# which is what the deletion test does. The gradient answers a local question (an
# infinitesimal change) that a large deletion only partly follows.
#
# ## The gradient by hand
# Saliency is one `torch.autograd.grad` of the class score with respect to the input.

# %%
import torch

from dlc.models.trained import train_mnist_convnet

net = train_mnist_convnet(None, train_size=500, test_size=10, epochs=2, batch_size=20)
x = net.test_input[:1].clone().requires_grad_()
score = net.model(x)[0].max()
(grad,) = torch.autograd.grad(score, x)
print("saliency map", tuple(grad.shape), "largest |gradient| at pixel", divmod(int(grad.abs().argmax()), 28))

# %% [markdown]
# ## Exercise
# 1. Change SmoothGrad's noise (`run_lab("saliency", noise=0.05)`, then 0.4): what does too
#    little or too much noise do to the map, and to its deletion area?
# 2. Use a larger occlusion square (`patch=10`): the map is blurrier; is its deletion test
#    better or worse?
# 3. Add "gradient x input" (the gradient multiplied by the image, pixel by pixel) to the
#    lab's maps. Careful: the inputs are normalised, so a black pixel is not 0 but
#    `net.black` (about -0.42); multiply by `x - net.black` instead. Does it pass the deletion test?
