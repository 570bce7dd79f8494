"""The ``.c3v`` video container (documented in docs/bitstream.md).

    magic "C3VD" | version | frames | height | width | RGB bit depth | fps (numerator,
    denominator) | YUV format of the source | patch counts along time, rows, columns |
    per patch: payload length, CRC-32 of the payload | CRC-32 of all preceding bytes |
    the patch payloads, time slab after time slab, each slab's patches row-major

A video is split into patches (C3 section 3.3) along each axis as evenly as possible (the
boundaries follow from the sizes and the counts, so only the counts are stored); each patch is an
independent model whose payload is the body of a ``.c3`` file (``bitstream.write_body``: its
architecture with the previous-frame window, networks and latent streams). The small header and
the patch table come first, and each payload carries its own CRC, so a decoder can check and
decode the patches of one time slab, write its frames and forget them before reading the next:
streaming, with memory bounded by one slab, whatever the video's length.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction

from ..io.colour import CHROMAS, MATRICES, YuvFormat
from .bitstream import MAX_PIXELS, MAX_SIDE, BitstreamError, ImageInfo, _Reader, _Writer

MAGIC = b"C3VD"
VERSION = 1
MAX_FRAMES = 1 << 20
MAX_PATCHES = 1 << 16
MAX_PAYLOAD = 1 << 31
MATRIX_CODES = tuple(MATRICES)


@dataclass(frozen=True)
class VideoHeader:
    """What a decoder needs before the first patch: the video's size and format, the patches."""

    frames: int
    height: int
    width: int
    bit_depth: int  # of the RGB frames the codec fits: 8, or 16 for deeper sources
    fps: Fraction
    yuv: YuvFormat | None  # the source's YUV format, which decoded frames are written in; None: RGB
    patch_counts: tuple[int, int, int]  # patches along time, rows, columns

    def __post_init__(self) -> None:
        if not (0 < self.frames <= MAX_FRAMES and 0 < self.height <= MAX_SIDE and 0 < self.width <= MAX_SIDE
                and self.height * self.width <= MAX_PIXELS):
            raise BitstreamError(f"absurd video size {self.width}x{self.height}, {self.frames} frames")
        if self.bit_depth not in (8, 16):
            raise BitstreamError(f"unsupported RGB bit depth {self.bit_depth}")
        if not self.fps > 0:
            raise BitstreamError("frame rate must be positive")
        counts = self.patch_counts
        if not all(1 <= c <= n for c, n in zip(counts, (self.frames, self.height, self.width))):
            raise BitstreamError(f"patch counts {counts} do not fit the video")
        if counts[0] * counts[1] * counts[2] > MAX_PATCHES:
            raise BitstreamError(f"too many patches ({counts[0] * counts[1] * counts[2]})")

    @property
    def image(self) -> ImageInfo:
        """A frame's format, as the image codec describes it."""
        return ImageInfo(self.height, self.width, 3, self.bit_depth)

    def patches(self) -> list[tuple[slice, slice, slice]]:
        """(frames, rows, columns) of every patch, in file order."""
        t, h, w = (split(n, c) for n, c in zip((self.frames, self.height, self.width), self.patch_counts))
        return [(a, b, c) for a in t for b in h for c in w]

    def slabs(self) -> list[slice]:
        """The time slabs: frame ranges whose patches are stored together."""
        return split(self.frames, self.patch_counts[0])


def split(size: int, count: int) -> list[slice]:
    """``count`` contiguous ranges covering ``range(size)``, their lengths differing by at most 1."""
    bounds = [size * k // count for k in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def write(header: VideoHeader, payloads: list[bytes]) -> bytes:
    """The whole container, from the header and the payloads in :meth:`VideoHeader.patches`
    order."""
    if len(payloads) != len(header.patches()):
        raise ValueError(f"{len(payloads)} payloads for {len(header.patches())} patches")
    w = _Writer()
    w.buf += MAGIC
    w.uint(VERSION)
    for value in (header.frames, header.height, header.width, header.bit_depth,
                  header.fps.numerator, header.fps.denominator):
        w.uint(value)
    yuv = header.yuv
    w.uint(0 if yuv is None else 1 + CHROMAS.index(yuv.chroma))
    if yuv is not None:
        w.uint(yuv.bit_depth)
        w.uint(MATRIX_CODES.index(yuv.matrix))
        w.uint(int(yuv.full_range))
    for count in header.patch_counts:
        w.uint(count)
    for payload in payloads:
        w.uint(len(payload))
        w.buf += struct.pack("<I", zlib.crc32(payload))
    w.buf += struct.pack("<I", zlib.crc32(w.buf))
    return bytes(w.buf) + b"".join(payloads)


def read_header(data: bytes) -> tuple[VideoHeader, list[tuple[int, int, int]]]:
    """The header and the patch table ((offset, length, CRC) of each payload) of the container
    ``data`` (payloads are checked when read: :func:`payload`; bytes beyond the last are an
    error). Raises :class:`BitstreamError` naming the problem."""
    if data[: len(MAGIC)] != MAGIC:
        raise BitstreamError("not a C3 video file (wrong magic bytes)")
    r = _Reader(data, len(MAGIC))
    version = r.uint(255, "format version")
    if version != VERSION:
        raise BitstreamError(f"unsupported video format version {version} (this decoder reads {VERSION})")
    frames = r.uint(MAX_FRAMES, "frame count")
    height, width = r.uint(MAX_SIDE, "frame height"), r.uint(MAX_SIDE, "frame width")
    bit_depth = r.uint(16, "bit depth")
    fps = (r.uint(1 << 30, "frame rate numerator"), r.uint(1 << 30, "frame rate denominator"))
    if fps[1] == 0:
        raise BitstreamError("frame rate denominator is 0")
    chroma = r.uint(len(CHROMAS), "chroma format")
    yuv = None
    if chroma:
        try:
            yuv = YuvFormat(CHROMAS[chroma - 1], r.uint(16, "YUV bit depth"),
                            MATRIX_CODES[r.uint(len(MATRIX_CODES) - 1, "colour matrix")],
                            bool(r.uint(1, "full-range flag")))
        except ValueError as exc:
            raise BitstreamError(f"invalid YUV format: {exc}") from None
    counts = tuple(r.uint(MAX_PATCHES, "patch count") for _ in range(3))
    header = VideoHeader(frames, height, width, bit_depth, Fraction(*fps), yuv, counts)  # type: ignore[arg-type]
    table = []
    for _ in range(counts[0] * counts[1] * counts[2]):
        length = r.uint(MAX_PAYLOAD, "patch length")
        (crc,) = struct.unpack("<I", r.take(4))
        table.append((length, crc))
    (crc,) = struct.unpack("<I", r.take(4))
    if zlib.crc32(data[: r.pos - 4]) != crc:
        raise BitstreamError("video header is corrupted (CRC mismatch)")
    offsets, offset = [], r.pos
    for length, crc in table:
        offsets.append((offset, length, crc))
        offset += length
    if offset < len(data):
        raise BitstreamError("file has trailing bytes after the last patch")
    return header, offsets


def payload(data: bytes, table: list[tuple[int, int, int]], index: int) -> bytes:
    """Patch ``index``'s payload, checked against its length and CRC."""
    offset, length, crc = table[index]
    if offset + length > len(data):
        raise BitstreamError(f"file is truncated (patch {index} is incomplete)")
    chunk = data[offset: offset + length]
    if zlib.crc32(chunk) != crc:
        raise BitstreamError(f"patch {index} is corrupted (CRC mismatch)")
    return chunk
