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
# # DataLoader and neuro-surgery (EE-559 7.5)
# Two practical skills. **Feeding a network**: a `Dataset` says how many samples there are
# (`__len__`) and how to get one (`__getitem__`, where reading a file, decoding or augmenting
# happens); a `DataLoader` draws the indices (shuffled or not), asks the dataset for each sample,
# possibly in several worker processes at once, and a *collate function* turns the list of
# samples into one batch. **Operating on a network**: a trained model is a tree of modules whose
# attributes can be replaced (`model.fc2 = nn.Linear(200, 5)`) and whose parameters can be
# frozen (`p.requires_grad = False`); the optimiser is then given only what still trains.
#
# The lab trains the first lecture's convnet on the digits 0–4, replaces its head by one for
# the digits 5–9, freezes the rest, and trains the head from a DataLoader with two workers.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": all of MNIST (CI runs "tiny")
result = run_lab("dataloader-surgery", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))

# %% [markdown]
# The frozen layers did not move at all: their largest change is exactly 0, not merely small,
# because no gradient is computed for them and the optimiser does not even hold them. The new
# head learns quickly on features learned for *other* digits — faster and better than the same
# head on random frozen features: what the lower layers learned (strokes, their combinations)
# is useful beyond the classes they were trained on. That is transfer learning in miniature.
#
# ## Poking at it
# A `Dataset` is just two methods; the DataLoader does the rest. Here one with the lab's
# dataset, its collate function and two workers. Each worker is a separate process that
# starts from a copy of our random states. Since torch 1.9 the DataLoader reseeds torch,
# `random` and NumPy in each worker from the loader's generator and the worker's id, so their
# "random" shifts differ; before, NumPy was not reseeded and every worker drew the same
# shifts. `seed_worker`, passed as `worker_init_fn`, is the explicit form older code used.

# %%
import torch
from torch.utils.data import DataLoader

from dlc import prologue
from dlc.labs.dataloader_surgery import DigitImages, NormaliseCollate, seed_worker

x, y, _, _ = prologue.load(size="tiny", flatten=False)
ds = DigitImages(x, y, [5, 6, 7, 8, 9], shift=2)
print(len(ds), "samples; one is", ds[0][0].dtype, tuple(ds[0][0].shape), "label", ds[0][1])
loader = DataLoader(
    ds,
    batch_size=8,
    shuffle=True,
    num_workers=2,
    collate_fn=NormaliseCollate(float(x.mean()), float(x.std())),
    worker_init_fn=seed_worker,
    generator=torch.Generator().manual_seed(0),
)
images, labels = next(iter(loader))
print("a batch:", images.dtype, tuple(images.shape), labels.tolist())

# %% [markdown]
# And the surgery on a fresh network: which parameters would an optimiser get?

# %%
from dlc.labs.dataloader_surgery import operate
from dlc.models.convnets import LectureConvNet

net = LectureConvNet()
operate(net, ["conv1", "conv2", "fc1"], n_classes=5)
trainable = [name for name, p in net.named_parameters() if p.requires_grad]
print("trainable:", trainable)
optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
print("the optimiser holds", sum(p.numel() for g in optimizer.param_groups for p in g["params"]), "parameters")

# %% [markdown]
# ## Exercise
# 1. Unfreeze `fc1` (`run_lab("dataloader-surgery", freeze="conv1,conv2")`): does fine-tuning
#    one more layer help on so few images, or does it start to over-fit?
# 2. Remove `worker_init_fn=seed_worker` in a copy of the loader above, draw a batch from each
#    worker (with `batch_size=4` on 8 identical images) and compare the shifts: does today's
#    torch still need it? Then pass `worker_init_fn=lambda i: np.random.seed(0)` (the mistake
#    of reseeding every worker alike) and compare again: what goes wrong?
# 3. Time one epoch of the loader with `num_workers` 0, 1 and 2 (`--num_workers`): when do
#    workers pay off, and when does starting the processes cost more than it saves?
