"""Stage-1 step time of several git revisions, measured in one run (interleaved rounds).

    python benchmarks/step_time_ab.py --revisions fd44fe5 1867f61 WORKTREE --threads 2

Each revision is checked out into a temporary git worktree (``WORKTREE`` means the current
files) and timed in a fresh process with that revision's own ``time_fitting_steps`` and thread
set-up, exactly as its ``c3 bench speed`` would. Rounds alternate between revisions so that load
changes on a shared machine hit all of them alike. Prints the median of the per-round medians
and the ratio to the first revision; writes benchmarks/results/step_time_ab.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"

SNIPPET = """
import json, statistics, sys
from c3codec import runtime
from c3codec.evaluation.speed import time_fitting_steps
from c3codec.io.images import load_image
runtime.configure(int(sys.argv[2]))
times = time_fitting_steps(load_image(sys.argv[1]), steps=int(sys.argv[3]))
print(json.dumps(statistics.median(times)))
"""


def time_revision(src: Path, image: Path, threads: int, steps: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run([sys.executable, "-c", SNIPPET, str(image), str(threads), str(steps)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", nargs="+", default=["fd44fe5", "WORKTREE"])
    parser.add_argument("--image", type=Path, default=KODAK / "kodim01.png")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "step_time_ab.json")
    args = parser.parse_args()
    if not args.image.exists():
        print(f"skipping: {args.image} not found")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        sources = {}
        for rev in args.revisions:
            if rev == "WORKTREE":
                sources[rev] = ROOT / "src"
                continue
            tree = Path(tmp) / rev
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                           check=True, capture_output=True)
            sources[rev] = tree / "src"
        try:
            medians: dict[str, list[float]] = {rev: [] for rev in args.revisions}
            for r in range(args.rounds):
                for rev in args.revisions:
                    medians[rev].append(time_revision(sources[rev], args.image, args.threads, args.steps))
                    print(f"round {r + 1}: {rev} {medians[rev][-1]:.4f} s/step", flush=True)
        finally:
            for rev in args.revisions:
                if rev != "WORKTREE":
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                    str(Path(tmp) / rev)], capture_output=True)
    first = statistics.median(medians[args.revisions[0]])
    print(f"\n| revision | median s/step ({args.threads} threads, {args.image.name}) | ratio to {args.revisions[0]} |")
    print("|---|---|---|")
    result = {"image": str(args.image), "threads": args.threads, "steps": args.steps, "revisions": {}}
    for rev in args.revisions:
        value = statistics.median(medians[rev])
        result["revisions"][rev] = {"median_seconds": value, "round_medians": medians[rev]}
        print(f"| {rev} | {value:.4f} | {value / first:.2f} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
