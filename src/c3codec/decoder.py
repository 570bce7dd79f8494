"""Decoding a .c3 file: read -> rebuild networks -> decode latents -> upsample -> synthesise.

Two implementations give the same pixels: the compiled exact decoder (``exact/native.c``; used
whenever it can be built) and the numpy reference (``coding.latents.decode_latents`` and
``exact.synthesis``), the specification the compiled one is tested against. Every step is exact,
so the pixels do not depend on the machine, the thread count or the band size.

The compiled decoder has two phases, both on all threads: the latents of all grids (the grids
advance wave by wave together; the threads share out every wave's ARM evaluations and take turns
at each grid's range decoder, in the order of its stream), then the bands of pixel rows
(upsampling and synthesis). Memory is the latents (int32), the output pixels and a band's
worth of activations per thread, whatever the image size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import runtime
from .coding.bitstream import BitstreamError, C3File, ImageInfo, num_synthesis_tensors, read
from .coding.latents import EntropyNetworks, LatentStreams, decode_latents, previous_grid, scale_grid, video_previous
from .coding.parameters import decode_tensors, int_layers
from .config import ArchitectureConfig
from .exact import native
from .exact.arithmetic import IntLayer
from .exact.aru import ANCHOR_INPUTS, REST_INPUTS, aru_levels
from .exact.synthesis import reconstruct_reference
from .io.images import Picture

DEFAULT_CHUNK = 1 << 16
BAND_ROWS = 64
"""Pixel rows per synthesis task: each recomputes the residual convolutions' halo (2 rows either
side with C3's two 3x3 layers), so taller bands waste less; shorter ones start sooner."""


@dataclass
class DecodeTimes:
    """Seconds spent in each stage of one decode (stages overlap when threads run them)."""

    parse: float = 0.0
    parameters: float = 0.0
    tables: float = 0.0
    latents: float = 0.0  # ARM and range decoding, all grids (wall time until the last grid)
    synthesis: float = 0.0  # upsampling and synthesis after the last grid was decoded
    total: float = 0.0
    implementation: str = ""
    threads: int = 1
    extra: dict = field(default_factory=dict)


@lru_cache(maxsize=64)
def network_shapes(arch: ArchitectureConfig, channels: int) -> list[tuple[int, ...]]:
    """Shapes of the coded weight and bias tensors, in bitstream order (``model.c3``'s
    ``network_modules``; a test checks that they agree)."""
    syn, ent = arch.synthesis, arch.entropy

    def dense(widths: list[int]) -> list[tuple[int, ...]]:
        return [shape for a, b in zip(widths[:-1], widths[1:]) for shape in ((b, a), (b,))]

    k = syn.residual_kernel
    shapes = dense([arch.latents.num_grids, *syn.widths, channels])
    shapes += [(channels, channels, k, k), (channels,)] * syn.num_residual
    shapes += dense([ent.num_inputs, *ent.widths, 2]) * arch.num_arms
    if ent.aru_grids:
        shapes += dense([ANCHOR_INPUTS, *ent.aru_widths, 2]) + dense([REST_INPUTS, *ent.aru_widths, 2])
    return shapes


@dataclass
class ExactNetworks:
    """A file's networks as exact layers."""

    mlp: list[IntLayer]  # synthesis MLP
    residual: list[IntLayer]  # synthesis residual convolutions
    entropy: EntropyNetworks


def split_layers(arch: ArchitectureConfig, layers: list[IntLayer]) -> ExactNetworks:
    """Exact layers in bitstream order -> the networks they belong to."""
    syn, ent = arch.synthesis, arch.entropy
    sizes = [len(syn.widths) + 1, syn.num_residual, *[len(ent.widths) + 1] * arch.num_arms,
             *([len(ent.aru_widths) + 1] * 2 if ent.aru_grids else [0, 0])]
    parts, start = [], 0
    for size in sizes:
        parts.append(layers[start: start + size])
        start += size
    return ExactNetworks(parts[0], parts[1], EntropyNetworks(parts[2:-2], *parts[-2:]))


def pixel_dtype(bit_depth: int) -> type:
    return np.uint16 if bit_depth == 16 else np.uint8


def _bands(height: int) -> list[range]:
    return [range(y, min(y + BAND_ROWS, height)) for y in range(0, height, BAND_ROWS)]


def synthesise_native(arch: ArchitectureConfig, image: ImageInfo, mlp: list[IntLayer],
                      residual: list[IntLayer], grids: list[np.ndarray], threads: int | None = None,
                      input_scale: int = 1) -> np.ndarray:
    """Complete integer latent grids (times ``input_scale``, see ``native.SynthesisKernels``)
    -> (H, W, C) pixels, with the compiled kernels on ``threads`` threads (default
    :func:`runtime.threads`)."""
    kernels = native.SynthesisKernels(mlp, residual, arch, image.channels, input_scale)
    views = [g if g.dtype == np.int32 and g.strides[1] == 4 else np.ascontiguousarray(g, dtype=np.int32)
             for g in grids]
    latents = kernels.latents(views)
    pixels = np.empty((image.height, image.width, image.channels), dtype=pixel_dtype(image.bit_depth))
    bands = _bands(image.height)

    def work(k: int) -> None:
        kernels.synthesise_rows(latents, (image.height, image.width), bands[k], image.max_value, pixels)

    runtime.share_chunks(work, len(bands), threads)
    return pixels


def reconstruct(arch: ArchitectureConfig, image: ImageInfo, mlp: list[IntLayer],
                residual: list[IntLayer], latents: list[np.ndarray],
                chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Integer latent grids -> (H, W, C) integer pixels, exactly (compiled when available)."""
    if native.available():
        return synthesise_native(arch, image, mlp, residual, latents)
    pixels = reconstruct_reference(arch, (image.height, image.width), image.max_value, mlp,
                                   residual, latents, chunk)
    return pixels.astype(pixel_dtype(image.bit_depth))


def decode_native(f: C3File, nets: ExactNetworks, threads: int, times: DecodeTimes
                  ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The compiled decoder: MARM's ARU grids, then the ARM grids' latents on ``threads``
    threads (the grids advance wave by wave together, the threads share out each wave's ARM
    evaluations and take turns at each grid's range decoder), then the bands of pixel rows on
    the same threads."""
    arch, image = f.arch, f.image
    start = time.perf_counter()
    half = arch.entropy.context // 2
    shapes = arch.latents.grid_shapes((image.height, image.width))
    grids = [native.PaddedGrid.empty(s, half) for s in shapes]
    count = scale_grid(arch).count
    tables = [native.GridTable.empty(r, count) for r in f.latents.symbol_ranges]
    times.tables = time.perf_counter() - start
    phase = time.perf_counter()
    if arch.entropy.aru_grids:  # MARM's coarse grids first, coarsest first
        kernels = native.AruKernels(nets.entropy.aru_anchor, nets.entropy.aru_rest, arch, count)
        parent = None
        for level in aru_levels(arch):
            grid, mu, raw = kernels.decode_grid(shapes[level], parent, level, tables[level],
                                                f.latents.streams[level], threads)
            grids[level].values()[...] = grid
            parent = (grid, mu, raw)
    arm = arch.arm_grids
    jobs = [native.GridDecode(grid, None, table, stream, arch.arm_index(n))
            for n, (grid, table, stream) in enumerate(zip(grids[:arm], tables, f.latents.streams))]
    kernels = native.ArmKernels(nets.entropy.arms, arch, count) if arm else None
    if arch.entropy.use_prev_grid:  # each grid's contexts read the finer grid before it
        for n, job in enumerate(jobs):
            finer = grids[n - 1].values() if n else None
            job.prev = native.padded_previous(previous_grid(finer, grids[n].values().shape),
                                              arch.entropy.prev_kernel)
            kernels.decode_grids([job], threads)
    elif jobs:
        kernels.decode_grids(jobs, threads)
    times.latents = time.perf_counter() - phase
    phase = time.perf_counter()
    latents = [g.values() for g in grids]
    pixels = synthesise_native(arch, image, nets.mlp, nets.residual, latents, threads)
    times.synthesis = time.perf_counter() - phase
    return pixels, latents


def exact_networks(f: C3File, use_native: bool) -> ExactNetworks:
    """The file's networks as exact layers (decoded by the compiled kernels or by
    constriction)."""
    shapes = network_shapes(f.arch, f.image.channels)
    n_syn = num_synthesis_tensors(f.arch)
    values = (decode_tensors(f.synthesis_params, f.tensor_codes[:n_syn], shapes[:n_syn], not use_native)
              + decode_tensors(f.entropy_params, f.tensor_codes[n_syn:], shapes[n_syn:], not use_native))
    return split_layers(f.arch, int_layers(values, f.w_step, f.b_step))


def video_latents_native(f: C3File, nets: ExactNetworks, shapes: list[tuple[int, int, int]],
                         threads: int) -> list[np.ndarray]:
    """A video patch's latent grids ((frames, h, w) each) by the compiled decoder: latent frame
    t of every grid that has one, their waves together on ``threads`` threads, then frame
    t + 1; each grid's frames resume its one stream, and read the previous frame as context."""
    arch = f.arch
    half, kernel = arch.entropy.context // 2, arch.entropy.prev_frame
    count = scale_grid(arch).count
    tables = [native.GridTable.empty(r, count) for r in f.latents.symbol_ranges]
    states = [native.StreamState(stream) for stream in f.latents.streams]
    kernels = native.ArmKernels(nets.entropy.arms, arch, count)
    grids = [np.zeros(shape, dtype=np.int32) for shape in shapes]
    for t in range(max(shape[0] for shape in shapes)):
        jobs, active = [], [n for n, shape in enumerate(shapes) if t < shape[0]]
        for n in active:
            prev = video_previous(grids[n][t - 1] if t else None, arch, n, shapes[n][1:])
            jobs.append(native.GridDecode(native.PaddedGrid.empty(shapes[n][1:], half),
                                          native.padded_previous(prev, kernel), tables[n], states[n],
                                          arch.arm_index(n)))
        kernels.decode_grids(jobs, threads)
        for n, job in zip(active, jobs):
            grids[n][t] = job.grid.values()
    return grids


def decode_parsed(f: C3File, chunk: int = DEFAULT_CHUNK, reference: bool = False,
                  threads: int | None = None, times: DecodeTimes | None = None
                  ) -> tuple[Picture, list[np.ndarray]]:
    """Decode a parsed file; also returns the integer latents (for inspection and tests).

    ``reference`` forces the numpy decoder; ``threads`` (default :func:`runtime.threads`) is
    the number of threads the compiled decoder uses; neither changes the pixels."""
    times = times if times is not None else DecodeTimes()
    start = time.perf_counter()
    use_native = not reference and native.available()
    times.implementation = "native" if use_native else "reference"
    try:
        nets = exact_networks(f, use_native)
        times.parameters = time.perf_counter() - start
        if use_native:
            count = threads or runtime.threads()
            times.threads = count
            pixels, latents = decode_native(f, nets, count, times)
        else:
            phase = time.perf_counter()
            latent_shapes = f.arch.latents.grid_shapes((f.image.height, f.image.width))
            latents = decode_latents(nets.entropy, f.latents, latent_shapes, f.arch)
            times.latents = time.perf_counter() - phase
            phase = time.perf_counter()
            pixels = reconstruct_reference(f.arch, (f.image.height, f.image.width), f.image.max_value,
                                           nets.mlp, nets.residual, latents, chunk)
            pixels = pixels.astype(pixel_dtype(f.image.bit_depth))
            times.synthesis = time.perf_counter() - phase
    except (ValueError, RuntimeError, OverflowError, IndexError) as exc:
        raise BitstreamError(f"corrupted coded data ({exc})") from None
    times.total = time.perf_counter() - start
    return Picture(pixels, f.image.bit_depth), latents


def decode(data: bytes, chunk: int = DEFAULT_CHUNK, reference: bool = False,
           threads: int | None = None, times: DecodeTimes | None = None) -> Picture:
    """Decode the bytes of a .c3 file to a picture; raises BitstreamError on invalid input."""
    start = time.perf_counter()
    f = read(data)
    parse = time.perf_counter() - start
    picture = decode_parsed(f, chunk, reference, threads, times)[0]
    if times is not None:
        times.parse = parse
        times.total += parse
    return picture


__all__ = ["decode", "decode_parsed", "reconstruct", "split_layers", "network_shapes",
           "DecodeTimes", "LatentStreams"]
