"""Decoding ``.c3v`` videos (see :mod:`c3codec.video_encoder` for the model): the header and
patch table first, then time slab by time slab, each slab's patches decoded (their latents by
the compiled decoder where it builds, else the numpy reference) and their frames yielded one at
a time. No PyTorch: decoding needs numpy and the compiled kernels only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from . import runtime
from .coding import bitstream, container
from .coding.bitstream import BitstreamError, C3File, ImageInfo
from .coding.container import VideoHeader
from .coding.latents import decode_latents
from .config import ArchitectureConfig, ConfigError
from .decoder import ExactNetworks, exact_networks, pixel_dtype, synthesise_native, video_latents_native
from .exact import native
from .exact.synthesis import frame_grids, reconstruct_frame

MAX_VIDEO_GRIDS = 8
"""Trilinear upsampling by 2**e gives latents in multiples of 2**-(3 e + 3): with |latent| <
2**24 they stay exact in float64 up to e = 8 (9 grids); 8 keeps a margin."""


def check_video_architecture(arch: ArchitectureConfig) -> None:
    if not arch.entropy.prev_frame:
        raise ConfigError("a video architecture needs the previous-frame context (prev_frame > 0)")
    if max(arch.latents.exponents) >= MAX_VIDEO_GRIDS:
        raise ConfigError(f"videos use at most {MAX_VIDEO_GRIDS} latent grids (exact trilinear upsampling)")


def patch_frame(arch: ArchitectureConfig, size: tuple[int, int, int], bit_depth: int, nets: ExactNetworks,
                latents: list[np.ndarray], t: int, threads: int | None = None, reference: bool = False
                ) -> np.ndarray:
    """Frame ``t`` of a patch of ``size`` (frames, rows, columns) from its exact networks and
    integer latents: (rows, columns, 3) pixels, as the decoder writes them.

    By the compiled kernels where they build: the frame's temporally mixed grids times
    2**(e_max + 1) are integers, which the image synthesis kernel takes with its first layer's
    unit divided by the same power of two (bit-identical, ``native.SynthesisKernels``). Else,
    or for latents too large for 32 bits once scaled, or with ``reference``, the numpy
    reference."""
    if not reference and native.available():
        scale = 2 ** (max(arch.latents.exponents) + 1)
        scaled = [g * scale for g in frame_grids(latents, arch, size[0], t)]
        if max(np.abs(g).max() for g in scaled) < 2**31:
            grids = [np.ascontiguousarray(g, dtype=np.int32) for g in scaled]
            return synthesise_native(arch, ImageInfo(size[1], size[2], 3, bit_depth), nets.mlp, nets.residual,
                                     grids, threads, input_scale=scale)
    max_value = (1 << bit_depth) - 1
    return reconstruct_frame(arch, size, max_value, nets.mlp, nets.residual, latents, t).astype(
        pixel_dtype(bit_depth))


@dataclass
class DecodedPatch:
    """A patch's exact networks and integer latents: what its frames are synthesised from."""

    arch: ArchitectureConfig
    size: tuple[int, int, int]  # frames, rows, columns
    nets: ExactNetworks
    latents: list[np.ndarray]


def decode_patch_latents(payload: bytes, header: VideoHeader, frames: slice, rows: slice, cols: slice,
                         reference: bool = False) -> DecodedPatch:
    """A patch's networks and latents from its payload. On one thread: a latent frame's waves
    hold a few dozen latents, too few to share between threads (the per-wave handoff cost more
    than the work: 10x slower on a busy 2-core machine); a slab's patches decode in parallel
    instead."""
    size = (frames.stop - frames.start, rows.stop - rows.start, cols.stop - cols.start)
    f = read_patch(payload, header, size)
    use_native = not reference and native.available()
    try:
        nets = exact_networks(f, use_native)
        shapes = f.arch.latents.grid_shapes(size)
        if use_native:
            latents = video_latents_native(f, nets, shapes, 1)
        else:
            latents = decode_latents(nets.entropy, f.latents, shapes, f.arch)
    except (ValueError, RuntimeError, OverflowError, IndexError) as exc:
        raise BitstreamError(f"corrupted coded data ({exc})") from None
    return DecodedPatch(f.arch, size, nets, latents)


def read_patch(payload: bytes, header: VideoHeader, size: tuple[int, int, int]) -> C3File:
    """Parse a patch payload (architecture, networks, latent streams) of a patch of ``size``."""
    f = bitstream.read_body(bitstream._Reader(payload), ImageInfo(size[1], size[2], 3, header.bit_depth),
                            bitstream.VERSION, video=True)
    try:
        check_video_architecture(f.arch)
    except ConfigError as exc:
        raise BitstreamError(f"invalid architecture in patch: {exc}") from None
    return f


def read_video(data: bytes) -> tuple[VideoHeader, list[bytes]]:
    """The header and every patch payload (each checked against its CRC)."""
    header, table = container.read_header(data)
    return header, [container.payload(data, table, k) for k in range(len(table))]


def decode_video(data: bytes, threads: int | None = None, reference: bool = False
                 ) -> tuple[VideoHeader, Iterator[np.ndarray]]:
    """The header of a ``.c3v`` file and an iterator over its decoded RGB frames ((H, W, 3)
    uint8 or uint16), produced time slab by time slab: each slab's patches are decoded, its
    frames assembled and yielded, then forgotten. The header and patch table are checked
    before the first frame; a corrupt patch raises :class:`BitstreamError` when reached."""
    header, table = container.read_header(data)
    per_slab = header.patch_counts[1] * header.patch_counts[2]
    patches = header.patches()
    dtype = pixel_dtype(header.bit_depth)

    def frames() -> Iterator[np.ndarray]:
        for s, slab in enumerate(header.slabs()):
            first = s * per_slab
            decoded: list[DecodedPatch | BaseException | None] = [None] * per_slab

            def work(i: int) -> None:
                ft, fr, fc = patches[first + i]
                try:
                    decoded[i] = decode_patch_latents(container.payload(data, table, first + i), header, ft, fr, fc,
                                                      reference)
                except BitstreamError as exc:
                    decoded[i] = exc

            runtime.share_chunks(work, per_slab, threads)
            for result in decoded:
                if isinstance(result, BaseException):
                    raise result
            for t in range(slab.stop - slab.start):
                frame = np.empty((header.height, header.width, 3), dtype=dtype)
                for k, patch in enumerate(decoded):
                    _, fr, fc = patches[first + k]
                    try:
                        frame[fr, fc] = patch_frame(patch.arch, patch.size, header.bit_depth, patch.nets,
                                                    patch.latents, t, threads, reference)
                    except (ValueError, OverflowError) as exc:
                        raise BitstreamError(f"corrupted coded data ({exc})") from None
                yield frame

    return header, frames()


def describe(data: bytes) -> dict:
    """What ``c3 info`` shows about a ``.c3v`` file: the video, and per patch its place, bytes
    per grid and architecture."""
    from .evaluation.macs import macs_per_pixel

    header, payloads = read_video(data)
    rows = []
    for (ft, fr, fc), payload in zip(header.patches(), payloads):
        size = (ft.stop - ft.start, fr.stop - fr.start, fc.stop - fc.start)
        f = read_patch(payload, header, size)
        rows.append({"frames": f"{ft.start}:{ft.stop}", "rows": f"{fr.start}:{fr.stop}",
                     "cols": f"{fc.start}:{fc.stop}", "bytes": len(payload),
                     "grid_bytes": [len(s) for s in f.latents.streams],
                     "network_bytes": len(f.synthesis_params) + len(f.entropy_params),
                     "macs_per_pixel": macs_per_pixel(f.arch, size[1], size[2], 3, frames=size[0])["total"],
                     "architecture": f.arch})
    seconds = header.frames / float(header.fps)
    return {"header": header, "bytes": len(data), "bpp": 8.0 * len(data) / (header.frames * header.height * header.width),
            "kbps": 8.0 * len(data) / seconds / 1000.0, "patches": rows}
