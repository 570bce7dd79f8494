"""``c3 eval``: really encode and decode every (image, setting), in parallel, resumably.

Each finished task appends its row to ``DIR/results.tsv`` at once, so an interrupted run
continues where it stopped; ``DIR/summary.json`` (CompressAI layout) and ``DIR/rd.png`` are
rewritten at the end.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..io.images import ImageError, Picture, load_image
from .metrics import ms_ssim, psnr
from .results import ResultRow, append_row, read_rows, summarize, write_summary
from .video_baselines import VIDEO_CODECS

if TYPE_CHECKING:
    from ..config import Complexity, NetworkInit

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".bmp"}


@dataclass(frozen=True)
class Task:
    codec: str  # "c3" or a classical codec name
    image: Path
    setting: float
    steps: int | None = None
    preset: str = "fast"
    budget_seconds: float | None = None
    threads: int = 1
    network_init: NetworkInit | None = None  # None: the preset's
    marm: int = 0  # MARM's ARU grids (c3)
    complexity: Complexity = "default"  # c3 on images: config.default_architecture's setting
    keep: Path | None = None  # folder to keep the coded file in
    frames: str | None = None  # videos: the frames to code, "A:B"
    adaptive: bool = False  # c3: C3 adaptive (adaptive.py)
    learn_mask: bool = False  # c3 on videos: learned previous-frame windows (adaptive.py)
    drop_finest: bool | None = False  # c3: no full-resolution latent grid (None: videos' rule for the lambda)
    prev_grid: int = 0  # c3 on images: the previous-grid context's window (0: off)
    per_grid_arm: int | None = None  # c3: one ARM of this hidden width per grid (0: one shared; None: the default)

    @property
    def key(self) -> tuple[str, str, float]:
        return self.codec, self.image.stem, self.setting


def find_images(inputs: list[str]) -> list[Path]:
    """Files as given, folders expanded to their image files (sorted)."""
    images: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            images += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
        elif p.exists():
            images.append(p)
        else:
            raise ImageError(f"{item}: no such file or folder")
    if not images:
        raise ImageError("no images found in " + ", ".join(inputs))
    return _unique_names(images, "image", ImageError)


def _unique_names(paths: list[Path], kind: str, error: type[Exception]) -> list[Path]:
    if len({p.stem for p in paths}) != len(paths):
        raise error(f"{kind} names must be unique (results are keyed by file name)")
    return paths


def find_videos(inputs: list[str]) -> list[Path]:
    """Video files as given (names must be unique: results are keyed by file name)."""
    from ..io.video import VideoError

    videos = [Path(item) for item in inputs]
    for p in videos:
        if not p.is_file():
            raise VideoError(f"{p}: no such video file")
    return _unique_names(videos, "video", VideoError)


def _is_video(path: Path) -> bool:
    from ..io.video import is_video_path

    return is_video_path(path)


@dataclass(frozen=True)
class TaskResult:
    """What a task sends back: its row and the coded file (kept by the caller with --keep-files,
    so that a worker on another machine needs no shared filesystem)."""

    row: ResultRow
    coded: bytes
    suffix: str  # of the kept file: ".c3", ".mp4", ...


def run_task(task: Task) -> TaskResult:
    """Encode, decode and measure one (image, setting). Runs in a worker process."""
    from .. import runtime

    runtime.configure(task.threads)
    if task.codec in VIDEO_CODECS or (task.codec == "c3" and _is_video(task.image)):
        return _run_video(task)
    picture = load_image(task.image)
    run = _run_c3 if task.codec == "c3" else _run_classical
    data, encode_s, pixels, decode_s, macs, steps = run(picture, task)
    row = ResultRow(
        codec=task.codec, image=task.image.stem, setting=task.setting,
        bpp=8.0 * len(data) / (picture.width * picture.height),
        psnr=psnr(pixels, picture.pixels, picture.max_value),
        ms_ssim=ms_ssim(pixels, picture.pixels, picture.max_value), bytes=len(data),
        width=picture.width, height=picture.height, encode_seconds=encode_s,
        decode_seconds=decode_s, macs_per_pixel=macs, stage1_steps=steps)
    return TaskResult(row, data, ".c3" if task.codec == "c3" else f".{task.codec}")


def _run_c3(picture: Picture, task: Task):
    from ..config import default_architecture, preset_fit_config
    from ..decoder import decode
    from ..encoder import encode

    extra = {} if task.budget_seconds is None else {"budget_seconds": task.budget_seconds}
    arch = (default_architecture(budget=task.budget_seconds is not None, complexity=task.complexity)
            .with_marm(task.marm).with_drop_finest(bool(task.drop_finest)).with_prev_grid(task.prev_grid))
    arch = arch.with_per_grid_arm(task.per_grid_arm or 0)
    start = time.perf_counter()
    result = encode(picture, task.setting, arch=arch,
                    fit_config=preset_fit_config(task.preset, steps=task.steps,
                                                 network_init=task.network_init), adaptive=task.adaptive, **extra)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decode(result.data)
    decode_s = time.perf_counter() - start
    return (result.data, encode_s, decoded.pixels, decode_s, result.stats.macs_per_pixel,
            float(result.stats.steps))


def _run_classical(picture: Picture, task: Task):
    from .baselines import get_codec

    if picture.bit_depth != 8 or picture.channels != 3:
        raise ImageError(f"{task.image}: classical baselines take 8-bit RGB images")
    codec = get_codec(task.codec)
    rgb = picture.pixels.astype(np.uint8)
    start = time.perf_counter()
    data = codec.encode(rgb, task.setting)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    pixels = codec.decode(data).astype(np.int64)
    decode_s = time.perf_counter() - start
    return data, encode_s, pixels, decode_s, math.nan, math.nan


def _run_video(task: Task) -> TaskResult:
    """C3 or a classical video codec on one video: per-frame RGB PSNR (mean over frames), YUV
    PSNR in the source's YUV format (or 4:2:0 BT.601 for RGB sources), bits over all frames."""
    from ..io.colour import rgb_to_yuv
    from ..io.video import VideoError, open_video, output_yuv_format
    from .metrics import video_psnr, yuv_psnr

    source = open_video(task.image, frames=task.frames)
    info = source.info
    frames = source.read_all()
    if task.codec == "c3":
        data, encode_s, decoded, decode_s, macs, steps = _run_c3_video(frames, info, task)
        suffix = ".c3v"
    else:
        from .video_baselines import get_video_codec

        if info.rgb_bit_depth != 8:
            raise VideoError(f"{task.image}: the video baselines take 8-bit videos")
        codec = get_video_codec(task.codec)
        data, encode_s = codec.encode(frames, info.fps, task.setting)
        start = time.perf_counter()
        decoded = codec.decode(data, info.height, info.width)
        decode_s, macs, steps = time.perf_counter() - start, math.nan, math.nan
        suffix = ".webm" if codec.container == "webm" else ".mp4"
    if decoded.shape != frames.shape:
        raise VideoError(f"{task.codec} decoded {decoded.shape} for {frames.shape} frames")
    fmt, depth = output_yuv_format(info), info.rgb_bit_depth
    yuv = float(np.mean([yuv_psnr(rgb_to_yuv(d, depth, fmt), rgb_to_yuv(f, depth, fmt), (1 << fmt.bit_depth) - 1)
                         for d, f in zip(decoded, frames)]))
    t = frames.shape[0]
    row = ResultRow(
        codec=task.codec, image=task.image.stem, setting=task.setting,
        bpp=8.0 * len(data) / (t * info.width * info.height),
        psnr=video_psnr(decoded, frames, (1 << depth) - 1),
        ms_ssim=math.nan, bytes=len(data), width=info.width, height=info.height,
        encode_seconds=encode_s, decode_seconds=decode_s, macs_per_pixel=macs, stage1_steps=steps,
        frames=float(t), fps=float(info.fps), kbps=8.0 * len(data) / (t / float(info.fps)) / 1000.0,
        psnr_yuv=yuv)
    return TaskResult(row, data, suffix)


def _run_c3_video(frames: np.ndarray, info, task: Task):
    from ..config import preset_fit_config
    from ..video_decoder import decode_video
    from ..video_encoder import encode_video

    start = time.perf_counter()
    result = encode_video(frames, task.setting, fps=info.fps, yuv=info.yuv, bit_depth=info.rgb_bit_depth,
                          drop_finest=task.drop_finest, per_grid_arm=task.per_grid_arm,
                          fit_config=preset_fit_config(task.preset, steps=task.steps, network_init=task.network_init),
                          budget_seconds=task.budget_seconds, adaptive=task.adaptive, learn_mask=task.learn_mask)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = np.stack(list(decode_video(result.data)[1]))
    decode_s = time.perf_counter() - start
    return (result.data, encode_s, decoded, decode_s, result.stats.macs_per_pixel,
            float(result.stats.steps))


class EvalError(RuntimeError):
    """Some tasks failed; the others finished and their results are written."""


def run_eval(tasks: list[Task], out_dir: Path, jobs: int = 1, name: str = "C3",
             description: str = "", progress: bool = True, log=print,
             scheduler: str | None = None) -> list[ResultRow]:
    """Run every task not already in ``out_dir/results.tsv``; returns all rows of this codec.

    Tasks run in this process (``jobs`` 1), in ``jobs`` local processes, or as Dask tasks
    (``scheduler``: ``tcp://HOST:PORT`` or ``local:N``, :mod:`.cluster`). A task that fails is
    reported and the others go on; :class:`EvalError` at the end says which failed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = out_dir / "results.tsv"
    done = {r.key for r in read_rows(table)}
    todo = [t for t in tasks if t.key not in done]
    if len(todo) < len(tasks):
        log(f"resuming: {len(tasks) - len(todo)} of {len(tasks)} results already in {table}")
    bar = None
    if progress and todo and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="task", file=sys.stderr, desc="eval")
    failures: list[str] = []
    try:
        for task, outcome in _outcomes(todo, jobs, scheduler):
            if isinstance(outcome, BaseException):
                failures.append(f"{task.image.name} {task.setting:g}: {outcome}")
                log(f"failed: {failures[-1]}")
                if bar is not None:
                    bar.update(1)
                continue
            _finish(table, task, outcome, bar, log)
    finally:
        if bar is not None:
            bar.close()
    keys = {t.key for t in tasks}
    rows = [r for r in read_rows(table) if r.key in keys]
    write_summary(out_dir / "summary.json", summarize(rows, name, description))
    if failures:
        raise EvalError(f"{len(failures)} of {len(todo)} tasks failed (first: {failures[0]})")
    return rows


def _outcomes(todo: list[Task], jobs: int, scheduler: str | None):
    """(task, TaskResult or the exception it raised), as tasks finish."""
    from .cluster import dask_outcomes, map_outcomes

    if scheduler:
        yield from dask_outcomes(todo, scheduler)
    else:
        for i, outcome in map_outcomes(run_task, [(t,) for t in todo], jobs):
            yield todo[i], outcome


def _finish(table: Path, task: Task, result: TaskResult, bar, log) -> None:
    if task.keep is not None:
        from ..io.images import atomic_write

        task.keep.mkdir(parents=True, exist_ok=True)
        atomic_write(task.keep / f"{task.image.stem}_{task.setting:g}{result.suffix}", result.coded)
    row = result.row
    append_row(table, row)
    if bar is not None:
        bar.update(1)
        bar.set_postfix_str(f"{row.image} {row.setting:g}: {row.bpp:.3f} bpp {row.psnr:.2f} dB")
    else:
        log(f"{row.codec} {row.image} {row.setting:g}: {row.bpp:.4f} bpp, {row.psnr:.2f} dB, "
            f"encode {row.encode_seconds:.1f} s, decode {row.decode_seconds:.2f} s")


def threads_per_job(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(jobs, 1))
