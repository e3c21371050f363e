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
# # Using GPUs (EE-559 6.6)
# Every tensor lives on a *device*: the CPU, or one of the GPUs (`cuda:0`, `cuda:1`, ...).
# `x.to(device)` copies a tensor there, `model.to(device)` moves a model's parameters, and
# an operation needs all its operands on the same device. A GPU runs thousands of
# multiply-adds at once, so a large matrix product is many times faster there; a small one
# is not, because every call has a fixed cost (and a copy to the GPU has one too).
#
# This lab measures it on the machine you run it on: the GFLOP/s of n x n matrix products
# for several sizes and dtypes, on the CPU (1 thread and all of them) and on every GPU
# present. Without a GPU it says so and measures the CPU only.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": sizes up to 4096
result = run_lab("gpu", size=size)
print(result.line)
for v in result.verdicts:
    print(" ", v)

# %%
from IPython.display import Image, Markdown, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))
display(Markdown((result.run_dir / "throughput.md").read_text()))

# %% [markdown]
# Read the throughput figure from left to right: small products reach a fraction of the
# device's speed (the cost of a call dominates), large ones approach its peak. float64
# costs about twice float32 on a CPU (twice the bytes per number, half the numbers per
# vector instruction), and far more on most GPUs, which is why deep learning computes in
# float32, or float16 and bfloat16 on GPUs with tensor cores.
#
# ## Devices, by hand

# %%
import torch

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
print("device:", device, "| GPUs:", torch.cuda.device_count())
x = torch.randn(4, 3)
y = x.to(device)  # a copy on the device (the same tensor if it is already there)
model = torch.nn.Linear(3, 2).to(device)  # moves the parameters in place
print(y.device, next(model.parameters()).device, model(y).device)

# %% [markdown]
# ## Timing asynchronous work
# A CUDA call returns as soon as its kernel is *queued*; the GPU works while Python goes
# on. Reading the clock right after the call measures the launch (microseconds), not the
# product: call `torch.cuda.synchronize()` before reading it. The lab shows both timings
# side by side where there is a GPU (the "timing" figure). On the CPU an operation returns
# when it is done, so both timings agree:

# %%
import time

from dlc.labs.gpu import synchronizer

a = torch.randn(1024, 1024, device=device)
sync = synchronizer(device)
a @ a
sync()  # warm-up
t0 = time.perf_counter()
c = a @ a
unsynced = time.perf_counter() - t0
sync()
t0 = time.perf_counter()
c = a @ a
sync()
synced = time.perf_counter() - t0
print(f"{device}: without waiting {unsynced * 1e3:.3f} ms, after synchronising {synced * 1e3:.3f} ms")

# %% [markdown]
# ## Pinned memory
# A copy from ordinary (pageable) host memory to the GPU goes through a staging buffer;
# from *pinned* (page-locked) memory the GPU reads directly, faster, and with
# `non_blocking=True` the copy overlaps with the host's work. `DataLoader(pin_memory=True)`
# pins every batch for you. With a GPU, the lab's timing figure compares the two.
#
# ## Several GPUs
# `dlc run gpu --nproc N` starts N processes, each on its own GPU (`cuda:<local rank>`);
# each measures its device at the same time and rank 0 writes the table of all of them.
# Training labs use the same mechanism to split every batch over the GPUs.
#
# ## Exercise
# 1. Find the size n from which the all-threads CPU beats one thread by more than 1.5x
#    (`run_lab("gpu", sizes="16,32,64,128,256,512,1024")`). Why do small products not
#    profit from more threads?
# 2. With a GPU: from which n is the GPU faster than the CPU, once the copies there and
#    back are counted? Time `a.to(device) @ b.to(device)` followed by `.cpu()`.
# 3. Time a training step of a small MLP on CPU and GPU with batch sizes 16 and 4096.
#    What does this tell you about choosing a batch size on a GPU?
