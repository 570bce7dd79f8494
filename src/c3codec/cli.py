"""The ``c3`` command: encode, decode, info, bench, demo.

Errors a user can cause (bad paths, non-images, invalid .c3 files, bad options) print one line on
stderr and exit with status 2; outputs are never left half-written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import get_args

from .config import (PRESETS, Approximation, ArchitectureConfig, Complexity, ConfigError, NetworkInit,
                     default_architecture)


VIDEO_MAGIC = b"C3VD"  # coding/container.py's (not imported: it would load the video code)


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


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}: {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_nonneg_int = _int_at_least(0)


def _duration(text: str) -> float:
    """'90', '90s', '10m', '1.5h' -> seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    t = text.strip().lower()
    factor = units.get(t[-1:], None)
    number = t[:-1] if factor else t
    try:
        value = float(number) * (factor or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration (e.g. 90s, 10m): {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"duration must be positive: {text!r}")
    return value


def _video_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 176x144, got {text!r}")
    return int(parts[0]), int(parts[1])


def _patch_counts(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected three positive counts T,H,W, e.g. 2,1,2, got {text!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def _device(text: str) -> str:
    """``--device``, checked while parsing (see :func:`runtime.fitting_device`)."""
    if text == "cpu":
        return text  # the default: no need to import torch while parsing
    from .runtime import fitting_device

    try:
        fitting_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="CPU threads for PyTorch (default: PyTorch's choice)")


def _add_network_init(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network-init", choices=get_args(NetworkInit), default=None,
                   help="start the networks from the weights shipped for the architecture (the "
                        "short presets' default; random where none are shipped) or at random (C3)")


def _add_marm(p: argparse.ArgumentParser) -> None:
    p.add_argument("--marm", type=int, choices=range(0, 8), default=0, metavar="M",
                   help="MARM fast decoding: code the M coarsest of the 7 latent grids with "
                        "autoregressive upsamplers instead of the ARM (0: C3, the default; 7: all)")


def _add_complexity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--complexity", choices=get_args(Complexity), default="default",
                   help="images: low = 8-wide networks and a 5x5 ARM context, about 440 MACs/pixel "
                        "to decode (default: about 1080 with --budget, 1770 without)")


def _add_adaptive(p: argparse.ArgumentParser) -> None:
    p.add_argument("--adaptive", action="store_true",
                   help="C3 adaptive: choose the architecture (per video patch) among a few variants by "
                        "short trial encodings, 30%% of the budget or steps, then fit the best")


def _add_finest_grid(p: argparse.ArgumentParser) -> None:
    p.add_argument("--finest-grid", choices=["auto", "on", "off"], default="auto",
                   help="the full-resolution latent grid: off halves the decoding MACs; auto (default): on "
                        "for images, for videos off above lambda 2e-3, where short fits do better without it")
    p.add_argument("--drop-finest", action="store_const", dest="finest_grid", const="off",
                   help="the same as --finest-grid off")


def drop_finest(args: argparse.Namespace, video: bool) -> bool | None:
    """What --finest-grid asks: True (no finest grid), False, or None (the codec's rule for the
    lambda: videos only)."""
    if args.finest_grid == "auto":
        return None if video else False
    return args.finest_grid == "off"


def _add_prev_grid(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prev-grid", type=int, nargs="?", const=3, default=0, choices=[1, 3, 5], metavar="K",
                   help="images: the ARM also reads the K x K neighbourhood (default 3) of the finer grid, "
                        "downsampled (C3's previous-grid context)")


def _add_per_grid_arm(p: argparse.ArgumentParser) -> None:
    p.add_argument("--per-grid-arm", type=int, nargs="?", const=8, default=None, choices=[0, 2, 4, 8, 12, 16],
                   metavar="W", help="one ARM of hidden widths (W, W) (default 8) per latent grid instead of one "
                                     "shared by all (C3's video entropy settings E2/E3); 0: one shared ARM. Costs "
                                     "more network bytes, so by default only videos whose patches hold 2 M "
                                     "pixels or more get it (benchmarks/video/README.md)")


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lmbda", type=_positive_float, required=True,
                   help="rate-distortion weight: loss = MSE + lmbda * bpp (e.g. 1e-3)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="fast",
                   help="step budget: " + ", ".join(f"{k}={v}" for k, v in PRESETS.items())
                   + " stage-1 steps (default fast)")
    p.add_argument("--steps", type=_nonneg_int, default=None,
                   help="stage-1 steps (overrides the preset; stage 2 adds at most 10%%)")
    p.add_argument("--budget", type=_duration, default=None,
                   help="wall-clock budget for the whole encoding, e.g. 90s, 10m: the step count "
                   "(and all schedules) are scaled to what fits on this machine")
    p.add_argument("--seed", type=_nonneg_int, default=0)
    _add_network_init(p)
    p.add_argument("--approximation", choices=get_args(Approximation), default="c3",
                   help="quantisation approximation while fitting (default c3)")
    p.add_argument("--width", type=int, choices=[12, 18, 24], default=None,
                   help="width of both hidden layers of synthesis and ARM (default 18, or 12 "
                        "with --budget)")
    p.add_argument("--context", type=int, choices=[5, 7], default=7, help="ARM context size")
    _add_finest_grid(p)
    _add_prev_grid(p)
    _add_per_grid_arm(p)
    _add_marm(p)
    _add_complexity(p)
    _add_adaptive(p)
    p.add_argument("--device", type=_device, default="cpu",
                   help="torch device for fitting: cpu (default), cuda or cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_threads(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="c3", description="C3 overfitted neural image codec")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("encode", help="compress an image to a .c3 file, or a video to a .c3v file")
    p.add_argument("input", help="image file (PNG, JPEG, WebP, TIFF, PPM, ...), or a video: Y4M, raw "
                                 ".yuv, anything FFmpeg reads (mp4, mkv, webm ...), a folder of PNG frames")
    p.add_argument("-o", "--output", required=True, help="output .c3 file (.c3v for a video)")
    _add_fit_options(p)
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    v = p.add_argument_group("videos")
    v.add_argument("--frames", help="the frames to code, A:B (e.g. 0:30) or a count")
    v.add_argument("--video-size", type=_video_size, default=None, metavar="WxH",
                   help="raw .yuv: frame size (default: from the file name, e.g. name_176x144_30fps.yuv)")
    v.add_argument("--fps", type=_positive_float, default=None, help="raw .yuv and PNG folders: frame rate")
    v.add_argument("--yuv-format", choices=["420", "444"], default=None, help="raw .yuv: chroma format")
    v.add_argument("--yuv-bit-depth", type=int, choices=range(8, 17), default=None, metavar="8-16",
                   help="raw .yuv: bits per sample")
    v.add_argument("--patches", type=_patch_counts, default=None, metavar="T,H,W",
                   help="patches along time, rows and columns (default: C3's patch size for lambda)")
    v.add_argument("--learn-mask", action="store_true",
                   help="place each patch's previous-frame windows by a short fit with a wide window "
                        "(C3's learned mask; 15%% of the budget or steps)")
    v.add_argument("--jobs", type=_positive_int, default=1,
                   help="patches fitted at the same time in local processes (default 1)")
    v.add_argument("--scheduler", default=None, metavar="local:N|tcp://HOST:PORT",
                   help="fit the patches as Dask tasks on this cluster (pip install 'c3codec[dask]')")

    p = sub.add_parser("decode", help="decompress a .c3 file to PNG, or a .c3v file to a video")
    p.add_argument("input", help=".c3 or .c3v file")
    p.add_argument("-o", "--output", required=True,
                   help="output PNG file; for a video .y4m, .yuv, .mkv (lossless FFV1) or a folder "
                        "of PNGs (a path without suffix)")
    p.add_argument("--png-level", type=int, choices=range(10), default=6, metavar="0-9",
                   help="zlib level of the PNG (default 6; 1 writes a large photo ~3x faster, "
                        "~40%% larger)")
    _add_threads(p)

    p = sub.add_parser("info", help="describe a .c3 file")
    p.add_argument("input", help=".c3 file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--plot", metavar="PNG",
                   help="also decode the latents and draw every grid and the bytes spent on it")

    p = sub.add_parser("bench", help="benchmarks")
    bench = p.add_subparsers(dest="bench", required=True)
    b = bench.add_parser("speed", help="median seconds per stage-1 step, and decode time")
    b.add_argument("image")
    b.add_argument("--steps", type=_positive_int, default=20, help="timed fitting steps")
    b.add_argument("--encode-steps", type=_nonneg_int, default=300,
                   help="fitting steps of the file whose decoding is timed")
    b.add_argument("--file", help="time decoding of this .c3 file instead")
    b.add_argument("--width", type=int, choices=[12, 18, 24], default=18,
                   help="network width of the timed fitting steps (default 18, C3's default; "
                        "budgets use 12)")
    b.add_argument("--json", action="store_true")
    _add_threads(b)

    p = sub.add_parser("eval", help="encode + decode images over lambdas or qualities; RD results")
    p.add_argument("images", nargs="+", help="image files or folders (videos: files, with a video --codec)")
    p.add_argument("--codec", default="c3",
                   help="c3 (default) or a classical codec: jpeg, webp, avif, heic, jxl, jp2; for "
                        "videos x265 (medium, no B-frames), x265-default, x264, svtav1, vp9")
    p.add_argument("--lmbda", type=_positive_float, nargs="+", help="C3 rate-distortion weights")
    p.add_argument("--quality", type=float, nargs="+",
                   help="classical codec qualities (default: the codec's standard sweep)")
    p.add_argument("--crf", type=int, nargs="+", help="video codec CRFs (default: the codec's sweep)")
    p.add_argument("--frames", help="videos: the frames to code, A:B (e.g. 0:30) or a count")
    p.add_argument("--preset", choices=sorted(PRESETS), default="fast")
    p.add_argument("--steps", type=_nonneg_int, default=None)
    p.add_argument("--budget", type=_duration, default=None,
                   help="C3 wall-clock budget per image, e.g. 90s, 10m (scales all schedules)")
    _add_network_init(p)
    _add_marm(p)
    _add_complexity(p)
    _add_adaptive(p)
    _add_finest_grid(p)
    _add_prev_grid(p)
    _add_per_grid_arm(p)
    p.add_argument("--learn-mask", action="store_true",
                   help="videos: place each patch's previous-frame windows by a short fit (C3's learned mask)")
    p.add_argument("--keep-files", action="store_true",
                   help="keep every coded file in OUT/files (IMAGE_SETTING.c3 for c3)")
    p.add_argument("--jobs", type=_positive_int, default=1, help="parallel processes")
    p.add_argument("--scheduler", help="run every task on Dask: local:N (a local cluster of N "
                                       "worker processes) or tcp://HOST:PORT (a dask scheduler)")
    p.add_argument("--out", required=True, help="output folder (results.tsv, summary.json, rd.png)")
    p.add_argument("--name", help="curve name in the summary and plot")
    p.add_argument("--anchor", nargs="*", default=[],
                   help="result files or FILE:NAME curves to draw in rd.png too")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="threads per job (default: CPU cores / jobs)")

    curve_help = ("summary.json, results.tsv, a Cool-chic per-image table (lmbda, seq_name, "
                  "psnr_db, rate_bpp) or FILE:NAME")
    p = sub.add_parser("bdrate", help="Bjontegaard delta rate of TEST against ANCHOR")
    p.add_argument("test", help=curve_help)
    p.add_argument("anchor", help=curve_help)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("plot", help="RD curves of result sets on one figure")
    p.add_argument("results", nargs="+", help=curve_help)
    p.add_argument("-o", "--output", required=True, help="output PNG")
    p.add_argument("--title", default="")

    p = sub.add_parser("demo", help="encode and decode the sample image shipped with c3codec")
    p.add_argument("--lmbda", type=_positive_float, default=1e-3)
    p.add_argument("--steps", type=_nonneg_int, default=None)
    _add_threads(p)
    return parser


def _arch(args: argparse.Namespace) -> ArchitectureConfig:
    check_complexity(args)
    base = default_architecture(budget=args.budget is not None, complexity=args.complexity)
    context = 5 if args.complexity == "low" else args.context
    arch = replace(base, entropy=replace(base.entropy, context=context))
    arch = arch.with_drop_finest(bool(drop_finest(args, video=False))).with_prev_grid(args.prev_grid)
    arch = arch.with_widths(args.width) if args.width else arch
    return arch.with_per_grid_arm(args.per_grid_arm or 0).with_marm(args.marm)


def check_complexity(args: argparse.Namespace) -> None:
    """``--complexity low`` fixes the network sizes that --width, --context and --adaptive choose;
    ``--adaptive`` chooses the finest grid itself."""
    if args.complexity == "low" and (args.adaptive or getattr(args, "width", None)
                                     or getattr(args, "context", 7) != 7):
        raise UsageError("--complexity low sets the network sizes itself: not with --width, --context or --adaptive")
    if args.adaptive and args.finest_grid != "auto":
        raise UsageError("--adaptive chooses whether to keep the finest grid: not with --finest-grid or --drop-finest")


def _read_bytes(path: str) -> bytes:
    from .io.images import require_file

    try:
        return require_file(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None


def _check_output(path: str) -> None:
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{path}: output directory does not exist")
    if Path(path).is_dir():
        raise UsageError(f"{path}: is a directory")


def _is_video_input(args: argparse.Namespace) -> bool:
    from .io.video import is_video_path

    return is_video_path(args.input) or Path(args.input).is_dir() or args.output.lower().endswith(".c3v")


def cmd_encode(args: argparse.Namespace) -> int:
    from .config import preset_fit_config
    from .encoder import encode
    from .io.images import atomic_write, load_image

    _check_output(args.output)
    if _is_video_input(args):
        return cmd_encode_video(args)
    video_only = [flag for flag, value in (("--frames", args.frames), ("--video-size", args.video_size),
                                           ("--fps", args.fps), ("--yuv-format", args.yuv_format),
                                           ("--yuv-bit-depth", args.yuv_bit_depth), ("--patches", args.patches),
                                           ("--scheduler", args.scheduler), ("--jobs", None if args.jobs == 1 else args.jobs),
                                           ("--learn-mask", args.learn_mask or None))
                  if value is not None]
    if video_only:
        raise UsageError(f"{video_only[0]} is for videos")
    picture = load_image(args.input)
    fit_config = preset_fit_config(args.preset, steps=args.steps, seed=args.seed,
                                   approximation=args.approximation, network_init=args.network_init)
    progress = not args.quiet and sys.stderr.isatty()
    if args.budget is not None and args.steps is not None:
        raise UsageError("give either --steps or --budget, not both")
    arch = _arch(args)
    result = encode(picture, args.lmbda, arch=arch, fit_config=fit_config,
                    progress=progress, device=args.device, budget_seconds=args.budget, adaptive=args.adaptive)
    atomic_write(args.output, result.data)
    s = result.stats
    for trial in s.adaptive_trials if not args.json else ():
        chosen = " <- chosen" if trial.chosen else ""
        print(f"adaptive trial {trial.label}: {trial.bytes} bytes, PSNR {trial.psnr:.2f} dB, RD cost "
              f"{trial.cost:.6f} ({trial.steps} steps){chosen}")
    if args.budget is not None and not args.json:
        widths = arch.synthesis.widths + arch.entropy.widths
        networks = (f"networks {widths[0]} wide" if len(set(widths)) == 1 else
                    f"synthesis {arch.synthesis.widths}, ARM {arch.entropy.widths}")
        print(f"budget {args.budget:.0f} s, {networks} ({s.network_init} start): a "
              f"stage-1 step took {s.step_seconds:.3f} s on this "
              f"machine; fitted {s.steps} stage-1 + {s.fit_report.stage2_steps} stage-2 steps "
              f"in {s.fit_seconds:.0f} s, whole encoding {s.encode_seconds:.0f} s")
    summary = {"input": args.input, "output": args.output, "width": s.width, "height": s.height,
               "bytes": s.bytes, "bpp": s.bpp, "psnr": s.psnr, "encode_seconds": s.encode_seconds,
               "steps": s.steps, "stage2_steps": s.fit_report.stage2_steps,
               "macs_per_pixel": s.macs_per_pixel, "network_init": s.network_init}
    return _print_summary(args, summary, f"{args.output}: {s.width}x{s.height}, {s.bytes} bytes, {s.bpp:.4f} bpp, "
                                         f"PSNR {s.psnr:.2f} dB, encoded in {s.encode_seconds:.1f} s "
                                         f"({s.steps} + {s.fit_report.stage2_steps} steps)")


def _print_summary(args: argparse.Namespace, summary: dict, line: str) -> int:
    """An encoding's summary: JSON with --json, else one line."""
    print(json.dumps(summary) if args.json else line)
    return 0


def cmd_encode_video(args: argparse.Namespace) -> int:
    """``c3 encode`` of a video: patches fitted one after the other, the .c3v written at the end."""
    from fractions import Fraction

    from .config import preset_fit_config
    from .io.images import atomic_write
    from .io.video import RawOptions, open_video
    from .video_encoder import encode_video

    if (args.marm or args.prev_grid or args.width or args.context != 7
            or args.complexity != "default"):
        raise UsageError("--marm, --prev-grid, --width, --context and --complexity are image options")
    check_complexity(args)
    if args.budget is not None and args.steps is not None:
        raise UsageError("give either --steps or --budget, not both")
    if args.scheduler:
        from .evaluation.cluster import check_scheduler

        check_scheduler(args.scheduler)
        if args.jobs != 1:
            raise UsageError("--jobs is for local processes; with --scheduler the cluster's workers fit the patches")
    fps = Fraction(args.fps).limit_denominator(1001) if args.fps else None
    raw = RawOptions(args.video_size, fps, args.yuv_format, args.yuv_bit_depth)
    source = open_video(args.input, frames=args.frames, raw=raw)
    info = source.info
    frames = source.read_all()
    fit_config = preset_fit_config(args.preset, steps=args.steps, seed=args.seed,
                                   approximation=args.approximation, network_init=args.network_init)
    progress = not args.quiet and sys.stderr.isatty()

    def on_patch(index: int, count: int, patch) -> None:
        if progress:
            print(f"patch {index + 1}/{count} (frames {patch.frames.start}:{patch.frames.stop}, rows "
                  f"{patch.rows.start}:{patch.rows.stop}, columns {patch.cols.start}:{patch.cols.stop}): "
                  f"{patch.bytes} bytes, {patch.steps} steps, {patch.fit_seconds:.0f} s"
                  + (f", chose {patch.setting}" if patch.setting else ""), file=sys.stderr)

    result = encode_video(frames, args.lmbda, fps=fps or info.fps, yuv=info.yuv, bit_depth=info.rgb_bit_depth,
                          drop_finest=drop_finest(args, video=True), per_grid_arm=args.per_grid_arm,
                          fit_config=fit_config, budget_seconds=args.budget, counts=args.patches,
                          progress=progress and args.jobs == 1 and not args.scheduler, device=args.device,
                          jobs=args.jobs, scheduler=args.scheduler, threads=args.threads, adaptive=args.adaptive,
                          learn_mask=args.learn_mask, on_patch=on_patch)
    atomic_write(args.output, result.data)
    s = result.stats
    summary = {"input": args.input, "output": args.output, "frames": s.frames, "width": s.width,
               "height": s.height, "patches": len(s.patches), "bytes": s.bytes, "bpp": s.bpp,
               "kbps": s.kbps, "psnr": s.psnr, "encode_seconds": s.encode_seconds, "steps": s.steps,
               "macs_per_pixel": s.macs_per_pixel}
    return _print_summary(args, summary, f"{args.output}: {s.frames} frames of {s.width}x{s.height} in "
                                         f"{len(s.patches)} patch(es), {s.bytes} bytes, {s.bpp:.4f} bpp, "
                                         f"{s.kbps:.1f} kbps, PSNR {s.psnr:.2f} dB (RGB, mean of frames), "
                                         f"encoded in {s.encode_seconds:.1f} s ({s.steps} steps in all)")


def cmd_decode(args: argparse.Namespace) -> int:
    from .decoder import decode
    from .io.images import save_png

    _check_output(args.output)
    data = _read_bytes(args.input)
    if data[:4] == VIDEO_MAGIC:
        return cmd_decode_video(args, data)
    start = time.perf_counter()
    picture = decode(data)
    decoded = time.perf_counter()
    save_png(args.output, picture, args.png_level)
    print(f"{args.output}: {picture.width}x{picture.height}, {picture.channels} channel(s), "
          f"{picture.bit_depth} bit, decoded in {decoded - start:.2f} s, PNG written in "
          f"{time.perf_counter() - decoded:.2f} s")
    return 0


def cmd_decode_video(args: argparse.Namespace, data: bytes) -> int:
    """``c3 decode`` of a .c3v: frames written as their time slab is decoded."""
    from .io.video import VideoInfo, write_video
    from .video_decoder import decode_video

    start = time.perf_counter()
    header, frames = decode_video(data)
    info = VideoInfo(header.width, header.height, header.fps, header.frames, header.yuv, _rgb_depth=header.bit_depth)
    if sys.stderr.isatty():
        from tqdm import tqdm

        frames = tqdm(frames, total=header.frames, unit="frame", desc="decoding", leave=False, file=sys.stderr)
    count = write_video(args.output, frames, info)
    seconds = time.perf_counter() - start
    print(f"{args.output}: {count} frames of {header.width}x{header.height}, decoded and written in "
          f"{seconds:.2f} s ({count / seconds:.1f} frames/s)")
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


def plot_file_latents(data: bytes, output: str, title: str) -> None:
    """``c3 info --plot``: the decoded latent grids and the bytes of each grid's stream."""
    from .coding.bitstream import read
    from .decoder import decode_parsed
    from .evaluation.plot import plot_latents

    f = read(data)
    latents = decode_parsed(f)[1]
    coders = ["ARM" if n < f.arch.arm_grids else "ARU" for n in range(len(latents))]
    plot_latents(latents, [len(s) for s in f.latents.streams], coders, output, title)


def cmd_info_video(args: argparse.Namespace, data: bytes) -> int:
    from dataclasses import asdict

    from .video_decoder import describe

    if args.plot:
        raise UsageError("--plot draws the latents of images; not available for videos yet")
    info = describe(data)
    header = info["header"]
    if args.json:
        out = {"frames": header.frames, "width": header.width, "height": header.height,
               "fps": float(header.fps), "bit_depth": header.bit_depth,
               "yuv": None if header.yuv is None else asdict(header.yuv), "bytes": info["bytes"],
               "bpp": info["bpp"], "kbps": info["kbps"],
               "patches": [{**p, "architecture": asdict(p["architecture"])} for p in info["patches"]]}
        print(json.dumps(out, indent=2))
        return 0
    yuv = header.yuv
    source = "RGB" if yuv is None else f"YUV {yuv.chroma} {yuv.bit_depth} bit {yuv.matrix}"
    print(f"{args.input}: {header.frames} frames of {header.width}x{header.height} at {float(header.fps):g} fps "
          f"({source} source, fitted as {header.bit_depth}-bit RGB)")
    print(f"  size     {info['bytes']} bytes = {info['bpp']:.4f} bpp = {info['kbps']:.1f} kbps")
    t, h, w = header.patch_counts
    print(f"  patches  {t} x {h} x {w} (time x rows x columns)")
    for k, p in enumerate(info["patches"]):
        arch = p["architecture"]
        print(f"  patch {k}: frames {p['frames']}, rows {p['rows']}, columns {p['cols']}: {p['bytes']} bytes "
              f"(networks {p['network_bytes']}, grids {p['grid_bytes']}), {arch.latents.num_grids} grids, "
              f"context {arch.entropy.context}x{arch.entropy.context} + previous frame "
              f"{arch.entropy.prev_frame}x{arch.entropy.prev_frame}, {_arms(arch.num_arms)}, "
              f"{p['macs_per_pixel']:.0f} MACs/pixel")
    return 0


def _arms(count: int) -> str:
    """How ``c3 info`` names the ARM networks."""
    return "one ARM per grid" if count > 1 else "one shared ARM"


def _previous_grid(entropy: dict) -> str:
    """How ``c3 info`` names the previous-grid context: off, or its window."""
    k = entropy["prev_kernel"]
    return f"{k}x{k}" if entropy["use_prev_grid"] else "off"


def cmd_info(args: argparse.Namespace) -> int:
    data = _read_bytes(args.input)
    if data[:4] == VIDEO_MAGIC:
        return cmd_info_video(args, data)
    info = file_info(data)
    if args.plot:
        _check_output(args.plot)
        plot_file_latents(data, args.plot, f"{Path(args.input).name}: {info['bytes']} bytes, "
                                           f"{info['bpp']:.4f} bpp")
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
          f"previous grid {_previous_grid(arch['entropy'])}"
          f"{', one ARM per grid' if arch['entropy']['per_grid'] else ''})")
    aru = arch["entropy"]["aru_grids"]
    for n, size in enumerate(b["latents_per_grid"]):
        coder = "ARU" if n >= len(b["latents_per_grid"]) - aru else "ARM"
        print(f"  latent grid {n} {size} bytes ({coder})")
    if aru:
        print(f"  MARM         the {aru} coarsest grids by ARU blocks (hidden widths "
              f"{arch['entropy']['aru_widths']})")
    print(f"  latent step  {arch['latents']['step']}, weight step {info['weight_step']:g}, "
          f"bias step {info['bias_step']:g}")
    m = info["macs_per_pixel"]
    print(f"  decoder MACs/pixel {m['total']:.0f} (entropy {m['entropy']:.0f}, "
          f"upsampling {m['upsampling']:.0f}, synthesis {m['synthesis']:.0f})")
    if args.plot:
        print(f"  latent grids drawn in {args.plot}")
    return 0


def cmd_bench_speed(args: argparse.Namespace) -> int:
    from .evaluation.speed import measure_speed
    from .io.images import load_image

    picture = load_image(args.image)
    data = _read_bytes(args.file) if args.file else None
    result = measure_speed(picture, steps=args.steps, encode_steps=args.encode_steps, data=data,
                           arch=ArchitectureConfig().with_widths(args.width))
    result["image"] = args.image
    result["threads"] = _threads()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.image}: {result['width']}x{result['height']}, {result['threads']} thread(s), "
              f"networks {args.width} wide")
        print(f"  stage-1 step  {result['step_seconds_median']:.4f} s (median of {args.steps})")
        print(f"  decode        {result['decode_seconds_median']:.3f} s "
              f"(median of {len(result['decode_seconds'])}, {result['decode_bpp']:.3f} bpp file), "
              "then writing the PNG:")
        print("   " + "  ".join(f"{name} {seconds * 1000:.1f} ms"
                                for name, seconds in result["decode_stages_median"].items()))
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


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation.plot import plot_curves
    from .evaluation.results import Curve, load_curve
    from .evaluation.runner import Task, find_images, find_videos, run_eval, threads_per_job

    from .evaluation.video_baselines import VIDEO_CODECS, get_video_codec
    from .io.video import is_video_path, parse_frames

    video = args.codec in VIDEO_CODECS
    video_c3 = False
    if video:
        images = find_videos(args.images)
        parse_frames(args.frames)  # a bad range fails here, not in every task
    else:
        if args.crf:
            raise UsageError("--crf is for the video codecs (" + ", ".join(VIDEO_CODECS) + ")")
        if args.frames and not any(is_video_path(p) for p in args.images):
            raise UsageError("--frames is for videos")
        video_c3 = any(is_video_path(p) for p in args.images)
        if video_c3:
            if args.codec != "c3":
                raise UsageError(f"{args.codec} is an image codec; videos take c3 or --codec "
                                 + ", ".join(VIDEO_CODECS))
            if args.marm:
                raise UsageError("--marm is for images")
            if args.complexity != "default":
                raise UsageError("--complexity is for images")
            images = find_videos(args.images)
            parse_frames(args.frames)
        else:
            images = find_images(args.images)
    if args.scheduler:
        from .evaluation.cluster import check_scheduler

        check_scheduler(args.scheduler)
        if args.jobs != 1:
            raise UsageError("--jobs is for local processes; with --scheduler the cluster's workers run the tasks")
    # on a cluster one thread per task unless asked: results depend on the thread count, not the worker
    threads = args.threads or (1 if args.scheduler else threads_per_job(args.jobs))
    if video:
        codec = get_video_codec(args.codec)
        if args.lmbda or args.quality:
            raise UsageError("video codecs take --crf, not --lmbda or --quality")
        settings = args.crf or list(codec.crfs)
        description = codec.description
        name = args.name or codec.name
    elif args.codec == "c3":
        if not args.lmbda:
            raise UsageError("--lmbda is required for the c3 codec")
        if args.quality:
            raise UsageError("--quality is for classical codecs; C3 takes --lmbda")
        settings = args.lmbda
        description = (f"C3 (c3codec), preset {args.preset}"
                       + (f", {args.steps} steps" if args.steps is not None else "")
                       + (f", budget {args.budget:.0f} s/image" if args.budget else "")
                       + (f", {args.network_init} networks" if args.network_init else "")
                       + (f", MARM M={args.marm}" if args.marm else "")
                       + (f", {args.complexity} complexity" if args.complexity != "default" else "")
                       + (", adaptive" if args.adaptive else "")
                       + (f", finest grid {args.finest_grid}" if args.finest_grid != "auto" else "")
                       + (f", previous-grid context {args.prev_grid}x{args.prev_grid}" if args.prev_grid else "")
                       + ({None: "", 0: ", one shared ARM"}.get(args.per_grid_arm,
                                                                f", one ({args.per_grid_arm}, {args.per_grid_arm}) ARM per grid"))
                       + (", learned masks" if args.learn_mask else ""))
        name = args.name or "C3"
    else:
        from .evaluation.baselines import get_codec

        codec = get_codec(args.codec)
        if args.lmbda:
            raise UsageError("--lmbda is for c3; classical codecs take --quality")
        settings = args.quality or list(codec.qualities)
        description = codec.description
        name = args.name or codec.name
    # Image by image, so that an interrupted run leaves whole RD curves behind it.
    if args.codec != "c3" and (args.marm or args.adaptive or args.learn_mask or args.finest_grid != "auto"
                               or args.prev_grid or args.per_grid_arm is not None or args.complexity != "default"):
        raise UsageError("--marm, --complexity, --adaptive, --finest-grid, --prev-grid, --per-grid-arm and "
                         "--learn-mask are for the c3 codec")
    if video_c3 and args.prev_grid:
        raise UsageError("--prev-grid is for images")
    check_complexity(args)
    if args.learn_mask and not video_c3:
        raise UsageError("--learn-mask is for videos")
    out = Path(args.out)
    keep = out / "files" if args.keep_files else None
    tasks = [Task(args.codec, image, float(setting), steps=args.steps, preset=args.preset,
                  budget_seconds=args.budget, threads=threads, network_init=args.network_init,
                  marm=args.marm, complexity=args.complexity, keep=keep, frames=args.frames, adaptive=args.adaptive,
                  learn_mask=args.learn_mask, drop_finest=drop_finest(args, video_c3), prev_grid=args.prev_grid,
                  per_grid_arm=args.per_grid_arm)
             for image in images for setting in settings]
    rows = run_eval(tasks, out, jobs=args.jobs, name=name, description=description,
                    progress=sys.stderr.isatty(), scheduler=args.scheduler)
    anchors = [load_curve(a) for a in args.anchor]
    summary = json.loads((out / "summary.json").read_text())["results"]
    plot_curves([Curve(name, summary["bpp"], summary["psnr-rgb"]), *anchors], out / "rd.png")
    print(f"{len(rows)} results in {out / 'results.tsv'}; summary {out / 'summary.json'}; "
          f"plot {out / 'rd.png'}")
    for bpp, quality in zip(summary["bpp"], summary["psnr-rgb"]):
        print(f"  {bpp:.4f} bpp  {quality:.2f} dB")
    return 0


def cmd_bdrate(args: argparse.Namespace) -> int:
    from .evaluation.bdrate import bd
    from .evaluation.results import load_curve

    test, anchor = load_curve(args.test), load_curve(args.anchor)
    r = bd(anchor.bpp, anchor.psnr, test.bpp, test.psnr)
    if args.json:
        print(json.dumps({"test": test.name, "anchor": anchor.name, "bd_rate_cubic": r.rate_cubic,
                          "bd_rate_pchip": r.rate_pchip, "bd_psnr": r.psnr,
                          "overlap_db": r.overlap_db, "warning": r.warning}))
        return 0
    print(f"BD-rate (cubic): {r.rate_cubic:+.2f} %")
    print(f"BD-rate (PCHIP): {r.rate_pchip:+.2f} %")
    print(f"BD-PSNR: {r.psnr:+.3f} dB")
    print(f"{test.name} vs {anchor.name}, PSNR overlap {r.overlap_db:.2f} dB")
    if r.warning:
        print(f"warning: {r.warning}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .evaluation.plot import plot_curves
    from .evaluation.results import load_curves

    _check_output(args.output)
    curves = [c for spec in args.results for c in load_curves(spec)]
    plot_curves(curves, args.output, args.title)
    print(f"{args.output}: {len(curves)} curve(s)")
    return 0


def _threads() -> int:
    import torch

    return torch.get_num_threads()


COMMANDS = {"encode": cmd_encode, "decode": cmd_decode, "info": cmd_info, "demo": cmd_demo,
            "eval": cmd_eval, "bdrate": cmd_bdrate, "plot": cmd_plot}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from . import runtime
    from .coding.bitstream import BitstreamError
    from .evaluation.runner import EvalError
    from .io.images import ImageError
    from .io.video import VideoError
    from .evaluation.cluster import SchedulerError, TaskError

    try:
        # decoding and inspecting files need no PyTorch, whose import takes seconds
        runtime.configure(None if args.command == "eval" else getattr(args, "threads", None),
                          with_torch=args.command not in ("decode", "info"))
        if args.command == "bench":
            return cmd_bench_speed(args)
        return COMMANDS[args.command](args)
    except (ImageError, BitstreamError, ConfigError, UsageError, FileNotFoundError, EvalError, VideoError,
            SchedulerError, TaskError) as exc:
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
