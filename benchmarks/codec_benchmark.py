"""Codec benchmark: fitting-step time and decode time on kodim01, and the RD points of
kodim01..kodim04 at one lambda with the default preset.

    python benchmarks/codec_benchmark.py [--threads 2] [--lmbda 1e-3] [--images kodim01 ...]

Writes benchmarks/results/codec_benchmark.json and prints a Markdown table. Timings are
medians; run on an otherwise idle machine. Needs ../shared/data/kodak (skips cleanly if absent).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
OUT = ROOT / "benchmarks" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lmbda", type=float, default=1e-3)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--images", nargs="*", default=["kodim01", "kodim02", "kodim03", "kodim04"])
    parser.add_argument("--timed-steps", type=int, default=30)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--output", type=Path, default=OUT / "codec_benchmark.json")
    args = parser.parse_args()
    if not KODAK.is_dir():
        print(f"skipping: {KODAK} not found")
        return 0

    from c3codec import runtime
    from c3codec.config import preset_fit_config
    from c3codec.decoder import decode
    from c3codec.encoder import encode
    from c3codec.evaluation.speed import time_decoding, time_fitting_steps
    from c3codec.io.images import load_image

    runtime.configure(args.threads)
    report: dict = {"threads": args.threads, "lmbda": args.lmbda, "preset": args.preset,
                    "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
                    "cpu_count": __import__("os").cpu_count(), "date": time.strftime("%Y-%m-%d")}
    if not args.skip_speed:
        kodim01 = load_image(KODAK / "kodim01.png")
        steps = time_fitting_steps(kodim01, steps=args.timed_steps)
        report["kodim01_step_seconds_median"] = statistics.median(steps)
        report["kodim01_step_seconds"] = steps
        print(f"kodim01 stage-1 step: median {statistics.median(steps):.4f} s", flush=True)

    rows = []
    for name in args.images:
        picture = load_image(KODAK / f"{name}.png")
        result = encode(picture, args.lmbda, fit_config=preset_fit_config(args.preset))
        decode_times = time_decoding(result.data)
        assert (decode(result.data).pixels == result.reconstruction.pixels).all()
        s = result.stats
        row = {"image": name, "bpp": s.bpp, "psnr": s.psnr, "bytes": s.bytes,
               "estimated_bpp": s.estimated_bits / (s.width * s.height),
               "header_bytes": s.header_bytes, "encode_seconds": s.encode_seconds,
               "steps": s.fit_report.stage1_steps, "stage2_steps": s.fit_report.stage2_steps,
               "decode_seconds_median": statistics.median(r["decode"] for r in decode_times),
               "macs_per_pixel": s.macs_per_pixel}
        rows.append(row)
        print(json.dumps(row), flush=True)
    report["images"] = rows
    if rows:
        report["mean_bpp"] = statistics.mean(r["bpp"] for r in rows)
        report["mean_psnr"] = statistics.mean(r["psnr"] for r in rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    print("\n| image | bpp | PSNR (dB) | encode (s) | steps | decode (s) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['image']} | {r['bpp']:.4f} | {r['psnr']:.2f} | {r['encode_seconds']:.0f} | "
              f"{r['steps']}+{r['stage2_steps']} | {r['decode_seconds_median']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
