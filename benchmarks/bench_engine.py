"""The engine's training loop against the lecture's own hand-written loop, side by side.

Both train the first lecture's convnet on the full MNIST training set (60,000 images,
normalised, batches of 100, SGD lr 0.1, no shuffling) for the recipe's 10 epochs
(``--epochs``) from the same initial weights. The plain loop is the lecture's code; the engine is ``fit`` with the
default ``Supervised`` step, as ``dlc run lecture-convnet`` uses it: in a run folder,
with the metrics file, TensorBoard, checkpoints (every 500 steps and at the epoch's
end), the progress bar and the curves PNG. Those fixed costs (about 0.3 s a fit here,
mostly the figure) are part of what is timed, spread over the recipe as a student runs it.
Repetitions alternate which goes first; medians are compared. Both must also end with
exactly the same weights (the engine is the same computation).

Writes benchmarks/results/engine.json.

    PYTORCH_DATA_DIR=../shared/data python benchmarks/bench_engine.py [--repeats 3] [--epochs 10] [--force_cpu]
"""

import argparse
import json
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dlc import prologue
from dlc.engine import RunContext, Supervised, fit, pick_device
from dlc.models.convnets import LectureConvNet


def plain_epochs(model, train_input, train_target, epochs, lr=0.1, bs=100):
    """The lecture's loop, as printed on its slide."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    nb_train_samples = train_input.size(0)
    for _ in range(epochs):
        for b in range(0, nb_train_samples, bs):
            output = model(train_input.narrow(0, b, bs))
            loss = criterion(output, train_target.narrow(0, b, bs))
            model.zero_grad()
            loss.backward()
            optimizer.step()


@dataclass
class BenchConfig:
    lr: float = 0.1


def engine_epochs(model, train_input, train_target, epochs, runs_dir, force_cpu, lr=0.1, bs=100):
    with RunContext.open("bench-engine", BenchConfig(lr), runs_dir=runs_dir, force_cpu=force_cpu, quiet=False) as ctx:
        step = Supervised(model, torch.optim.SGD(model.parameters(), lr=lr))
        fit(step, (train_input, train_target), ctx, epochs=epochs, batch_size=bs, shuffle=False)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10, help="epochs per run (the recipe: 10)")
    p.add_argument("--size", default="full", choices=["tiny", "default", "full"])
    p.add_argument("--force_cpu", action="store_true")
    p.add_argument("--data_dir", default=None)
    args = p.parse_args()

    device = pick_device(args.force_cpu)
    train_input, train_target, _, _ = prologue.load(
        size=args.size, flatten=False, data_dir=args.data_dir, device=device
    )
    mu, std = train_input.mean(), train_input.std()
    train_input.sub_(mu).div_(std)
    torch.manual_seed(0)
    init = LectureConvNet().state_dict()

    def fresh():
        m = LectureConvNet().to(device)
        m.load_state_dict(init)
        return m

    times: dict[str, list[float]] = {"plain": [], "engine": []}
    weights = {}
    with tempfile.TemporaryDirectory() as runs_dir:
        # one untimed short pass of each, so that lazy initialisations are not timed
        plain_epochs(fresh(), train_input[:1000], train_target[:1000], 1)
        engine_epochs(fresh(), train_input[:1000], train_target[:1000], 1, runs_dir, args.force_cpu)
        for r in range(args.repeats):
            order = ("plain", "engine") if r % 2 == 0 else ("engine", "plain")
            for which in order:
                model = fresh()
                sync(device)
                t0 = time.perf_counter()
                if which == "plain":
                    plain_epochs(model, train_input, train_target, args.epochs)
                else:
                    engine_epochs(model, train_input, train_target, args.epochs, runs_dir, args.force_cpu)
                sync(device)
                times[which].append(time.perf_counter() - t0)
                weights[which] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                print(f"repeat {r + 1}: {which:6s} {times[which][-1]:7.2f} s", flush=True)

    same = all(torch.equal(weights["plain"][k], weights["engine"][k]) for k in weights["plain"])
    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(train_input)
    result = {
        "what": f"{args.epochs} epoch(s) of the lecture convnet (SGD lr 0.1, batch 100, no shuffling): "
        "fit (Supervised step) with its run folder, metrics, TensorBoard, checkpoints, progress "
        "bar and curves vs the lecture's hand-written loop",
        "size": args.size,
        "epochs": args.epochs,
        "train_samples": n,
        "repeats": args.repeats,
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "plain_s": [round(t, 3) for t in times["plain"]],
        "engine_s": [round(t, 3) for t in times["engine"]],
        "median_plain_s": round(med["plain"], 3),
        "median_engine_s": round(med["engine"], 3),
        "ratio_engine_to_plain": round(med["engine"] / med["plain"], 4),
        "plain_samples_per_s": round(n * args.epochs / med["plain"], 1),
        "engine_samples_per_s": round(n * args.epochs / med["engine"], 1),
        "same_final_weights": same,
    }
    print(f"plain  median {med['plain']:.2f} s ({n * args.epochs / med['plain']:,.0f} samples/s)")
    print(f"engine median {med['engine']:.2f} s ({n * args.epochs / med['engine']:,.0f} samples/s)")
    print(f"ratio engine / plain: {result['ratio_engine_to_plain']:.3f}; same final weights: {same}")
    out = Path(__file__).with_name("results") / "engine.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
