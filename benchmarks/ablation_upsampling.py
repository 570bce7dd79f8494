"""Upsampling ablation: would another fixed interpolation of the latent grids beat bilinear?

    python benchmarks/ablation_upsampling.py --modes bilinear bicubic cascade_cubic cascade_linear

The codec upsamples grid n by 2**n in one bilinear step (C3). Cool-chic upsamples by repeated 2x
steps with a bicubic-initialised (then learned) filter. This script swaps the upsampling of both
the fitting model and the decoder for one of these fixed alternatives (an experiment only: the
files it makes decode correctly only under the same swap, and their decoding is no longer proven
exact) and encodes centre crops with the budget settings (``h30_pretrained`` of
``ablation_fit.py``) for a fixed number of steps:

- ``bilinear``: the codec's interpolation through its PyTorch path (the reference);
- ``bicubic``: one bicubic step by 2**n (PyTorch's a = -0.75, align_corners=False);
- ``cascade_cubic`` / ``cascade_linear``: n successive 2x bicubic / bilinear steps, cropped to
  the next finer grid's shape after each (the cascade of Cool-chic's fixed filters).

Appends one JSON line per (mode, image, lambda) to benchmarks/results/ablation_upsampling.jsonl
and prints the mean relative change of J = MSE + lambda * bpp against the first mode.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ablation_fit  # noqa: E402  (the crops and the budget settings of the fitting ablation)

OUT = ablation_fit.ROOT / "benchmarks" / "results" / "ablation_upsampling.jsonl"
MODES = ("bilinear", "bicubic", "cascade_cubic", "cascade_linear")


def upsample_one(grid: torch.Tensor, exponent: int, size: tuple[int, int], mode: str) -> torch.Tensor:
    """One 2-D grid upsampled by 2**exponent with ``mode``, cropped to ``size``."""
    from c3codec.model.latents import upsample

    x = grid[None, None]
    if mode == "bilinear" or exponent == 0:
        return upsample(x, exponent, size)[0, 0]
    if mode == "bicubic":
        x = F.interpolate(x, scale_factor=float(2**exponent), mode="bicubic", align_corners=False)
        return x[0, 0, :size[0], :size[1]]
    step_mode = {"cascade_cubic": "bicubic", "cascade_linear": "bilinear"}[mode]
    for finer in range(exponent - 1, -1, -1):
        x = F.interpolate(x, scale_factor=2.0, mode=step_mode, align_corners=False)
        x = x[..., :-(-size[0] // 2**finer), :-(-size[1] // 2**finer)]
    return x[0, 0]


def use_upsampling(mode: str) -> None:
    """Make the fitting model and the decoder upsample with ``mode``."""
    import c3codec.decoder
    import c3codec.model.c3

    def upsample_all(grids, exponents, size):
        return torch.stack([upsample_one(g, e, size, mode) for g, e in zip(grids, exponents)])

    c3codec.model.c3.upsample_all = upsample_all
    c3codec.decoder.upsample_all = upsample_all


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--lmbda", nargs="+", type=float, default=[1e-2, 1e-3])
    ablation_fit.add_crop_arguments(parser, OUT)
    args = parser.parse_args()
    done = ablation_fit.start_run(args.output, ("mode", "image", "lmbda", "steps", "crop"))
    if done is None:
        return 0
    from c3codec.encoder import encode
    from c3codec.io.images import load_image

    for mode in args.modes:
        use_upsampling(mode)
        for lmbda in args.lmbda:
            for name in args.images:
                key = (mode, name, lmbda, args.steps, args.crop)
                if key in done:
                    continue
                picture = ablation_fit.crop(load_image(ablation_fit.KODAK / f"{name}.png"), args.crop)
                arch, config = ablation_fit.variant_configs("h30_pretrained", args.steps)
                stats = encode(picture, lmbda, arch=arch, fit_config=config).stats
                row = {"mode": mode, "image": name, "lmbda": lmbda, "steps": args.steps, "crop": args.crop,
                       **ablation_fit.measured(stats, lmbda)}
                done[key] = row
                ablation_fit.append_row(args.output, row)
    base = args.modes[0]
    print(f"\n| mode | lambda | {' | '.join(args.images)} | mean J vs {base} |")
    print("|---|---|" + "---|" * (len(args.images) + 1))
    for mode in args.modes[1:]:
        for lmbda in args.lmbda:
            keys = [(name, (mode, name, lmbda, args.steps, args.crop), (base, name, lmbda, args.steps, args.crop))
                    for name in args.images]
            changes = [100 * (done[k]["cost"] / done[b]["cost"] - 1) if k in done and b in done else None
                       for _, k, b in keys]
            cells = " | ".join("" if c is None else f"{c:+.1f} %" for c in changes)
            known = [c for c in changes if c is not None]
            mean = f"{statistics.mean(known):+.1f} %" if known else ""
            print(f"| {mode} | {lmbda:g} | {cells} | {mean} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
