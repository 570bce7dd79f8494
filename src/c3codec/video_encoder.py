"""Encoding videos with C3 (c3-paper section 3.3, c3-supplementary A.3, A.4).

A video is split into patches (``coding/container.py``); each patch is one model of the image
codec with a time axis: 3-D latent grids (T/2^n, H/2^n, W/2^n), trilinear upsampling, the
synthesis MLP per pixel with its residual 3x3 convolutions per frame (C3's per-frame setting),
and the ARM's context = the causal window in the latent's own frame + a window of the same
grid's previous latent frame. Fitting, parameter quantisation and coding are the image codec's
(:func:`encoder.fit_and_code`); the exact decoder is the image decoder's, frame by frame.

Frames are fitted in RGB (C3 on UVG); YUV sources are converted on reading and written back in
their format (``io/video.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
import torch

from . import runtime
from .coding import bitstream, container
from .coding.bitstream import ImageInfo
from .coding.container import VideoHeader
from .config import (BUDGET_GAIN, ArchitectureConfig, EntropyConfig, FitConfig, LatentConfig, SynthesisConfig,
                     preset_fit_config)
from .encoder import CodedModel, check_lambda, fit_and_code, normalised_mse
from .evaluation.macs import macs_per_pixel
from .evaluation.metrics import video_psnr
from .io.colour import YuvFormat
from .video_decoder import check_video_architecture, patch_frame

PATCH_SIZES = ((2e-4, (30, 180, 240)), (1e-3, (60, 180, 240)), (math.inf, (75, 270, 320)))
"""C3's patch sizes (frames, rows, columns) by lambda (c3-supplementary Table 6, for 1080p):
larger patches at lower rates."""

PATCH_SLACK = 1.25
"""A dimension up to this many times the patch size stays one patch (a 272-row video is not
cut into two 136-row patches because C3's size is 270)."""


def default_video_architecture(drop_finest: bool = False) -> ArchitectureConfig:
    """The CPU-budget video setting: C3's video latent step (0.3) and grid count (6, E1/E3),
    the budget latent gain, a (16, 16) synthesis (C3's (32, 32) costs four times the MACs),
    one (8, 8) ARM shared by all grids (:data:`VIDEO_ARM_WIDTH`), a 7x7 causal window in the
    current latent frame and the 3x3 window of the previous latent frame around the same
    position (``--learn-mask`` places it by a short fit, as C3 does). ``drop_finest``: no
    full-resolution grid."""
    return ArchitectureConfig(
        latents=LatentConfig(num_grids=6, step=0.3, gain_factor=BUDGET_GAIN, drop_finest=drop_finest),
        synthesis=SynthesisConfig(widths=(16, 16)),
        entropy=EntropyConfig(widths=(VIDEO_ARM_WIDTH,) * 2, context=7, prev_frame=3),
    )


VIDEO_ARM_WIDTH = 8
"""Hidden width of the video ARM. C3's E1 has (16, 16); on a CPU budget (3 minutes for 30
frames, benchmarks/video/README.md "Entropy settings") (8, 8) gave -18.4 % BD-rate on bikes
(its two patches each send their networks, which at 16 wide were 10-28 % of the file) and a wash
on carphone (+0.2 % cubic / -0.8 % PCHIP), with fewer decoding MACs."""

VIDEO_PER_GRID_MIN_PIXELS = 2_000_000
"""Videos whose patches hold this many pixels (frames x rows x columns, on average) or more get
one ARM per latent grid by default (C3's E3 with this codec's ARM width) instead of one shared.
At 3 minutes for 30 frames (benchmarks/video/README.md "Entropy settings"): bikes (two patches
of 2.6 M pixels) -27.4 % cubic / -11.9 % PCHIP BD-rate against the shared (8, 8) ARM (+0.6 dB
at lambda 3e-2 to 4e-3, losing at 1e-1); carphone (one patch of 0.76 M pixels) lost 25 % in
bytes at lambda 1e-2, where five networks cost more than their better fit saves."""


def choose_arms(arch: ArchitectureConfig, per_grid_arm: int | None, patch_pixels: float) -> ArchitectureConfig:
    """``arch`` with the ARMs ``per_grid_arm`` asks: None, the default (one per grid on patches
    of :data:`VIDEO_PER_GRID_MIN_PIXELS` or more, ``patch_pixels`` being their mean size), 0 one
    shared ARM, W one (W, W) ARM per grid."""
    if per_grid_arm is None:
        return arch.with_per_grid(True) if patch_pixels >= VIDEO_PER_GRID_MIN_PIXELS else arch
    return arch.with_per_grid(True, per_grid_arm) if per_grid_arm else arch.with_per_grid(False)


VIDEO_FINEST_GRID_MAX_LAMBDA = 2e-3
"""Videos keep the full-resolution latent grid only at lambdas up to this (high rates). Above
it, fits of minutes on a CPU do better without it: at 3 minutes for 30 frames, -25.8 % BD-rate
on carphone (lambda 3e-2 .. 4e-3 gain 0.4 to 1.0 dB, 1.5e-3 loses 0.3 dB) and a third of the
bytes at +1.8 dB on bikes (benchmarks/video/README.md, "The finest grid"); ``--adaptive`` chose
no finest grid for all of carphone's patches at 10 minutes."""


def patch_counts(frames: int, height: int, width: int, lmbda: float) -> tuple[int, int, int]:
    """How many patches along time, rows and columns: C3's patch size for ``lmbda``
    (:data:`PATCH_SIZES`), each dimension cut into as few near-equal parts as keep every part
    within :data:`PATCH_SLACK` of the size."""
    size = next(s for limit, s in PATCH_SIZES if lmbda <= limit)
    return tuple(max(1, math.ceil(n / (PATCH_SLACK * p))) for n, p in zip((frames, height, width), size))  # type: ignore[return-value]


@dataclass
class PatchStats:
    frames: slice
    rows: slice
    cols: slice
    bytes: int
    steps: int
    fit_seconds: float
    latent_bytes: list[int]
    macs_per_pixel: float  # of the architecture the patch was coded with (--adaptive, --learn-mask change it)
    setting: str = ""  # the candidate --adaptive chose ("" without it)


@dataclass
class VideoEncodeStats:
    frames: int
    height: int
    width: int
    bytes: int
    bpp: float  # file bits over all pixels of all frames
    kbps: float
    psnr: float  # per-frame RGB PSNR, averaged over frames (C3 B.2)
    macs_per_pixel: float
    encode_seconds: float
    patches: list[PatchStats] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return sum(p.steps for p in self.patches)


@dataclass
class VideoEncodeResult:
    data: bytes
    stats: VideoEncodeStats
    reconstruction: np.ndarray  # (T, H, W, 3), bit-identical to what decode_video returns


@dataclass
class PatchResult:
    payload: bytes
    pixels: np.ndarray  # the exact reconstruction, (t, h, w, 3)
    stats: PatchStats


def _target(pixels: np.ndarray, max_value: int, device: torch.device) -> torch.Tensor:
    """(t, h, w, C) integer frames -> (C, t, h, w) float32 in [0, 1]."""
    target = np.empty((pixels.shape[3], *pixels.shape[:3]), dtype=np.float32)
    np.divide(pixels.transpose(3, 0, 1, 2), max_value, out=target, dtype=np.float32)
    return torch.from_numpy(target).to(device)


def encode_patch(pixels: np.ndarray, bit_depth: int, lmbda: float, arch: ArchitectureConfig,
                 fit_config: FitConfig, budget_seconds: float | None = None, progress: bool = False,
                 device: str | torch.device = "cpu", adaptive: bool = False, learn_mask: bool = False
                 ) -> PatchResult:
    """Fit, quantise and code one patch ((t, h, w, 3) frames): its payload and its exact
    reconstruction. Independent of every other patch (a process or a cluster task can run it).
    ``adaptive``: the architecture chosen among variants of ``arch`` by short trial encodings;
    ``learn_mask``: the previous-frame windows placed by a short fit (C3 A.3; both
    :mod:`c3codec.adaptive`)."""
    start = time.perf_counter()
    target = _target(pixels, (1 << bit_depth) - 1, runtime.fitting_device(device))

    def left() -> float | None:
        return None if budget_seconds is None else budget_seconds - (time.perf_counter() - start)

    label = ""
    if learn_mask:
        from .adaptive import learn_frame_offsets

        offsets = learn_frame_offsets(target, lmbda, arch, fit_config, left())
        arch = replace(arch, entropy=replace(arch.entropy, prev_frame_offsets=offsets))
    if adaptive:
        from .adaptive import choose, video_candidates

        def score(trial: CodedModel) -> tuple[float, int]:
            payload, frames = _coded_patch(trial, pixels, bit_depth)
            return normalised_mse(frames, pixels, (1 << bit_depth) - 1), len(payload)

        candidates = video_candidates(arch)
        arch, trials, _ = choose(target, lmbda, candidates, fit_config, left(), score)
        label = next(name for name, candidate in candidates if candidate == arch)
    coded = fit_and_code(target, lmbda, arch, fit_config, progress, left())
    del target
    payload, frames = _coded_patch(coded, pixels, bit_depth)
    t, h, w = pixels.shape[:3]
    stats = PatchStats(slice(0), slice(0), slice(0), len(payload), coded.report.stage1_steps,
                       time.perf_counter() - start, [len(s) for s in coded.file.latents.streams],
                       macs_per_pixel(arch, h, w, 3, frames=t)["total"], label)
    return PatchResult(payload, frames, stats)


def _coded_patch(coded: CodedModel, pixels: np.ndarray, bit_depth: int) -> tuple[bytes, np.ndarray]:
    """A coded patch's payload and its exact reconstruction ((t, h, w, 3))."""
    f = replace(coded.file, image=ImageInfo(pixels.shape[1], pixels.shape[2], 3, bit_depth))
    w = bitstream._Writer()
    bitstream.write_body(w, f, video=True)
    size = pixels.shape[:3]
    frames = np.stack([patch_frame(f.arch, size, bit_depth, coded.nets, coded.latents, t) for t in range(size[0])])
    return bytes(w.buf), frames


@dataclass
class PatchJob:
    """One patch's encoding as a unit of work for a process or a cluster task."""

    pixels: np.ndarray  # (t, h, w, 3)
    bit_depth: int
    lmbda: float
    arch: ArchitectureConfig
    fit_config: FitConfig
    budget_seconds: float | None
    threads: int | None  # fixed on the worker, so that its bytes do not depend on where it ran
    adaptive: bool = False
    learn_mask: bool = False


def run_patch_job(job: PatchJob) -> PatchResult:
    """Worker side of :class:`PatchJob`."""
    if job.threads:
        runtime.configure(job.threads)
    return encode_patch(job.pixels, job.bit_depth, job.lmbda, job.arch, job.fit_config, job.budget_seconds,
                        adaptive=job.adaptive, learn_mask=job.learn_mask)


def encode_video(frames: np.ndarray, lmbda: float, *, fps: Fraction = Fraction(25), yuv: YuvFormat | None = None,
                 bit_depth: int | None = None, arch: ArchitectureConfig | None = None,
                 fit_config: FitConfig | None = None, budget_seconds: float | None = None,
                 counts: tuple[int, int, int] | None = None, progress: bool = False,
                 device: str | torch.device = "cpu", jobs: int = 1, scheduler: str | None = None,
                 threads: int | None = None, adaptive: bool = False, learn_mask: bool = False,
                 drop_finest: bool | None = None, per_grid_arm: int | None = None,
                 on_patch: Callable[[int, int, PatchStats], None] | None = None) -> VideoEncodeResult:
    """Compress RGB frames ((T, H, W, 3) uint8, or uint16 at 16 bits) at rate-distortion weight
    ``lmbda``. ``counts`` overrides the patch grid of :func:`patch_counts`; ``yuv`` is the
    source's format, recorded so that decoded frames are written back in it.

    Patches are fitted one after the other here, or at the same time in ``jobs`` local
    processes or as Dask tasks on ``scheduler`` (``local:N`` or ``tcp://HOST:PORT``), each
    with ``threads`` threads (default: this process's, split between the jobs; 1 on a
    cluster): with ``--steps`` the file is the same bytes wherever its patches ran.
    ``budget_seconds`` is wall-clock time for the whole video: shared by the patches in
    proportion to their pixels, times the number running at once. ``adaptive``: each patch's
    architecture chosen by short trial encodings; ``learn_mask``: its previous-frame windows
    placed by a short fit (both :mod:`c3codec.adaptive`). Without ``arch``, the default video
    architecture, with the finest grid dropped if ``drop_finest`` (None: above
    :data:`VIDEO_FINEST_GRID_MAX_LAMBDA`); ``per_grid_arm``: the ARMs, :func:`choose_arms`."""
    check_lambda(lmbda)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype not in (np.uint8, np.uint16):
        raise ValueError("frames must be a (T, H, W, 3) uint8 or uint16 array")
    bit_depth = bit_depth or (8 if frames.dtype == np.uint8 else 16)
    if arch is not None and drop_finest is not None:
        raise ValueError("give either arch or drop_finest, not both")
    if drop_finest is None:
        drop_finest = lmbda > VIDEO_FINEST_GRID_MAX_LAMBDA
    fit_config = fit_config or preset_fit_config("fast")
    start = time.perf_counter()
    t, h, w = frames.shape[:3]
    header = VideoHeader(t, h, w, bit_depth, Fraction(fps), yuv, counts or patch_counts(t, h, w, lmbda))
    patches = header.patches()
    arch = choose_arms(arch or default_video_architecture(drop_finest), per_grid_arm, t * h * w / len(patches))
    check_video_architecture(arch)
    results: list[PatchResult | None] = [None] * len(patches)
    reconstruction = np.empty_like(frames)

    def finished(index: int, result: PatchResult) -> None:
        ft, fr, fc = patches[index]
        result.stats.frames, result.stats.rows, result.stats.cols = ft, fr, fc
        reconstruction[ft, fr, fc] = result.pixels
        results[index] = result
        if on_patch is not None:
            on_patch(index, len(patches), result.stats)

    sizes = [(ft.stop - ft.start) * (fr.stop - fr.start) * (fc.stop - fc.start) for ft, fr, fc in patches]
    if jobs <= 1 and scheduler is None:
        for index, (ft, fr, fc) in enumerate(patches):  # each patch's share of the time still left
            budget = None
            if budget_seconds is not None:
                budget = (budget_seconds - (time.perf_counter() - start)) * sizes[index] / sum(sizes[index:])
            finished(index, encode_patch(np.ascontiguousarray(frames[ft, fr, fc]), bit_depth, lmbda, arch,
                                         fit_config, budget, progress, device, adaptive, learn_mask))
    else:
        from .evaluation.cluster import cluster_workers, map_outcomes

        parallel = min(len(patches), cluster_workers(scheduler) if scheduler else jobs)
        per_job = threads or (1 if scheduler else max(1, runtime.threads() // jobs))
        work = []
        for index, (ft, fr, fc) in enumerate(patches):
            budget = None
            if budget_seconds is not None:
                budget = (budget_seconds - (time.perf_counter() - start)) * parallel * sizes[index] / sum(sizes)
            work.append((PatchJob(np.ascontiguousarray(frames[ft, fr, fc]), bit_depth, lmbda, arch, fit_config,
                                  budget, per_job, adaptive, learn_mask),))
        for index, outcome in map_outcomes(run_patch_job, work, jobs, scheduler):
            if isinstance(outcome, BaseException):
                raise outcome
            finished(index, outcome)
    data = container.write(header, [r.payload for r in results])
    seconds = t / float(fps)
    video_stats = VideoEncodeStats(
        frames=t, height=h, width=w, bytes=len(data), bpp=8.0 * len(data) / (t * h * w),
        kbps=8.0 * len(data) / seconds / 1000.0, psnr=video_psnr(reconstruction, frames, (1 << bit_depth) - 1),
        macs_per_pixel=sum(r.stats.macs_per_pixel * size for r, size in zip(results, sizes)) / sum(sizes),
        encode_seconds=time.perf_counter() - start, patches=[r.stats for r in results])
    return VideoEncodeResult(data, video_stats, reconstruction)
