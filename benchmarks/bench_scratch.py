"""dlc.scratch against torch.autograd: one epoch of MNIST on a 784-256-256-10 ReLU MLP.

Both variants train the same network from the same initial weights on the same batches
(batch 100, plain SGD, cross-entropy), in one process with the same thread count. Epochs
alternate between the two (A B, B A, A B, ...) so that machine load affects both alike;
the medians are compared. The final losses of the two are reported too: they follow the
same arithmetic, so they must agree closely (a check that the comparison is like for like).

    python benchmarks/bench_scratch.py [--repeats 5] [--threads 1 2] [--batches 600]

With several thread counts, each is compared in turn (both variants at that count).

Writes benchmarks/results/scratch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import torch
import torch.nn as tnn
import torch.nn.functional as TF

import dlc.scratch as S
from dlc.scratch import functional as F
from dlc.scratch import nn, optim

SIZES = (784, 256, 256, 10)


def load_mnist(device):
    from dlc.data import load

    images, labels = load("mnist", train=True)
    x = images.reshape(len(images), -1).float().div_(255)
    x = (x - x.mean()) / x.std()
    return x.to(device), labels.to(device)


def torch_model():
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers += [tnn.Linear(a, b)] + ([tnn.ReLU()] if i < len(SIZES) - 2 else [])
    return tnn.Sequential(*layers)


def scratch_model():
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(SIZES) - 2 else [])
    return nn.Sequential(*layers)


def epoch_torch(model, batches, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    total = 0.0
    for xb, yb in batches:
        opt.zero_grad()
        loss = TF.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        total += loss.detach()
    return (total / len(batches)).item()


def epoch_scratch(model, batches, lr):
    opt = optim.SGD(model.parameters(), lr=lr)
    total = 0.0
    for xb, yb in batches:
        opt.zero_grad()
        loss = F.cross_entropy(model(S.Tensor(xb)), yb)
        loss.backward()
        opt.step()
        total += loss.data
    return (total / len(batches)).item()


def phase_times(batches, lr, device):
    """Seconds per batch in forward, backward and step, for each variant (a profile)."""
    out = {}
    t_model, s_model = torch_model().to(device), scratch_model().to(device)
    t_opt = torch.optim.SGD(t_model.parameters(), lr=lr)
    s_opt = optim.SGD(s_model.parameters(), lr=lr)
    for name in ("torch", "scratch"):
        acc = {"forward": 0.0, "backward": 0.0, "step": 0.0}
        for xb, yb in batches:
            t0 = time.perf_counter()
            if name == "torch":
                t_opt.zero_grad()
                loss = TF.cross_entropy(t_model(xb), yb)
            else:
                s_opt.zero_grad()
                loss = F.cross_entropy(s_model(S.Tensor(xb)), yb)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            (t_opt if name == "torch" else s_opt).step()
            t3 = time.perf_counter()
            acc["forward"] += t1 - t0
            acc["backward"] += t2 - t1
            acc["step"] += t3 - t2
        out[name] = {k: round(v / len(batches) * 1e6, 1) for k, v in acc.items()}
    return out


def compare(batches, init, lr, repeats, device, threads):
    """Interleaved epochs of both variants at one thread count; times, losses, ratio."""
    torch.set_num_threads(threads)

    def fresh(kind):
        m = torch_model() if kind == "torch" else scratch_model()
        m.to(device)
        m.load_state_dict({k: v.clone() for k, v in init.items()})
        return m

    runners = {"torch": epoch_torch, "scratch": epoch_scratch}
    for kind in runners:  # warm-up: allocator, kernels, caches
        runners[kind](fresh(kind), batches[:20], lr)
    times = {k: [] for k in runners}
    losses = {k: [] for k in runners}
    for r in range(repeats):
        order = ("torch", "scratch") if r % 2 == 0 else ("scratch", "torch")
        for kind in order:
            model = fresh(kind)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            loss = runners[kind](model, batches, lr)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[kind].append(time.perf_counter() - t)
            losses[kind].append(loss)
            print(
                f"threads {threads} repeat {r + 1}: {kind:8s} {times[kind][-1]:7.3f} s  mean loss {loss:.6f}",
                flush=True,
            )
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["scratch"] / med["torch"]
    pair_ratios = [s / t for s, t in zip(times["scratch"], times["torch"])]
    profile = phase_times(batches[:100], lr, device)
    print(
        f"threads {threads}: median epoch torch {med['torch']:.3f} s, scratch "
        f"{med['scratch']:.3f} s, ratio {ratio:.3f} (target <= 1.5)"
    )
    for kind, ph in profile.items():
        print(f"  {kind:8s} per batch: " + ", ".join(f"{k} {v:.0f} us" for k, v in ph.items()))
    return {
        "threads": threads,
        "seconds": {k: [round(t, 4) for t in v] for k, v in times.items()},
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "ratio_scratch_to_torch": round(ratio, 3),
        "median_pairwise_ratio": round(statistics.median(pair_ratios), 3),
        "within_target": ratio <= 1.5,
        "mean_epoch_loss": {k: round(v[0], 6) for k, v in losses.items()},
        "us_per_batch_by_phase": profile,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="epochs per variant (default 5)")
    p.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        help="torch thread counts to compare at, one after the other "
        f"(default: torch's own, {torch.get_num_threads()} here)",
    )
    p.add_argument("--batches", type=int, default=None, help="batches per epoch (default all 600)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(Path(__file__).with_name("results") / "scratch.json"))
    args = p.parse_args(argv)
    device = torch.device(args.device)
    x, y = load_mnist(device)
    torch.manual_seed(0)
    perm = torch.randperm(len(x), device=device)
    x, y = x[perm], y[perm]  # one shuffle, shared by every epoch of both variants
    bs = args.batch_size
    batches = [(x[i : i + bs], y[i : i + bs]) for i in range(0, len(x) - bs + 1, bs)]
    batches = batches[: args.batches] if args.batches else batches
    init = torch_model().to(device).state_dict()
    runs = [
        compare(batches, init, args.lr, args.repeats, device, n) for n in (args.threads or [torch.get_num_threads()])
    ]
    result = {
        "benchmark": "one epoch of MNIST, 784-256-256-10 ReLU MLP, batch "
        f"{bs}, SGD lr {args.lr}, cross-entropy; dlc.scratch vs torch.nn + "
        "torch.autograd + torch.optim.SGD, interleaved epochs, medians",
        "command": "python benchmarks/bench_scratch.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now().isoformat(timespec="seconds"),
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "batches_per_epoch": len(batches),
        "repeats": args.repeats,
        "target_ratio": 1.5,
        "runs": runs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
