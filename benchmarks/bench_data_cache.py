"""Full MNIST (train + test) loaded cold (parse + validate + write the cache) vs cached.

Each repetition uses a fresh cache folder for the cold load, then loads again from it;
medians over repetitions. Writes benchmarks/results/data_cache.json.

    PYTORCH_DATA_DIR=../shared/data python benchmarks/bench_data_cache.py [--repeats 3]
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    import torch  # noqa: F401  (imported first: the timing is of the data, not of torch)

    import dlc.data as data
    from dlc import prologue

    rows: dict[str, list[float]] = {"cold": [], "cached": [], "prologue_cold": [], "prologue_cached": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["DLC_CACHE_DIR"] = cache
            for phase in ("cold", "cached"):
                t = time.perf_counter()
                data.load("mnist", train=True)
                data.load("mnist", train=False)
                rows[phase].append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as cache:
            os.environ["DLC_CACHE_DIR"] = cache
            for phase in ("prologue_cold", "prologue_cached"):
                t = time.perf_counter()
                prologue.load(size="full")
                rows[phase].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in rows.items()}
    result = {k: round(v, 4) for k, v in med.items()}
    result["ratio_cached_to_cold"] = round(med["cached"] / med["cold"], 4)
    result["ratio_prologue_cached_to_cold"] = round(med["prologue_cached"] / med["prologue_cold"], 4)
    print(json.dumps(result, indent=2))
    out = Path(__file__).with_name("results") / "data_cache.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"repeats": args.repeats, "median_s": result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
