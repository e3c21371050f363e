"""Using GPUs (EE-559 6.6): devices, moving tensors and models, timing them right, and
how fast a matrix product runs on each device present.

The lecture's points, each measured here:

- a tensor lives on a device (``x.device``); ``x.to(device)`` copies it there, and
  ``model.to(device)`` moves a model's parameters; operands must be on the same device;
- CUDA operations are *asynchronous*: a call returns as soon as the kernel is queued, so
  a timer read without ``torch.cuda.synchronize()`` measures the launch, not the work
  (shown side by side where CUDA exists; on the CPU both timings agree);
- host-to-GPU copies from *pinned* (page-locked) memory are faster, and with
  ``non_blocking=True`` they overlap with the host's work (timed on CUDA);
- a throughput table: GFLOP/s of an n x n matrix product (2 n^3 operations) for several
  sizes and dtypes on every device present -- the CPU with 1 thread and with all of them,
  and each GPU. Small products are dominated by the cost of a call and reach a fraction
  of the device's speed; large ones approach its peak.

Without a GPU the lab says so and measures the CPU (1 vs all threads, float32 vs float64).
With CUDA it measures every visible GPU; with ``dlc run gpu --nproc N`` each of N
processes measures its own GPU (``cuda:<local rank>``) at the same time, and rank 0 writes
the table of all of them.

Check (same run): every throughput is a positive, finite number; on the CPU the largest
product reaches a higher GFLOP/s than the smallest; every device's product agrees with
the CPU's float64 product to its dtype's tolerance; and where CUDA exists, the
synchronised time of a large product is longer than the unsynchronised (wrong) one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dlc.engine import distributed
from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.options import parse_list

DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
#: largest relative difference from the float64 product (of ``check_size`` x ``check_size``
#: matrices) that each dtype may show; float32 allows for TF32 on recent GPUs
TOLERANCE = {torch.float64: 1e-9, torch.float32: 5e-3, torch.float16: 5e-2, torch.bfloat16: 5e-2}


@dataclass
class Config:
    sizes: str = "32,128,512"  # n of the n x n matrix products timed, comma-separated
    dtypes: str = "float32,float64"  # dtypes timed on every device (float16, bfloat16: GPUs only)
    half: bool = True  # on a GPU, also time float16 (its tensor cores)
    repeats: int = 5  # timed runs of each measurement at least; the fastest counts
    min_time: float = 0.05  # seconds spent timing each measurement (more runs while time
    # remains: the fastest run is the one no other process interrupted)
    sync_size: int = 2048  # n of the product timed with and without synchronisation on a GPU
    copy_mb: int = 64  # megabytes copied host -> GPU in the pinned-memory comparison
    check_size: int = 256  # n of the product compared with the CPU's float64 result
    TINY = {"sizes": "32,256", "repeats": 3, "min_time": 0.02, "copy_mb": 16}
    FULL = {"sizes": "32,128,512,1024,2048,4096", "sync_size": 4096, "copy_mb": 256}

    def __post_init__(self):
        self.size_list()
        self.dtype_list()
        for name in ("repeats", "sync_size", "copy_mb", "check_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.min_time <= 10:
            raise UsageError(f"--min_time must be in (0, 10] seconds, got {self.min_time}")

    def size_list(self) -> list[int]:
        return parse_list("sizes", self.sizes, int, check=lambda n: 1 <= n <= 32768, example="32,128,512")

    def dtype_list(self) -> list[torch.dtype]:
        names = parse_list("dtypes", self.dtypes, choices=DTYPES, example="float32,float64")
        return [DTYPES[n] for n in dict.fromkeys(names)]


# -- timing ---------------------------------------------------------------------------------


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits until ``device`` has finished its queued work (nothing on the
    CPU, whose operations return when they are done)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def timed_run(
    fn: Callable[[], object], sync: Callable[[], None], calls: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Seconds per call of ``calls`` calls of ``fn`` in a row, timed right on an asynchronous
    device: when this starts, the device may still be busy with work queued earlier (not
    ours to time), and ``fn()`` returns as soon as its work is queued. ``sync()`` waits until
    the device has finished all its queued work; ``clock()`` reads the time in seconds.
    Returns a float."""
    ### BEGIN SOLUTION
    sync()  # earlier work is done before the clock starts
    t0 = clock()
    for _ in range(calls):
        fn()
    sync()  # ours too, before the clock is read
    return (clock() - t0) / calls
    ### END SOLUTION


def time_call(
    fn: Callable[[], object],
    sync: Callable[[], None],
    repeats: int = 5,
    min_time: float = 0.05,
    chunk: float = 1e-3,
) -> float:
    """Seconds per call of ``fn``, each run timed by :func:`timed_run` (waiting for the
    device to finish before the clock is read -- the right way to time asynchronous work).

    Calls shorter than ``chunk`` are grouped so that a timed run lasts about that long (a
    clock read and a synchronisation cost microseconds); at least ``repeats`` runs are
    timed, and more while ``min_time`` seconds have not passed. The fastest run counts: a
    run during which another process had the CPU is slower, never faster.
    """
    fn()
    sync()  # warm-up: first-call costs (allocation, kernel choice) are not timed
    calls = 1
    while True:  # how many calls make one timed run last a chunk
        per_call = timed_run(fn, sync, calls)
        elapsed = per_call * calls
        if elapsed >= chunk or calls >= 2**20:
            break
        calls = min(calls * max(2, int(chunk / max(elapsed, 1e-9))), 2**20)
    best = per_call
    end = time.perf_counter() + min_time
    runs = 1
    while runs < repeats or (time.perf_counter() < end and runs < 100_000):
        best = min(best, timed_run(fn, sync, calls))
        runs += 1
    return best


def gflops(n: int, seconds: float) -> float:
    """Throughput of an n x n by n x n product: 2 n^3 floating-point operations (a
    multiply and an add per term) per ``seconds``, in billions per second (a float)."""
    return 2 * n**3 / seconds / 1e9  # SOLUTION


def relative_error(result: torch.Tensor, reference: torch.Tensor) -> float:
    """max |result - reference| / max |reference|, computed in float64 on the CPU."""
    r, ref = result.detach().cpu().double(), reference.detach().cpu().double()
    return float((r - ref).abs().max() / ref.abs().max().clamp_min(1e-300))


# -- what is measured on each device ----------------------------------------------------


@dataclass
class Target:
    """One thing to measure: a device, and for the CPU how many threads."""

    device: torch.device
    threads: int | None = None  # CPU only
    name: str = ""

    @property
    def label(self) -> str:
        if self.device.type == "cpu":
            return f"cpu, {self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{self.device} ({self.name})"


def cpu_cores() -> int:
    """The cores this process may use (its affinity; all threads of the CPU lines)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def targets(ctx) -> list[Target]:
    """This process's devices: the CPU with 1 and with all threads (rank 0 only in a run of
    several processes, which share the CPU), then the GPUs -- all visible ones in a single
    process, its own (``cuda:<local rank>``) in a run of several."""
    out = []
    if ctx.world.is_main:
        out += [Target(torch.device("cpu"), t) for t in dict.fromkeys((1, cpu_cores()))]
    if ctx.device.type == "cuda":
        devices = (
            [ctx.device]
            if ctx.world.distributed
            else [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
        )
        out += [Target(d, name=torch.cuda.get_device_name(d)) for d in devices]
    return out


def throughput_rows(target: Target, sizes: list[int], dtypes: list[torch.dtype], cfg: Config) -> list[dict]:
    """GFLOP/s of ``a @ b`` for each size and dtype on one target."""
    rows = []
    sync = synchronizer(target.device)
    previous = torch.get_num_threads()
    if target.threads:
        torch.set_num_threads(target.threads)
    try:
        for dtype in dtypes:
            for n in sizes:
                a = torch.randn(n, n, device=target.device, dtype=dtype)
                b = torch.randn(n, n, device=target.device, dtype=dtype)
                seconds = time_call(lambda a=a, b=b: a @ b, sync, cfg.repeats, cfg.min_time)
                rows.append(
                    {
                        "device": target.label,
                        "dtype": str(dtype).replace("torch.", ""),
                        "n": n,
                        "seconds": seconds,
                        "gflops": gflops(n, seconds),
                    }
                )
                del a, b
    finally:
        torch.set_num_threads(previous)
    return rows


def agreement_rows(target: Target, dtypes: list[torch.dtype], n: int, seed: int = 0) -> list[dict]:
    """The product of two fixed random matrices on ``target`` against the CPU's float64
    product: moving the operands there (``.to(device, dtype)``) and the result back."""
    g = torch.Generator().manual_seed(seed)
    a64, b64 = torch.randn(n, n, generator=g, dtype=torch.float64), torch.randn(n, n, generator=g, dtype=torch.float64)
    reference = a64 @ b64
    rows = []
    previous = torch.get_num_threads()
    if target.threads:
        torch.set_num_threads(target.threads)
    try:
        for dtype in dtypes:
            a, b = a64.to(target.device, dtype), b64.to(target.device, dtype)
            err = relative_error((a @ b).cpu(), reference)
            rows.append(
                {
                    "device": target.label,
                    "dtype": str(dtype).replace("torch.", ""),
                    "relative_error": err,
                    "tolerance": TOLERANCE[dtype],
                }
            )
    finally:
        torch.set_num_threads(previous)
    return rows


def sync_demo(device: torch.device, n: int, k: int = 10) -> dict:
    """Time k products of n x n matrices twice: reading the clock as soon as the calls
    return (wrong on a GPU: they return once the kernels are queued), and after waiting
    for the device (right)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    sync = synchronizer(device)
    a @ b
    sync()  # warm-up
    t0 = time.perf_counter()
    for _ in range(k):
        c = a @ b
    unsynced = time.perf_counter() - t0  # the wrong timing: no wait
    sync()
    sync()
    t0 = time.perf_counter()
    for _ in range(k):
        c = a @ b
    sync()  # the right one: wait for the work to be done
    synced = time.perf_counter() - t0
    del c
    return {"device": str(device), "n": n, "products": k, "unsynced_s": unsynced, "synced_s": synced}


def pinned_demo(device: torch.device, megabytes: int, repeats: int, min_time: float) -> dict:
    """Host -> GPU bandwidth from ordinary (pageable) and from pinned memory, and the time a
    ``non_blocking=True`` copy from pinned memory takes to return to the host."""
    host = torch.randn(megabytes * 2**20 // 4)
    pinned = host.pin_memory()
    sync = synchronizer(device)
    pageable_s = time_call(lambda: host.to(device), sync, repeats, min_time)
    pinned_s = time_call(lambda: pinned.to(device, non_blocking=True), sync, repeats, min_time)
    sync()
    t0 = time.perf_counter()
    on_gpu = pinned.to(device, non_blocking=True)
    returned_s = time.perf_counter() - t0  # the host is free again, the copy goes on
    sync()
    ok = bool(torch.equal(on_gpu.cpu(), host))
    nbytes = host.numel() * host.element_size()
    return {
        "device": str(device),
        "megabytes": megabytes,
        "pageable_gb_s": nbytes / pageable_s / 1e9,
        "pinned_gb_s": nbytes / pinned_s / 1e9,
        "non_blocking_return_s": returned_s,
        "pinned_copy_s": pinned_s,
        "copy_exact": ok,
    }


def model_on_devices(targets_: list[Target], seed: int = 0) -> list[dict]:
    """Move one small model and its input to each device; its output there, brought back,
    against the CPU's."""
    g = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    torch.random.set_rng_state(torch_state)
    x = torch.randn(32, 64, generator=g)
    with torch.no_grad():
        reference = model(x)
        rows = []
        for t in targets_:
            if t.device.type == "cpu":
                continue
            moved = model.to(t.device)  # moves the parameters (in place) and returns the model
            out = moved(x.to(t.device))
            rows.append(
                {
                    "device": t.label,
                    "parameter_device": str(next(moved.parameters()).device),
                    "output_device": str(out.device),
                    "relative_error": relative_error(out, reference),
                    "tolerance": TOLERANCE[torch.float32],
                }
            )
            model.to("cpu")
    return rows


@lab(
    "gpu",
    source="EE-559 6.6",
    summary="devices, .to(device), synchronised timing, pinned memory; GFLOP/s of matrix products on every device",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    sizes, dtypes = cfg.size_list(), cfg.dtype_list()
    cuda = ctx.device.type == "cuda"
    mine = targets(ctx)
    ctx.print("devices: " + "; ".join(t.label for t in mine) + ("" if cuda else " (no GPU found)"))

    throughput, agreement, syncs, pinned = [], [], [], []
    for t in mine:
        on_gpu = t.device.type == "cuda"
        kinds = [d for d in dtypes if on_gpu or d in (torch.float32, torch.float64)]
        if on_gpu and cfg.half and torch.float16 not in kinds:
            kinds.append(torch.float16)
        throughput += throughput_rows(t, sizes, kinds, cfg)
        agreement += agreement_rows(t, kinds, cfg.check_size, seed=max(ctx.seed, 0))
        if on_gpu:
            syncs.append(sync_demo(t.device, cfg.sync_size))
            pinned.append(pinned_demo(t.device, cfg.copy_mb, cfg.repeats, cfg.min_time))
        elif t.threads == 1:  # one thread: the steadiest CPU timing
            previous = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                syncs.append(sync_demo(t.device, min(cfg.sync_size, 512)))
            finally:
                torch.set_num_threads(previous)
    moved = model_on_devices(mine, seed=max(ctx.seed, 0))

    # several processes (--nproc): every rank measured its own GPU; rank 0 gathers them all
    gathered = distributed.gather_objects((throughput, agreement, syncs, pinned, moved))
    throughput, agreement, syncs, pinned, moved = ([r for part in gathered for r in part[i]] for i in range(5))

    table = _table(throughput, agreement, syncs, pinned, moved)
    ctx.write_text("throughput.md", table)
    _figures(ctx, throughput, syncs, pinned, cuda)

    cpu_all = max((t.threads or 0) for t in mine if t.device.type == "cpu") if ctx.world.is_main else 0
    n_max, n_min = max(sizes), min(sizes)

    def rate(device: str, dtype: str, n: int) -> float | None:
        for r in throughput:
            if r["device"] == device and r["dtype"] == dtype and r["n"] == n:
                return r["gflops"]
        return None

    cpu1 = "cpu, 1 thread"
    cpu_n = f"cpu, {cpu_all} thread{'s' if cpu_all != 1 else ''}"
    metrics = {
        "cuda": cuda,
        "gpus": sorted({r["device"] for r in throughput if r["device"].startswith("cuda")}),
        "cpu_threads": cpu_all,
        "sizes": sizes,
        "throughput": throughput,
        "agreement": agreement,
        "sync": syncs,
        "pinned": pinned,
        "model_moves": moved,
        "min_gflops": min((r["gflops"] for r in throughput), default=float("nan")),
        "cpu_small_gflops": rate(cpu1, "float32", n_min),
        "cpu_large_gflops": rate(cpu1, "float32", n_max),
        "cpu_large_gflops_all_threads": rate(cpu_n, "float32", n_max),
        "cpu_large_gflops_float64": rate(cpu_n, "float64", n_max),
        "worst_error_ratio": max((r["relative_error"] / r["tolerance"] for r in agreement + moved), default=0.0),
    }
    gpu_rows = [r for r in throughput if r["device"].startswith("cuda")]
    if gpu_rows:
        best = max(gpu_rows, key=lambda r: r["gflops"])
        cpu_best = max((r["gflops"] for r in throughput if r["device"].startswith("cpu")), default=float("nan"))
        s = syncs[0] if syncs else None
        metrics.update(
            gpu_best_gflops=best["gflops"],
            gpu_speedup=best["gflops"] / cpu_best,
            sync_ratio=min(r["synced_s"] / max(r["unsynced_s"], 1e-9) for r in syncs if r["device"].startswith("cuda")),
        )
        line = (
            f"{len(metrics['gpus'])} GPU(s): best {best['gflops']:,.0f} GFLOP/s ({best['device']}, {best['dtype']}, "
            f"n={best['n']}), {metrics['gpu_speedup']:,.0f}x the CPU's best ({cpu_best:,.1f}); "
            f"{s['products']} products of n={s['n']} timed without synchronize: {s['unsynced_s'] * 1e3:.2f} ms, "
            f"with: {s['synced_s'] * 1e3:.2f} ms"
        )
        if pinned:
            p = pinned[0]
            line += f"; host->GPU copies {p['pinned_gb_s']:.1f} GB/s pinned vs {p['pageable_gb_s']:.1f} pageable"
    else:
        line = (
            f"no GPU found: the CPU's float32 product runs at {metrics['cpu_large_gflops']:.1f} GFLOP/s with 1 thread "
            f"and {metrics['cpu_large_gflops_all_threads']:.1f} with {cpu_all} (n={n_max}; float64 "
            f"{metrics['cpu_large_gflops_float64']:.1f}), but only {metrics['cpu_small_gflops']:.1f} at n={n_min}"
        )
        if cpu_all > 1 and metrics["cpu_large_gflops_all_threads"] < metrics["cpu_large_gflops"]:
            line += " (all threads slower than one: other processes are using the cores)"
    return Result(line, metrics=metrics)


def _rate(gflops: float) -> str:
    """A throughput with 3 significant digits at least (0.7, 36.8, 1,250)."""
    return f"{gflops:,.0f}" if gflops >= 100 else f"{gflops:.3g}"


def _table(throughput, agreement, syncs, pinned, moved) -> str:
    lines = ["# Matrix-product throughput (GFLOP/s = 2 n^3 / seconds / 1e9)", ""]
    devices = list(dict.fromkeys((r["device"], r["dtype"]) for r in throughput))
    sizes = sorted({r["n"] for r in throughput})
    lines.append("| device | dtype | " + " | ".join(f"n={n}" for n in sizes) + " |")
    lines.append("| --- | --- |" + " ---: |" * len(sizes))
    for dev, dt in devices:
        cells = []
        for n in sizes:
            v = [r["gflops"] for r in throughput if r["device"] == dev and r["dtype"] == dt and r["n"] == n]
            cells.append(_rate(v[0]) if v else "")
        lines.append(f"| {dev} | {dt} | " + " | ".join(cells) + " |")
    lines += ["", "## Agreement with the CPU's float64 product", "", "| device | dtype | relative error | tolerance |"]
    lines.append("| --- | --- | ---: | ---: |")
    for r in agreement:
        lines.append(f"| {r['device']} | {r['dtype']} | {r['relative_error']:.2e} | {r['tolerance']:.0e} |")
    for r in moved:
        lines.append(f"| {r['device']} (model output) | float32 | {r['relative_error']:.2e} | {r['tolerance']:.0e} |")
    lines += ["", "## Timing with and without synchronisation", ""]
    for r in syncs:
        lines.append(
            f"- {r['device']}: {r['products']} products of n={r['n']}: {r['unsynced_s'] * 1e3:.3f} ms without "
            f"waiting, {r['synced_s'] * 1e3:.3f} ms after synchronising"
        )
    if pinned:
        lines += ["", "## Host -> GPU copies", ""]
        for p in pinned:
            lines.append(
                f"- {p['device']}: {p['megabytes']} MB, pageable {p['pageable_gb_s']:.2f} GB/s, pinned "
                f"{p['pinned_gb_s']:.2f} GB/s; a non_blocking copy returned to the host after "
                f"{p['non_blocking_return_s'] * 1e3:.3f} ms (the copy takes {p['pinned_copy_s'] * 1e3:.3f} ms)"
            )
    return "\n".join(lines) + "\n"


def _figures(ctx, throughput, syncs, pinned, cuda: bool) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for dev, dt in dict.fromkeys((r["device"], r["dtype"]) for r in throughput):
        rows = sorted((r for r in throughput if r["device"] == dev and r["dtype"] == dt), key=lambda r: r["n"])
        style = "-" if dt == "float32" else "--" if dt == "float64" else ":"
        ax.plot([r["n"] for r in rows], [r["gflops"] for r in rows], style, marker="o", ms=4, label=f"{dev}, {dt}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("matrix size n (n x n times n x n)")
    ax.set_ylabel("GFLOP/s (2 n^3 / time)")
    ax.set_title("matrix-product throughput" + ("" if cuda else " (no GPU found: the CPU only)"))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "throughput")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    labels = [f"{r['device']}\n{r['products']} x n={r['n']}" for r in syncs]
    xs = range(len(syncs))
    unsynced = [r["unsynced_s"] * 1e3 for r in syncs]
    synced = [r["synced_s"] * 1e3 for r in syncs]
    axes[0].bar([x - 0.2 for x in xs], unsynced, 0.4, label="clock read as soon as the calls return")
    axes[0].bar([x + 0.2 for x in xs], synced, 0.4, label="clock read after synchronize (the work is done)")
    for x, (u, v) in enumerate(zip(unsynced, synced)):
        axes[0].annotate(f"{u:.3g} ms", (x - 0.2, u), ha="center", va="bottom", fontsize=8)
        axes[0].annotate(f"{v:.3g} ms", (x + 0.2, v), ha="center", va="bottom", fontsize=8)
    axes[0].set_xticks(list(xs), labels, fontsize=8)
    axes[0].set_ylim(0, 1.35 * max(unsynced + synced + [1e-6]))
    axes[0].set_ylabel("measured time (ms)")
    axes[0].set_title(
        "timing products: a GPU's calls return before the work is done"
        if cuda
        else "timing products on the CPU (1 thread): a call returns when its work is done",
        fontsize=10,
    )
    axes[0].legend(fontsize=8, loc="upper center", ncol=1)
    if pinned:
        labels = [p["device"] for p in pinned]
        xs = range(len(pinned))
        axes[1].bar([x - 0.2 for x in xs], [p["pageable_gb_s"] for p in pinned], 0.4, label="pageable memory")
        axes[1].bar([x + 0.2 for x in xs], [p["pinned_gb_s"] for p in pinned], 0.4, label="pinned memory")
        axes[1].set_xticks(list(xs), labels)
        axes[1].set_ylabel("host -> GPU bandwidth (GB/s)")
        axes[1].set_title(f"copying {pinned[0]['megabytes']} MB to the GPU")
        axes[1].legend(fontsize=8)
    else:
        axes[1].axis("off")
        axes[1].text(
            0.5,
            0.5,
            "no GPU found:\npinned memory and non_blocking copies\nspeed up host -> GPU transfers;\n"
            "with a GPU this panel compares them",
            ha="center",
            va="center",
            fontsize=11,
        )
    fig.tight_layout()
    ctx.save_figure(fig, "timing")


def check(result: Result) -> list:
    """The lecture's points, measured: sane throughputs, small products waste the device,
    every device computes the same product, and asynchronous timing misleads on a GPU."""
    m = result.metrics
    out = [
        verdict("smallest measured throughput (GFLOP/s), positive", m["min_gflops"], ">", 0.0),
        verdict(
            "worst relative error against the CPU's float64 product, over its dtype's tolerance",
            m["worst_error_ratio"],
            "<",
            1.0,
        ),
    ]
    if m["cpu_small_gflops"] is not None and m["cpu_large_gflops"] is not None:
        out.append(
            verdict(
                "CPU float32 GFLOP/s, largest product over smallest (1 thread)",
                m["cpu_large_gflops"] / m["cpu_small_gflops"],
                ">",
                1.0,
            )
        )
    if m["cuda"] and "sync_ratio" in m:
        out.append(
            verdict("GPU: synchronised over unsynchronised time of the same products", m["sync_ratio"], ">", 1.0)
        )
    return out


# -- exercises (`dlc exercise gpu`, then `dlc check gpu`) ----------------------------------


class _SimulatedDevice:
    """A GPU in miniature, to grade :func:`timed_run` exactly: a call (``launch``) costs the
    host ``launch_s`` and queues ``work_s`` seconds of work, which the device runs in order;
    ``sync`` waits until the queue is empty; ``clock`` reads the simulated time. The device
    starts busy for ``busy_s`` with earlier work."""

    def __init__(self, work_s: float, launch_s: float, busy_s: float):
        self.work_s, self.launch_s = work_s, launch_s
        self.now, self.free_at = 0.0, busy_s

    def launch(self) -> None:
        self.now += self.launch_s
        self.free_at = max(self.now, self.free_at) + self.work_s

    def sync(self) -> None:
        self.now = max(self.now, self.free_at)

    def clock(self) -> float:
        return self.now


def _simulated_run(f, work_s: float, launch_s: float, busy_s: float, calls: int) -> float:
    device = _SimulatedDevice(work_s, launch_s, busy_s)
    return f(device.launch, device.sync, calls, device.clock)


TASKS = [
    Task(
        "timed_run",
        hint="sync() first (earlier work is not yours), read clock(), make the calls, sync() again so that their "
        "work is done, read clock(): the difference over the number of calls",
        cases=lambda g: [(1e-3, 1e-5, 5e-3, 10), (2e-4, 1e-6, 0.0, 1), (1e-6, 1e-5, 1e-3, 100)],
        call=_simulated_run,
    ),
    Task(
        "gflops",
        hint="an n x n by n x n product makes n^3 multiplications and as many additions: 2 n^3 / seconds / 1e9",
        cases=lambda g: [(32, 1e-5), (1000, 1.0), (4096, 0.25)],
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
