"""Where the numpy decoder of 6f54dec spends its time, stage by stage (issue 24, item 1).

Wraps the decoder's functions with timers (no change to the code under test) and decodes each
file several times; prints a table of median seconds per stage and writes JSON.

The stages: parsing the file, decoding the network parameters, building the probability
tables, the ARM's exact MLP on the wavefronts, snapping its outputs to the table grid (and
gathering the contexts, the rest of the wave loop), range decoding, upsampling, the exact
synthesis, and writing the PNG.

This script measures the reference decoder as it was before the compiled one (it patches names
that moved afterwards): run it at that revision,
    git worktree add /tmp/c3_6f54dec 6f54dec && cd /tmp/c3_6f54dec
    PYTHONPATH=src python benchmarks/decode_profile_numpy.py FILES... --out results.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch

import c3codec.coding.latents as latents_mod
import c3codec.decoder as decoder_mod
import c3codec.io.images as images_mod
from c3codec.coding.range_coder import SymbolDecoder

def platform_cpu() -> str:
    """The CPU's model name (this script runs on revisions without c3codec.compiled.cpu_name)."""
    with open("/proc/cpuinfo") as info:
        return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")


STAGES = ["parse", "parameters", "tables", "arm_mlp", "snap", "range_decode", "waves_other",
          "upsampling", "synthesis", "png"]


class Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner, name: str, stage: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        setattr(owner, name, timed)


def profile(data: bytes, timers: Timers) -> dict[str, float]:
    timers.seconds.clear()
    start = time.perf_counter()
    picture = decoder_mod.decode(data)
    phase = time.perf_counter()
    images_mod.encode_png(picture)
    timers.seconds["png"] += time.perf_counter() - phase
    total = time.perf_counter() - start
    out = dict(timers.seconds)
    # the wave loop's own work: the phase minus what it calls
    out["waves_other"] = out.pop("latents") - out["arm_mlp"] - out["snap"] - out["range_decode"] - out["tables"]
    out["total"] = total
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    timers = Timers()
    timers.wrap(decoder_mod, "read", "parse")
    timers.wrap(decoder_mod, "decode_tensors", "parameters")
    timers.wrap(decoder_mod, "decode_latents", "latents")
    timers.wrap(latents_mod, "_table", "tables")
    timers.wrap(latents_mod, "exact_forward", "arm_mlp")
    timers.wrap(latents_mod, "_snap", "snap")
    timers.wrap(SymbolDecoder, "decode", "range_decode")
    timers.wrap(decoder_mod, "upsample_all", "upsampling")
    timers.wrap(decoder_mod, "exact_synthesis", "synthesis")

    results = {"cpu": platform_cpu(), "threads": args.threads, "repeats": args.repeats, "files": {}}
    print(f"{platform_cpu()}, {args.threads} threads, medians of {args.repeats} decodes (seconds)")
    print("file".ljust(24) + "".join(s.rjust(12) for s in [*STAGES, "total"]))
    for name in args.files:
        data = Path(name).read_bytes()
        runs = [profile(data, timers) for _ in range(args.repeats)]
        medians = {s: statistics.median(r.get(s, 0.0) for r in runs) for s in [*STAGES, "total"]}
        results["files"][Path(name).name] = {"bytes": len(data), "median_seconds": medians,
                                             "runs": runs}
        print(Path(name).name.ljust(24) + "".join(f"{medians[s]:12.4f}" for s in [*STAGES, "total"]))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
