"""Decode time, stage by stage: the compiled decoder on 1 and 2 threads against the numpy
reference and, with --baseline, against the decoder of an older checkout (issue 24 items 1, 2),
all measured in the same run, interleaved, medians of --repeats decodes.

    .venv/bin/python benchmarks/decode/profile.py FILES... --baseline /tmp/c3_6f54dec/src \\
        --out benchmarks/decode/profile.json

The stages: parameters (network parameters decoded), tables, latents (ARM/ARU and range
decoding of every grid), synthesis (upsampling and synthesis), png (writing the PNG). The old
decoder's own stage profile is benchmarks/decode_profile_numpy.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

OLD = """
import sys, time, json
from c3codec.decoder import decode
from c3codec.io.images import encode_png
import torch
torch.set_num_threads(int(sys.argv[2]))
data = open(sys.argv[1], "rb").read()
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    picture = decode(data)
    decoded = time.perf_counter()
    encode_png(picture)
    times.append((decoded - start, time.perf_counter() - decoded))
print(json.dumps(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", help="src folder of an older checkout, decoded in a subprocess")
    parser.add_argument("--no-reference", action="store_true", help="skip the numpy reference")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from c3codec import runtime
    from c3codec.compiled import cpu_name
    from c3codec.evaluation.speed import DECODE_STAGES, time_decoding

    runtime.configure(2)
    report = {"cpu": cpu_name(), "repeats": args.repeats, "files": {}}
    print(f"{report['cpu']}: medians of {args.repeats} decodes, milliseconds")
    head = ["decoder", "decode", *DECODE_STAGES]
    print("| file | " + " | ".join(head) + " |")
    print("|---" * (len(head) + 1) + "|")
    for path in args.files:
        data = path.read_bytes()
        runs: dict[str, list[dict]] = {"native, 2 threads": [], "native, 1 thread": []}
        if not args.no_reference:
            runs["numpy reference, 2 threads"] = []
        if args.baseline:
            runs["baseline, 2 threads"] = []
        for _ in range(args.repeats):  # interleaved: every decoder sees the same machine load
            runs["native, 2 threads"] += time_decoding(data, 1, threads=2)
            runs["native, 1 thread"] += time_decoding(data, 1, threads=1)
            if not args.no_reference:
                from c3codec.decoder import DecodeTimes, decode

                stages = DecodeTimes()
                start = time.perf_counter()
                decode(data, reference=True, times=stages)
                runs["numpy reference, 2 threads"].append(
                    {"decode": time.perf_counter() - start, **{k: getattr(stages, k) for k in DECODE_STAGES[:-1]}})
            if args.baseline:
                out = subprocess.run([sys.executable, "-c", OLD, str(path), "2", "1"], capture_output=True,
                                     text=True, check=True, env={"PYTHONPATH": args.baseline, "PATH": ""})
                decoded, png = json.loads(out.stdout)[0]
                runs["baseline, 2 threads"].append({"decode": decoded, "png": png})
        medians = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
        report["files"][path.name] = {"bytes": len(data), "medians": medians}
        for name, m in medians.items():
            cells = [f"{1000 * m[k]:.1f}" if k in m else "" for k in ["decode", *DECODE_STAGES]]
            print(f"| {path.name} | {name} | " + " | ".join(cells) + " |", flush=True)
        base = medians["baseline, 2 threads"]["decode"] if args.baseline else None
        if base:
            fast = medians["native, 2 threads"]["decode"]
            print(f"|   | ratio native (2 threads) / baseline | {fast / base:.3f} ({base / fast:.1f}x faster) |")
            report["files"][path.name]["ratio_to_baseline"] = fast / base
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
