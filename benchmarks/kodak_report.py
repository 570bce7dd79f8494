"""Kodak report: BD-rates of C3 (c3codec) against classical codecs and published curves.

    python benchmarks/kodak_report.py [--c3 benchmarks/kodak/c3] [--out benchmarks/kodak]

Reads the ``c3 eval`` result folders under benchmarks/kodak (c3/, jpeg/, webp/, avif/, heic/,
jxl/, jp2/), compares on the images C3 was run on (the classical codecs ran on all 24), and writes
``report.md`` (Markdown tables) and ``rd.png``. Published curves come from
../shared/data/anchors/kodak_rd.tsv (24-image averages, 100k+ GPU steps for C3).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from c3codec.evaluation.bdrate import bd  # noqa: E402
from c3codec.evaluation.plot import plot_curves  # noqa: E402
from c3codec.evaluation.results import Curve, load_curve, read_rows, summarize  # noqa: E402

ANCHORS = ROOT.parent / "shared" / "data" / "anchors" / "kodak_rd.tsv"
CLASSICAL = ["jpeg", "webp", "avif", "heic", "jxl", "jp2"]
PUBLISHED = ["C3", "C3 (Adaptive)", "VTM", "BPG", "COOL-CHICv2"]


def curve_of(rows, name: str, images: set[str] | None = None) -> Curve:
    rows = [r for r in rows if images is None or r.image in images]
    s = summarize(rows, name, "")["results"]
    return Curve(name, s["bpp"], s["psnr-rgb"])


def fmt(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:+.1f} %"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--c3", type=Path, default=ROOT / "benchmarks" / "kodak" / "c3")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "kodak")
    args = parser.parse_args()

    c3_rows = read_rows(args.c3 / "results.tsv")
    if not c3_rows:
        print(f"no C3 results in {args.c3}")
        return 1
    images = {r.image for r in c3_rows}
    c3 = curve_of(c3_rows, "C3 (c3codec, this run)")
    lines = [f"C3 results: {len(c3_rows)} encodings, images {', '.join(sorted(images))}, "
             f"lambdas {', '.join(f'{s:g}' for s in sorted({r.setting for r in c3_rows}))}.", ""]

    lines += ["| anchor | images | BD-rate (cubic) | BD-rate (PCHIP) | BD-PSNR | note |",
              "|---|---|---|---|---|---|"]
    curves = [c3]
    for codec in CLASSICAL:
        rows = read_rows(args.out / codec / "results.tsv")
        if not rows:
            continue
        anchor = curve_of(rows, codec.upper(), images)
        curves.append(curve_of(rows, f"{codec.upper()} (24 images)"))
        r = bd(anchor.bpp, anchor.psnr, c3.bpp, c3.psnr)
        lines.append(f"| {codec.upper()} | same {len(images)} | {fmt(r.rate_cubic)} | "
                     f"{fmt(r.rate_pchip)} | {r.psnr:+.2f} dB | {r.warning or ''} |")
    if ANCHORS.exists():
        for name in PUBLISHED:
            anchor = load_curve(f"{ANCHORS}:{name}")
            curves.append(Curve(f"{name} (published, 24 images)", anchor.bpp, anchor.psnr))
            r = bd(anchor.bpp, anchor.psnr, c3.bpp, c3.psnr)
            lines.append(f"| {name} (published) | all 24 | {fmt(r.rate_cubic)} | "
                         f"{fmt(r.rate_pchip)} | {r.psnr:+.2f} dB | subset vs 24-image average"
                         f"{'; 100k+ GPU steps' if name.startswith('C3') else ''}"
                         f"{'; ' + r.warning if r.warning else ''} |")

    lines += ["", "| codec | mean encode (s) | mean decode (s) | MACs/pixel |", "|---|---|---|---|"]
    lines.append(f"| C3 (this run) | {statistics.mean(r.encode_seconds for r in c3_rows):.0f} | "
                 f"{statistics.mean(r.decode_seconds for r in c3_rows):.2f} | "
                 f"{statistics.mean(r.macs_per_pixel for r in c3_rows):.0f} |")
    for codec in CLASSICAL:
        rows = read_rows(args.out / codec / "results.tsv")
        if rows:
            lines.append(f"| {codec.upper()} | {statistics.mean(r.encode_seconds for r in rows):.2f} | "
                         f"{statistics.mean(r.decode_seconds for r in rows):.3f} | - |")

    lines += ["", "| image | lambda | bpp | PSNR (dB) | MS-SSIM | encode (s) | decode (s) |",
              "|---|---|---|---|---|---|---|"]
    for r in sorted(c3_rows, key=lambda r: (r.image, -r.setting)):
        lines.append(f"| {r.image} | {r.setting:g} | {r.bpp:.4f} | {r.psnr:.2f} | {r.ms_ssim:.4f} | "
                     f"{r.encode_seconds:.0f} | {r.decode_seconds:.2f} |")
    report = "\n".join(lines) + "\n"
    (args.out / "report.md").write_text(report)
    plot_curves(curves, args.out / "rd.png", "Kodak: C3 (c3codec, CPU) vs classical and published")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
