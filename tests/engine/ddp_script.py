"""A small run for the multi-process tests: started as a plain script (one process) or
through torchrun (several). It trains an MLP on seeded 2-D data with the engine's fit
and writes the final weights and history (rank 0) into its run folder.

usage: ddp_script.py RUNS_DIR [--batch B] [--epochs E] [--every K] [--resume DIR] [--sleep S]
"""

import argparse
import time
from dataclasses import dataclass

import torch
from torch import nn

from dlc.engine import RunContext, Supervised, fit
from dlc.engine.callbacks import Callback, Checkpoint, MetricsLogger


@dataclass
class Config:
    batch: int = 40
    epochs: int = 3


class Slow(Callback):
    """Sleep after each step, so that a test can kill the run mid-way."""

    def __init__(self, seconds):
        self.seconds = seconds

    def on_batch_end(self, loop, step):
        time.sleep(self.seconds)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("runs_dir")
    p.add_argument("--batch", type=int, default=40)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--every", type=int, default=0)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--resume", default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    cfg = Config(a.batch, a.epochs)
    with RunContext.open("ddp-test", cfg, runs_dir=a.runs_dir, quiet=True, force_cpu=True, resume=a.resume) as ctx:
        x = torch.randn(400, 2)
        y = (x[:, 0] * x[:, 1] > 0).long()
        model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))
        step = Supervised(model, torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9))
        callbacks = [MetricsLogger(every=0), Checkpoint(every=a.every), Slow(a.sleep)]
        history = fit(
            step, (x, y), ctx, epochs=cfg.epochs, batch_size=cfg.batch, val=(x[:100], y[:100]), callbacks=callbacks
        )
        if ctx.is_main:
            for r in history:
                r.pop("time_s"), r.pop("samples_per_s")
            torch.save(
                {"weights": model.state_dict(), "history": history, "world": ctx.world.world_size}, ctx.dir / "final.pt"
            )
            print(ctx.dir, flush=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        # As `dlc run` does, end the process group before the interpreter exits, and the
        # DistributedDataParallel modules first (held in reference cycles until a collection):
        # one still alive when the group is destroyed aborts its process at exit, now and then
        # ("terminate called without an active exception", exit -6: 5 runs in 25 here).
        import gc

        from dlc.engine.distributed import teardown

        gc.collect()
        teardown()
