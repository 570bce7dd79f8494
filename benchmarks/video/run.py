"""The video benchmark of issue 25: C3 and the classical codecs on carphone (QCIF, 120 frames)
and bikes (640x272, first 30 frames), each through ``c3 eval`` (resumable: rerunning skips
finished results).

    python benchmarks/video/run.py baselines          # x265 (medium, no B), x265 default, x264, SVT-AV1
    python benchmarks/video/run.py c3 --budget 10m    # C3 at LAMBDAS, one budget per encoding
    python benchmarks/video/run.py c3 --budget 10m --adaptive --videos carphone   # C3 adaptive
    python benchmarks/video/run.py options --budget 3m --lambdas 1e-2 --threads 1  # carphone, 30 frames:
                                                         # default, --learn-mask, --adaptive
    python benchmarks/video/report.py                 # BD-rates, table -> README.md

Results go to benchmarks/video/<video>/<codec>/ (results.tsv, summary.json, rd.png). Needs the
shared data folder beside the repository.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "shared" / "data" / "video"
VIDEOS = {"carphone": (DATA / "carphone_qcif_120f.y4m", "0:120"), "bikes": (DATA / "bikes.mp4", "0:30")}
BASELINES = ("x265", "x265-default", "x264", "svtav1")
LAMBDAS = ("4e-2", "1.5e-2", "6e-3", "2.5e-3")


def c3(args: list[str]) -> None:
    command = [sys.executable, "-m", "c3codec.cli", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["baselines", "c3", "options"])
    parser.add_argument("--budget", default="10m", help="C3: wall-clock budget per encoding")
    parser.add_argument("--videos", nargs="*", default=list(VIDEOS))
    parser.add_argument("--lambdas", nargs="*", default=list(LAMBDAS))
    parser.add_argument("--name", default=None, help="C3: results folder name (default c3_<budget>)")
    parser.add_argument("--adaptive", action="store_true", help="C3: --adaptive (folder c3_<budget>_adaptive)")
    parser.add_argument("--threads", default=None, help="C3: fitting threads per encoding (default: all cores)")
    args = parser.parse_args()
    threads = ["--threads", args.threads] if args.threads else []
    if args.what == "options":
        path = VIDEOS["carphone"][0]
        for flag in ("", "--learn-mask", "--adaptive"):
            name = f"c3_{args.budget}" + (flag.replace("--", "_").replace("-", "_") if flag else "")
            c3(["eval", str(path), "--frames", "0:30", "--budget", args.budget, "--lmbda", *args.lambdas,
                "--out", str(HERE / "options" / name), "--keep-files", *threads, *([flag] if flag else [])])
        return
    for video in args.videos:
        path, frames = VIDEOS[video]
        if args.what == "baselines":
            for codec in BASELINES:
                c3(["eval", str(path), "--codec", codec, "--frames", frames, "--out", str(HERE / video / codec)])
        else:
            out = HERE / video / (args.name or f"c3_{args.budget}" + ("_adaptive" if args.adaptive else ""))
            c3(["eval", str(path), "--frames", frames, "--budget", args.budget, "--lmbda", *args.lambdas,
                "--out", str(out), "--keep-files", *threads, *(["--adaptive"] if args.adaptive else [])])


if __name__ == "__main__":
    main()
