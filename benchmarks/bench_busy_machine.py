"""Labs on a busy machine: how much slower they run beside other CPU-bound torch
programs, with dlc's thread settings against the previous release's (today's defaults
before this change: torch's own threads, OpenMP's spinning waits).

For each lab, in one run of this script, interleaved:
- old: the previous release (git commit OLD, unpacked into a temporary folder);
- new: this checkout (sleeping OpenMP waits, see src/dlc/__init__.py);
- reference: this checkout on one thread, on the quiet machine ("the same lab on one
  quiet thread");
each quiet, beside one, and beside two competing processes (a torch program multiplying
1000 x 1000 matrices in a loop with torch's default settings, started and stopped by
this script). The time is the lab's own run time (summary.json's duration_s, so the
import of torch is not counted); medians over the repeats.

What losing cores must cost: Linux shares the cores among runnable threads, not
processes, and each competitor runs torch's default of one thread per core. A lab on one
thread beside k such competitors on C cores therefore gets at most C / (1 + k * C) of a
core while they all run: the "fair share floor" of busy/quiet-one-thread is
max(1, (1 + k * C) / C), 1.5 for one competitor and 2.5 for two on 2 cores. The results
report each ratio beside that floor.

Writes benchmarks/results/busy_machine.json.

    PYTORCH_DATA_DIR=../shared/data python benchmarks/bench_busy_machine.py [--repeats 2] [--old 9d0d830]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABS = {
    "lecture-convnet --full, 1 epoch": ["lecture-convnet", "--full", "--epochs", "1"],
    "penalties": ["penalties"],
    "digit-pairs, 2 rounds": ["digit-pairs", "--rounds", "2"],
}
COMPETITOR = "import torch\na = torch.randn(1000, 1000)\nwhile True:\n    a @ a\n"


def env_without_dlc_settings() -> dict:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)  # importing dlc here set it; the old release does not
    env.pop("OMP_NUM_THREADS", None)
    return env


def run_lab(variant: str, args: list[str], old_src: Path, runs: Path) -> float:
    env = env_without_dlc_settings()
    if variant == "old":
        env["PYTHONPATH"] = str(old_src)
    elif variant == "reference":
        env["OMP_NUM_THREADS"] = "1"
    before = set(runs.glob("*/*/summary.json"))
    cmd = [sys.executable, "-m", "dlc", "run", *args, "--quiet", "--runs_dir", str(runs)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{variant} {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    (summary,) = set(runs.glob("*/*/summary.json")) - before
    return json.loads(summary.read_text())["duration_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--old", default="9d0d830", help="the git commit of the previous release")
    p.add_argument("--labs", nargs="*", default=list(LABS), choices=list(LABS))
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dlc-busy-"))
    old_src = tmp / "old"
    old_src.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.old, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(old_src)], input=archive.stdout, check=True)
    old_src = old_src / "src"
    runs = tmp / "runs"

    times: dict[str, dict[str, list[float]]] = {}
    for name in args.labs:
        lab = LABS[name]
        t = times[name] = {}
        for r in range(args.repeats):
            for busy in (0, 1, 2):
                competitors = [
                    subprocess.Popen([sys.executable, "-c", COMPETITOR], env=env_without_dlc_settings())
                    for _ in range(busy)
                ]
                time.sleep(1.0 if busy else 0.0)  # let them take the cores
                try:
                    variants = ("old", "new") if r % 2 == 0 else ("new", "old")
                    if busy == 0:
                        variants += ("reference",)
                    for variant in variants:
                        s = run_lab(variant, lab, old_src, runs)
                        t.setdefault(f"{variant}, busy {busy}", []).append(s)
                        print(f"{name:32s} repeat {r + 1}  {variant:9s} beside {busy}: {s:7.1f} s", flush=True)
                finally:
                    for c in competitors:
                        c.kill()
                        c.wait()

    result = {
        "old": args.old,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "labs": {},
    }
    print(
        f"\n{'lab':32s} {'busy':>4s} {'old s':>7s} {'new s':>7s} {'old/quiet':>9s} {'new/quiet':>9s} "
        f"{'new/1 thread':>12s} {'floor':>6s}"
    )
    for name, t in times.items():
        med = {k: statistics.median(v) for k, v in t.items()}
        ref = med["reference, busy 0"]
        rows = {}
        cores = os.cpu_count() or 1
        for busy in (0, 1, 2):
            o, n = med[f"old, busy {busy}"], med[f"new, busy {busy}"]
            rows[busy] = {
                "old_s": round(o, 2),
                "new_s": round(n, 2),
                "old_busy_over_quiet": round(o / med["old, busy 0"], 3),
                "new_busy_over_quiet": round(n / med["new, busy 0"], 3),
                "new_over_quiet_one_thread": round(n / ref, 3),
                "fair_share_floor": round(max(1.0, (1 + busy * cores) / cores), 3),
            }
            print(
                f"{name:32s} {busy:4d} {o:7.1f} {n:7.1f} {rows[busy]['old_busy_over_quiet']:9.2f} "
                f"{rows[busy]['new_busy_over_quiet']:9.2f} {rows[busy]['new_over_quiet_one_thread']:12.2f} "
                f"{rows[busy]['fair_share_floor']:6.2f}"
            )
        result["labs"][name] = {
            "quiet_one_thread_s": round(ref, 2),
            "quiet_new_over_old": round(med["new, busy 0"] / med["old, busy 0"], 3),
            "by_competitors": rows,
            "raw_s": t,
        }
    out = ROOT / "benchmarks" / "results" / "busy_machine.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
