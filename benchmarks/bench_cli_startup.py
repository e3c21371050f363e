"""How long `dlc --help` and `dlc list` take, against `python -c pass`, side by side.

Each command is run N times, interleaved, so that machine load affects all alike;
medians are compared. The catalogue must not grow with the labs, so `dlc list` is also
timed on a copy of the package holding 60 labs (the real ones plus copies under new ids),
warm (its cached catalogue) and cold (the cache removed before each call: every lab
file parsed). Writes benchmarks/results/cli_startup.json.

    python benchmarks/bench_cli_startup.py [--repeats 20]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _time(cmd: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - t


def package_with_labs(root: Path, count: int) -> Path:
    """A copy of the dlc package under ``root`` whose labs folder holds ``count`` labs."""
    import dlc

    src = Path(dlc.__file__).parent
    dest = root / "dlc"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    labs = sorted(p for p in (dest / "labs").glob("*.py") if not p.name.startswith("_"))
    for i in range(count - len(labs)):
        model = labs[i % len(labs)]
        # the lab's id: the first string after "@lab(", wherever the formatter put it
        text = re.sub(r'(@lab\(\s*")', rf"\g<1>copy{i}-", model.read_text(encoding="utf-8"), count=1)
        (dest / "labs" / f"copy{i}_{model.name}").write_text(text, encoding="utf-8")
    return root


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    dlc = shutil.which("dlc") or str(Path(sys.executable).with_name("dlc"))
    tmp = Path(tempfile.mkdtemp(prefix="dlc-bench-"))
    sixty = package_with_labs(tmp / "pkg", 60)
    cache = tmp / "cache"
    env60 = dict(os.environ, PYTHONPATH=str(sixty), DLC_CACHE_DIR=str(cache))
    in_copy = [sys.executable, "-c", "import sys; from dlc.cli import main; sys.exit(main())"]
    cmds = {
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "dlc --help": ([dlc, "--help"], None),
        "dlc list": ([dlc, "list"], None),
        "dlc list, 60 labs": ([*in_copy, "list"], env60),
        "dlc list, 60 labs, cold cache": ([*in_copy, "list"], env60),
        "dlc --help, 60 labs": ([*in_copy, "--help"], env60),
        "python -c 'import torch'": ([sys.executable, "-c", "import torch"], None),
    }
    out = subprocess.run([*in_copy, "list"], env=env60, capture_output=True, text=True, check=True).stdout
    n_labs = len(out.splitlines())
    assert n_labs == 60, f"the copy lists {n_labs} labs, not 60"
    for c, env in cmds.values():  # warm the file cache
        _time(c, env)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.repeats):
        for k, (c, env) in cmds.items():
            if "cold" in k:
                shutil.rmtree(cache / "catalog", ignore_errors=True)
            times[k].append(_time(c, env))
    shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["python -c pass"]
    result = {k: {"median_s": round(m, 4), "ratio_to_python": round(m / base, 2)} for k, m in med.items()}
    for k, r in result.items():
        print(f"{k:32s} {r['median_s'] * 1000:8.1f} ms  {r['ratio_to_python']:5.2f}x python -c pass")
    out = Path(__file__).with_name("results") / "cli_startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"repeats": args.repeats, "results": result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
