"""C3's video entropy settings on a CPU budget (issue 25): one ARM shared by all latent grids
(C3's E1) against one ARM per grid (E2: (2, 2) networks, E3: (8, 8)), and the network widths,
on a video's first 30 frames at equal wall time per encoding.

    python benchmarks/video/entropy_settings.py --variants shared16 shared8 grid8 grid4 grid2 --lambdas 1e-2
    python benchmarks/video/entropy_settings.py --variants shared16 shared8 --lambdas 3e-2 1e-2 4e-3 1.5e-3
    python benchmarks/video/entropy_settings.py --video bikes --variants shared16 shared8 grid8 --lambdas 1e-1 3e-2 1e-2 4e-3
    python benchmarks/video/entropy_settings.py --report [--anchor shared8]

Each encoding runs with one thread (run two at once on a 2-core machine). Results are appended
to ``entropy/results.jsonl`` as they come; rows already there are skipped (resumable). The
report prints a table and the BD-rate of each variant against ``--anchor`` (default
``shared16``, C3's E1 width) over the lambdas both have, where they have four.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "entropy" / "results.jsonl"
VIDEOS = {"carphone": HERE.parents[2] / "shared" / "data" / "video" / "carphone_qcif_120f.y4m",
          "bikes": HERE.parents[2] / "shared" / "data" / "video" / "bikes.mp4"}


def architecture(variant: str, lmbda: float):
    """``shared<W>``: one (W, W) ARM for all grids; ``grid<W>``: one (W, W) ARM per grid; either
    with ``_syn<S>``: an (S, S) synthesis; all on the default video architecture for ``lmbda``
    (finest grid by lambda)."""
    from dataclasses import replace

    from c3codec.video_encoder import VIDEO_FINEST_GRID_MAX_LAMBDA, default_video_architecture

    arch = default_video_architecture(drop_finest=lmbda > VIDEO_FINEST_GRID_MAX_LAMBDA)
    entropy, _, synthesis = variant.partition("_syn")
    if synthesis:
        arch = replace(arch, synthesis=replace(arch.synthesis, widths=(int(synthesis),) * 2))
    for prefix, per_grid in (("shared", False), ("grid", True)):
        if entropy.startswith(prefix) and entropy[len(prefix):].isdigit():
            return arch.with_per_grid(per_grid, int(entropy[len(prefix):]))
    raise SystemExit(f"unknown variant {variant!r}: shared<W> or grid<W>, then optionally _syn<S>")


def cpu() -> str:
    fields = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return f"{fields.get('model name', platform.processor())} family {fields.get('cpu family')} model {fields.get('model')}"


def run(video: str, frames: str, variant: str, lmbda: float, budget: float) -> dict:
    import torch

    from c3codec.io.video import open_video
    from c3codec.video_encoder import encode_video

    torch.set_num_threads(1)
    clip = open_video(VIDEOS[video], frames=frames).read_all()
    start = time.perf_counter()
    result = encode_video(clip, lmbda, arch=architecture(variant, lmbda), budget_seconds=budget, threads=1)
    s = result.stats
    latent = sum(sum(p.latent_bytes) for p in s.patches)
    return {"video": video, "frames": frames, "variant": variant, "lmbda": lmbda, "budget": budget,
            "bytes": s.bytes, "latent_bytes": latent, "other_bytes": s.bytes - latent, "bpp": s.bpp,
            "psnr": s.psnr, "steps": s.steps, "macs_per_pixel": s.macs_per_pixel,
            "seconds": time.perf_counter() - start, "cpu": cpu()}


def rows() -> list[dict]:
    return [json.loads(line) for line in RESULTS.read_text().splitlines()] if RESULTS.exists() else []


def report(anchor_variant: str) -> None:
    from c3codec.evaluation.bdrate import bd

    table = rows()
    print("| video | variant | lambda | bytes | of which latents | RGB PSNR (dB) | stage-1 steps |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted(table, key=lambda r: (r["video"], r["variant"], -r["lmbda"])):
        print(f"| {r['video']} | {r['variant']} | {r['lmbda']:g} | {r['bytes']} | {r['latent_bytes'] if r['latent_bytes'] is not None else '-'} | "
              f"{r['psnr']:.2f} | {r['steps']} |")
    for video in sorted({r["video"] for r in table}):
        mine = [r for r in table if r["video"] == video]
        anchor = {r["lmbda"]: r for r in mine if r["variant"] == anchor_variant}
        for variant in sorted({r["variant"] for r in mine} - {anchor_variant}):
            test = {r["lmbda"]: r for r in mine if r["variant"] == variant}
            common = sorted(set(test) & set(anchor))
            if len(common) < 4:
                continue
            result = bd([anchor[l]["bpp"] for l in common], [anchor[l]["psnr"] for l in common],
                        [test[l]["bpp"] for l in common], [test[l]["psnr"] for l in common])
            print(f"{video}: BD-rate of {variant} against {anchor_variant} over {len(common)} lambdas: "
                  f"{result.rate_cubic:+.1f} % cubic / {result.rate_pchip:+.1f} % PCHIP"
                  + (f" ({result.warning})" if result.warning else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="*", default=["shared16", "shared8"])
    parser.add_argument("--lambdas", nargs="*", type=float, default=[1e-2])
    parser.add_argument("--video", choices=sorted(VIDEOS), default="carphone")
    parser.add_argument("--frames", default="0:30")
    parser.add_argument("--budget", type=float, default=180.0, help="seconds per encoding")
    parser.add_argument("--report", action="store_true", help="print the table and BD-rates only")
    parser.add_argument("--anchor", default="shared16", help="report: the variant BD-rates are against")
    args = parser.parse_args()
    if args.report:
        report(args.anchor)
        return
    RESULTS.parent.mkdir(exist_ok=True)
    for lmbda in args.lambdas:
        for variant in args.variants:
            done = {(r["video"], r["frames"], r["variant"], r["lmbda"], r["budget"]) for r in rows()}
            if (args.video, args.frames, variant, lmbda, args.budget) in done:
                continue
            row = run(args.video, args.frames, variant, lmbda, args.budget)
            print(json.dumps(row), flush=True)
            with RESULTS.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
