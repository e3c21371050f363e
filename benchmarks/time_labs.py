"""Wall time of every lab at --tiny and at the default size, one `dlc run` process each
(so torch's import is included, as a student sees it), with its result line and its
check's verdicts ("ok": exit code 0 and every verdict passed). Writes
benchmarks/results/lab_timings.json.

    PYTORCH_DATA_DIR=../shared/data python benchmarks/time_labs.py [--sizes tiny default] [LAB ...]
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("labs", nargs="*", help="lab ids (default: all)")
    p.add_argument("--sizes", nargs="+", default=["tiny", "default"], choices=["tiny", "default", "full"])
    args = p.parse_args()
    from dlc.labs import catalog

    ids = args.labs or list(catalog())
    dlc = shutil.which("dlc") or str(Path(sys.executable).with_name("dlc"))
    out = Path(__file__).with_name("results") / "lab_timings.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    with tempfile.TemporaryDirectory() as runs:
        for lab in ids:
            for size in args.sizes:
                cmd = [dlc, "run", lab, "--quiet", "--runs_dir", runs] + ([f"--{size}"] if size != "default" else [])
                t = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True)
                wall = time.perf_counter() - t
                lines = proc.stdout.strip().splitlines() or [""]
                line = lines[0]
                checks = [v.strip() for v in lines[1:] if v.strip().startswith(("[pass]", "[FAIL]"))]
                results.setdefault(lab, {})[size] = {
                    "wall_s": round(wall, 1),
                    "ok": proc.returncode == 0 and bool(checks) and all(c.startswith("[pass]") for c in checks),
                    "result": line,
                    "checks": checks,
                }
                print(
                    f"{lab:20s} {size:8s} {wall:6.1f} s  {'ok' if results[lab][size]['ok'] else 'FAILED'}  {line[:90]}",
                    flush=True,
                )
                if proc.returncode:
                    print(proc.stderr[-2000:], file=sys.stderr)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
