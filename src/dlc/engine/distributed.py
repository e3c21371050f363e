"""Several processes, one run: rank from the environment, a device per local rank,
only rank 0 writes (the pattern of nanoGPT's DDP set-up, on torchrun).

``dlc run LAB --nproc N`` starts N copies of itself through torchrun
(``torch.distributed.run``), which sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous
variables in each process's environment. :func:`setup` reads them and joins the process
group (gloo on the CPU, nccl on CUDA); a plain ``dlc run`` is a world of one and touches
nothing of ``torch.distributed``.

The engine does the rest: each rank trains on its shard of every batch
(:mod:`dlc.engine.batches`), the models are wrapped in DistributedDataParallel (which
averages the gradients), and the epoch metrics are summed over ranks (:func:`all_sum`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from dlc.errors import DlcError


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(force_cpu: bool = False) -> World:
    """This process's place in the world; joins the process group when torchrun started it."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World()
    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        cuda = torch.cuda.is_available() and not force_cpu
        if cuda:
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group("nccl" if cuda else "gloo")
    return world


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over every rank (itself when there is one process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def gather_objects(obj):
    """Every rank's ``obj``, as a list indexed by rank (``[obj]`` for one process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        import gc

        gc.collect()  # DistributedDataParallel objects first: gloo may abort at exit otherwise
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` in DistributedDataParallel when there are several processes."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    if isinstance(module, DDP) or not any(p.requires_grad for p in module.parameters()):
        return module
    return DDP(module, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return getattr(module, "module", module) if type(module).__name__ == "DistributedDataParallel" else module


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``dlc <argv>`` in ``nproc`` processes on this machine through torchrun."""
    if nproc < 1:
        raise DlcError(f"--nproc must be >= 1, got {nproc}")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "dlc",
        *argv,
    ]
    env = dict(os.environ)
    # torchrun would otherwise warn and set 1; say it ourselves: each process gets its share
    env.setdefault("OMP_NUM_THREADS", str(max((os.cpu_count() or 1) // nproc, 1)))
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130
