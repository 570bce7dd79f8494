"""MARM's table (issue 24 item 4): BD-rate against M = 0 and decode time for every M.

Reads the runs of benchmarks/marm/run.sh (RUN/M*/results.tsv and the kept files), decodes
every kept file again on this machine (all M interleaved, --threads threads, medians of
--repeats), and writes RUN/README.md: per M the BD-rate (cubic and PCHIP) and BD-PSNR of
the average curve against M = 0's, the median decode time of kodim01's files and of all files,
its split into latents and synthesis, the time BD-rate (MARM's TBD-rate: decode time in place of
the rate in the BD-rate formula), MACs/pixel and stage-1 steps.

    .venv/bin/python benchmarks/marm/report.py benchmarks/marm/steps300
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def average_curve(rows) -> tuple[list[float], list[float]]:
    by_setting = defaultdict(list)
    for r in rows:
        by_setting[r.setting].append(r)
    settings = sorted(by_setting)
    return ([statistics.mean(r.bpp for r in by_setting[s]) for s in settings],
            [statistics.mean(r.psnr for r in by_setting[s]) for s in settings])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from c3codec.compiled import cpu_name
    from c3codec.decoder import DecodeTimes, decode
    from c3codec.evaluation.bdrate import bd
    from c3codec.evaluation.results import read_rows

    runs = {int(d.name[1:]): d for d in sorted(args.run.glob("M*")) if (d / "results.tsv").exists()}
    rows = {m: read_rows(d / "results.tsv") for m, d in runs.items()}
    images = sorted({r.image for r in rows[0]})
    complete = [m for m in sorted(rows) if {r.image for r in rows[m]} == set(images)
                and len(rows[m]) == len(rows[0])]
    # decode every kept file, all M interleaved so that each sees the same machine load
    files = {m: sorted((runs[m] / "files").glob("*.c3")) for m in complete}
    timings: dict[int, dict[str, list[DecodeTimes]]] = {m: defaultdict(list) for m in complete}
    for _ in range(args.repeats):
        for m in complete:
            for path in files[m]:
                times = DecodeTimes()
                decode(path.read_bytes(), threads=args.threads, times=times)
                timings[m][path.stem].append(times)
    median = {m: {stem: {k: statistics.median(getattr(t, k) for t in ts)
                         for k in ("total", "latents", "synthesis")}
                  for stem, ts in timings[m].items()} for m in complete}
    anchor_bpp, anchor_psnr = average_curve(rows[0])
    settings = sorted({r.setting for r in rows[0]})
    anchor_time = [statistics.mean(median[0][f"{i}_{s:g}"]["total"] for i in images) for s in settings]
    lines = [f"# MARM: BD-rate and decode time for every M ({args.run.name})", "",
             f"{len(images)} Kodak images ({', '.join(images)}), lambdas "
             f"{', '.join(f'{s:g}' for s in settings)}, the same fitting per encoding "
             f"({args.run.name}: `benchmarks/marm/run.sh`), `c3 eval`'s default architecture (C3's (18, 18) networks, 7 grids). "
             f"Decode times: this machine ({cpu_name()}), {args.threads} threads, medians of "
             f"{args.repeats} decodes of every file, all M interleaved; to pixels (no PNG).", "",
             "| M | ARU grids | BD-rate vs M=0 (cubic) | (PCHIP) | BD-PSNR | decode kodim01 (ms) | "
             "decode, all files (ms) | latents / synthesis (ms) | time BD-rate vs M=0 | MACs/pixel | "
             "stage-1 steps |", "|---" * 11 + "|"]
    table = {}
    for m in complete:
        bpp, psnr = average_curve(rows[m])
        result = bd(anchor_bpp, anchor_psnr, bpp, psnr)
        times = [statistics.mean(median[m][f"{i}_{s:g}"]["total"] for i in images) for s in settings]
        tbd = bd(anchor_time, anchor_psnr, times, psnr)
        kodim01 = statistics.median(v["total"] for k, v in median[m].items() if k.startswith("kodim01_"))
        overall = statistics.median(v["total"] for v in median[m].values())
        lat = statistics.median(v["latents"] for v in median[m].values())
        syn = statistics.median(v["synthesis"] for v in median[m].values())
        macs = statistics.mean(r.macs_per_pixel for r in rows[m])
        steps = statistics.mean(r.stage1_steps for r in rows[m])
        grids = "none" if m == 0 else f"{7 - m}..6"
        table[m] = {"bd_rate_cubic": result.rate_cubic, "bd_rate_pchip": result.rate_pchip,
                    "bd_psnr": result.psnr, "decode_kodim01": kodim01, "decode_median": overall,
                    "latents": lat, "synthesis": syn, "time_bd_rate": tbd.rate_cubic, "macs": macs,
                    "steps": steps}
        lines.append(f"| {m} | {grids} | {result.rate_cubic:+.1f} % | {result.rate_pchip:+.1f} % | "
                     f"{result.psnr:+.3f} dB | {1000 * kodim01:.0f} | {1000 * overall:.0f} | "
                     f"{1000 * lat:.0f} / {1000 * syn:.0f} | {tbd.rate_cubic:+.1f} % | {macs:.0f} | {steps:.0f} |")
    missing = sorted(set(rows) - set(complete))
    if missing:
        lines += ["", f"Runs not complete yet (left out): M = {', '.join(map(str, missing))}."]
    (args.run / "README.md").write_text("\n".join(lines) + "\n")
    (args.run / "table.json").write_text(json.dumps({"cpu": cpu_name(), "threads": args.threads,
                                                     "rows": table}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
