"""How long `dlc --help` and `dlc list` take, against `python -c pass`, side by side.

Each command is run N times, interleaved, so that machine load affects all alike;
medians are compared. Writes benchmarks/results/cli_startup.json.

    python benchmarks/bench_cli_startup.py [--repeats 20]
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    dlc = shutil.which("dlc") or str(Path(sys.executable).with_name("dlc"))
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "dlc --help": [dlc, "--help"],
        "dlc list": [dlc, "list"],
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    }
    for c in cmds.values():  # warm the file cache
        _time(c)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.repeats):
        for k, c in cmds.items():
            times[k].append(_time(c))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["python -c pass"]
    result = {k: {"median_s": round(m, 4), "ratio_to_python": round(m / base, 2)} for k, m in med.items()}
    for k, r in result.items():
        print(f"{k:28s} {r['median_s'] * 1000:8.1f} ms  {r['ratio_to_python']:5.2f}x python -c pass")
    out = Path(__file__).with_name("results") / "cli_startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"repeats": args.repeats, "results": result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
