"""The ``c3`` command: encode, decode, info, bench, demo.

Errors a user can cause (bad paths, non-images, invalid .c3 files, bad options) print one line on
stderr and exit with status 2; outputs are never left half-written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .config import PRESETS, ArchitectureConfig, ConfigError, EntropyConfig, LatentConfig


class UsageError(ValueError):
    """A command-line value that is well-formed but unusable."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="CPU threads for PyTorch (default: PyTorch's choice)")


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lmbda", type=_positive_float, required=True,
                   help="rate-distortion weight: loss = MSE + lmbda * bpp (e.g. 1e-3)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="fast",
                   help="step budget: " + ", ".join(f"{k}={v}" for k, v in PRESETS.items())
                   + " stage-1 steps (default fast)")
    p.add_argument("--steps", type=_nonneg_int, default=None,
                   help="stage-1 steps (overrides the preset; stage 2 adds at most 10%%)")
    p.add_argument("--seed", type=_nonneg_int, default=0)
    p.add_argument("--approximation", choices=["c3", "coolchic", "coolchic_v2"], default="c3",
                   help="quantisation approximation while fitting (default c3)")
    p.add_argument("--width", type=int, choices=[12, 18, 24], default=18,
                   help="width of both hidden layers of synthesis and ARM (default 18)")
    p.add_argument("--context", type=int, choices=[5, 7], default=7, help="ARM context size")
    p.add_argument("--drop-finest", action="store_true", help="no full-resolution latent grid")
    p.add_argument("--prev-grid", action="store_true",
                   help="condition the ARM on a 3x3 neighbourhood of the previous grid")
    p.add_argument("--device", default="cpu", help="torch device for fitting, e.g. cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_threads(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="c3", description="C3 overfitted neural image codec")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("encode", help="compress an image to a .c3 file")
    p.add_argument("input", help="image file (PNG, JPEG, WebP, TIFF, PPM, ...)")
    p.add_argument("-o", "--output", required=True, help="output .c3 file")
    _add_fit_options(p)
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")

    p = sub.add_parser("decode", help="decompress a .c3 file to PNG")
    p.add_argument("input", help=".c3 file")
    p.add_argument("-o", "--output", required=True, help="output PNG file")
    _add_threads(p)

    p = sub.add_parser("info", help="describe a .c3 file")
    p.add_argument("input", help=".c3 file")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("bench", help="benchmarks")
    bench = p.add_subparsers(dest="bench", required=True)
    b = bench.add_parser("speed", help="median seconds per stage-1 step, and decode time")
    b.add_argument("image")
    b.add_argument("--steps", type=_positive_int, default=20, help="timed fitting steps")
    b.add_argument("--encode-steps", type=_nonneg_int, default=300,
                   help="fitting steps of the file whose decoding is timed")
    b.add_argument("--file", help="time decoding of this .c3 file instead")
    b.add_argument("--json", action="store_true")
    _add_threads(b)

    p = sub.add_parser("demo", help="encode and decode the sample image shipped with c3codec")
    p.add_argument("--lmbda", type=_positive_float, default=1e-3)
    p.add_argument("--steps", type=_nonneg_int, default=None)
    _add_threads(p)
    return parser


def _arch(args: argparse.Namespace) -> ArchitectureConfig:
    base = ArchitectureConfig(latents=LatentConfig(drop_finest=args.drop_finest),
                              entropy=EntropyConfig(context=args.context,
                                                    use_prev_grid=args.prev_grid))
    return base.with_widths(args.width)


def _read_bytes(path: str) -> bytes:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path}: no such file")
    if p.is_dir():
        raise UsageError(f"{path}: is a directory")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None


def _check_output(path: str) -> None:
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{path}: output directory does not exist")
    if Path(path).is_dir():
        raise UsageError(f"{path}: is a directory")


def cmd_encode(args: argparse.Namespace) -> int:
    from .config import preset_fit_config
    from .encoder import encode
    from .io.images import atomic_write, load_image

    _check_output(args.output)
    picture = load_image(args.input)
    fit_config = preset_fit_config(args.preset, steps=args.steps, seed=args.seed,
                                   approximation=args.approximation)
    progress = not args.quiet and sys.stderr.isatty()
    result = encode(picture, args.lmbda, arch=_arch(args), fit_config=fit_config,
                    progress=progress, device=args.device)
    atomic_write(args.output, result.data)
    s = result.stats
    summary = {"input": args.input, "output": args.output, "width": s.width, "height": s.height,
               "bytes": s.bytes, "bpp": s.bpp, "psnr": s.psnr, "encode_seconds": s.encode_seconds,
               "steps": fit_config.steps, "stage2_steps": s.fit_report.stage2_steps,
               "macs_per_pixel": s.macs_per_pixel}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.output}: {s.width}x{s.height}, {s.bytes} bytes, {s.bpp:.4f} bpp, "
              f"PSNR {s.psnr:.2f} dB, encoded in {s.encode_seconds:.1f} s "
              f"({fit_config.steps} + {s.fit_report.stage2_steps} steps)")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from .decoder import decode
    from .io.images import save_png

    _check_output(args.output)
    data = _read_bytes(args.input)
    start = time.perf_counter()
    picture = decode(data)
    save_png(args.output, picture)
    print(f"{args.output}: {picture.width}x{picture.height}, {picture.channels} channel(s), "
          f"{picture.bit_depth} bit, decoded in {time.perf_counter() - start:.2f} s")
    return 0


def file_info(data: bytes) -> dict:
    """Header fields and byte breakdown of a .c3 file."""
    from dataclasses import asdict

    from .coding.bitstream import read
    from .evaluation.macs import macs_per_pixel

    f = read(data)
    pixels = f.image.height * f.image.width
    return {
        "width": f.image.width, "height": f.image.height, "channels": f.image.channels,
        "bit_depth": f.image.bit_depth, "bytes": len(data), "bpp": 8.0 * len(data) / pixels,
        "architecture": asdict(f.arch),
        "weight_step": f.w_step, "bias_step": f.b_step,
        "bytes_breakdown": {
            "header": f.header_bytes, "synthesis": len(f.synthesis_params),
            "entropy_model": len(f.entropy_params),
            "latents_per_grid": [len(s) for s in f.latents.streams],
            "latents": sum(len(s) for s in f.latents.streams),
        },
        "macs_per_pixel": macs_per_pixel(f.arch, f.image.height, f.image.width, f.image.channels),
    }


def cmd_info(args: argparse.Namespace) -> int:
    info = file_info(_read_bytes(args.input))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    b = info["bytes_breakdown"]
    arch = info["architecture"]
    print(f"{args.input}: {info['width']}x{info['height']}, {info['channels']} channel(s), "
          f"{info['bit_depth']} bit")
    print(f"  size         {info['bytes']} bytes = {info['bpp']:.4f} bpp")
    print(f"  header       {b['header']} bytes")
    print(f"  synthesis    {b['synthesis']} bytes (widths {arch['synthesis']['widths']}, "
          f"{arch['synthesis']['num_residual']} residual convs)")
    print(f"  entropy      {b['entropy_model']} bytes (widths {arch['entropy']['widths']}, "
          f"context {arch['entropy']['context']}x{arch['entropy']['context']}, "
          f"previous grid {'on' if arch['entropy']['use_prev_grid'] else 'off'})")
    for n, size in enumerate(b["latents_per_grid"]):
        print(f"  latent grid {n} {size} bytes")
    print(f"  latent step  {arch['latents']['step']}, weight step {info['weight_step']:g}, "
          f"bias step {info['bias_step']:g}")
    m = info["macs_per_pixel"]
    print(f"  decoder MACs/pixel {m['total']:.0f} (entropy {m['entropy']:.0f}, "
          f"upsampling {m['upsampling']:.0f}, synthesis {m['synthesis']:.0f})")
    return 0


def cmd_bench_speed(args: argparse.Namespace) -> int:
    from .evaluation.speed import measure_speed
    from .io.images import load_image

    picture = load_image(args.image)
    data = _read_bytes(args.file) if args.file else None
    result = measure_speed(picture, steps=args.steps, encode_steps=args.encode_steps, data=data)
    result["image"] = args.image
    result["threads"] = _threads()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.image}: {result['width']}x{result['height']}, {result['threads']} thread(s)")
        print(f"  stage-1 step  {result['step_seconds_median']:.4f} s (median of {args.steps})")
        print(f"  decode        {result['decode_seconds_median']:.3f} s "
              f"(median of {len(result['decode_seconds'])}, {result['decode_bpp']:.3f} bpp file)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from . import sample_image_path
    from .config import preset_fit_config
    from .decoder import decode
    from .encoder import encode
    from .evaluation.metrics import psnr
    from .io.images import load_image

    path = sample_image_path()
    picture = load_image(path)
    fit_config = preset_fit_config("fast", steps=args.steps)
    print(f"Encoding the sample image ({picture.width}x{picture.height}, {path.name}) "
          f"at lambda {args.lmbda:g} with {fit_config.steps} fitting steps ...", flush=True)
    result = encode(picture, args.lmbda, fit_config=fit_config, progress=sys.stderr.isatty())
    start = time.perf_counter()
    decoded = decode(result.data)
    decode_seconds = time.perf_counter() - start
    quality = psnr(decoded.pixels, picture.pixels, picture.max_value)
    s = result.stats
    print(f"bpp {s.bpp:.4f}  PSNR {quality:.2f} dB  encode {s.encode_seconds:.1f} s  "
          f"decode {decode_seconds:.3f} s  ({s.bytes} bytes, {s.macs_per_pixel:.0f} MACs/pixel)")
    return 0


def _threads() -> int:
    import torch

    return torch.get_num_threads()


COMMANDS = {"encode": cmd_encode, "decode": cmd_decode, "info": cmd_info, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from . import runtime
    from .coding.bitstream import BitstreamError
    from .io.images import ImageError

    try:
        runtime.configure(getattr(args, "threads", None))
        if args.command == "bench":
            return cmd_bench_speed(args)
        return COMMANDS[args.command](args)
    except (ImageError, BitstreamError, ConfigError, UsageError) as exc:
        print(f"c3: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("c3: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        print(f"c3: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
