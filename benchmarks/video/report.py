"""Tables of the video benchmark (see run.py): per video, every codec's points, and C3's
BD-rate (cubic and PCHIP, on the per-frame RGB PSNR) against each baseline.

    python benchmarks/video/report.py [--c3 c3_10m c3_10m_adaptive] > benchmarks/video/tables.md

Also draws <video>/rd.png. Reads the results.tsv files run.py wrote.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from c3codec.evaluation.bdrate import bd
from c3codec.evaluation.plot import plot_curves
from c3codec.evaluation.results import Curve, read_rows

HERE = Path(__file__).resolve().parent
BASELINES = ("x265", "x265-default", "x264", "svtav1")


def curve(rows) -> tuple[list[float], list[float]]:
    rows = sorted(rows, key=lambda r: r.bpp)
    return [r.bpp for r in rows], [r.psnr for r in rows]


def fmt(value: float, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--c3", nargs="+", default=["c3_10m"],
                        help="folders of C3 results in each video's folder (each gets its BD-rates)")
    args = parser.parse_args()
    for video in ("carphone", "bikes"):
        folder = HERE / video
        sets = {name: read_rows(folder / name / "results.tsv") for name in (*args.c3, *BASELINES)
                if (folder / name / "results.tsv").exists()}
        runs = [name for name in args.c3 if name in sets]
        if not runs:
            continue
        print(f"### {video}\n")
        print("| codec | setting | bpp | kbps | PSNR RGB (dB) | PSNR YUV 6:1:1 (dB) | encode (s) | decode (s) "
              "| decoded frames/s | MACs/pixel | stage-1 steps |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, rows in sets.items():
            for r in sorted(rows, key=lambda r: r.bpp):
                fps = r.frames / r.decode_seconds if r.decode_seconds > 0 else math.nan
                print(f"| {name} | {r.setting:g} | {r.bpp:.4f} | {fmt(r.kbps, 1)} | {r.psnr:.2f} | {fmt(r.psnr_yuv)} "
                      f"| {r.encode_seconds:.1f} | {r.decode_seconds:.2f} | {fmt(fps, 1)} "
                      f"| {fmt(r.macs_per_pixel, 0)} | {fmt(r.stage1_steps, 0)} |")
        for run in runs:
            print(f"\nBD-rate of C3 ({run}) against each anchor (negative: C3 needs fewer bits), RGB PSNR:\n")
            print("| anchor | BD-rate cubic | BD-rate PCHIP | BD-PSNR |")
            print("|---|---|---|---|")
            test = curve(sets[run])
            for name in BASELINES:
                if name not in sets:
                    continue
                try:
                    result = bd(*curve(sets[name]), *test)
                    print(f"| {name} | {result.rate_cubic:+.1f} % | {result.rate_pchip:+.1f} % "
                          f"| {result.psnr:+.2f} dB |")
                except ValueError as e:
                    print(f"| {name} | - ({e}) | | |")
        print()
        plot_curves([Curve(name, *curve(rows)) for name, rows in sets.items()], folder / "rd.png", title=video)


if __name__ == "__main__":
    main()
