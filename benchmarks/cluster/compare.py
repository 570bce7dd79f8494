"""Dask against the local process pool (issue 27): the four Kodak issue images x 4 lambdas with
a fixed step count, once with `c3 eval --jobs 2` and once with `c3 eval --scheduler local:2`
(a LocalCluster of 2 worker processes, one thread per task in both), the coded files kept:
same bytes?, wall time of each and their ratio, written to --out.

    .venv/bin/python benchmarks/cluster/compare.py --steps 100 --out benchmarks/cluster/results.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
IMAGES = ["kodim01", "kodim05", "kodim14", "kodim23"]
LAMBDAS = ["1e-2", "3e-3", "1e-3", "3e-4"]


def run(mode: list[str], out: Path, steps: int) -> float:
    command = [sys.executable, "-m", "c3codec.cli", "eval", *(str(KODAK / f"{i}.png") for i in IMAGES),
               "--lmbda", *LAMBDAS, "--steps", str(steps), "--threads", "1", "--keep-files",
               "--out", str(out), *mode]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from c3codec.compiled import cpu_name

    folder = Path(tempfile.mkdtemp(prefix="c3-cluster-bench-"))
    try:
        local = run(["--jobs", "2"], folder / "local", args.steps)
        dask = run(["--scheduler", "local:2"], folder / "dask", args.steps)
        files = sorted(p.name for p in (folder / "local" / "files").iterdir())
        same = [(folder / "local" / "files" / n).read_bytes() == (folder / "dask" / "files" / n).read_bytes()
                for n in files]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = {"cpu": cpu_name(), "tasks": len(files), "steps": args.steps, "identical_files": sum(same),
              "local_jobs2_seconds": local, "dask_local2_seconds": dask, "ratio_dask_to_local": dask / local}
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
