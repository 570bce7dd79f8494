"""The ``.c3`` file format (documented in docs/bitstream.md).

    magic "C3IM" | version | image info | architecture config | parameter steps |
    per-tensor (scale index, symbol range) | per-grid (symbol range, stream length) |
    synthesis and ARM parameter stream lengths | synthesis parameter stream |
    ARM parameter stream | latent streams, finest grid first | CRC-32 of all preceding bytes

Integers are unsigned LEB128 varints unless said otherwise, reals are little-endian float64 so
that the decoder uses bit-identical constants. The reader checks every field against a limit
before allocating anything, and the CRC makes any corruption an error instead of a wrong image.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, replace

from ..config import MAX_FRAME_OFFSET, ArchitectureConfig, ConfigError, EntropyConfig, LatentConfig, SynthesisConfig
from .latents import LatentStreams
from .parameters import MAX_PARAM_RANGE, TensorCode
from .tables import MAX_SYMBOL_RANGE, PARAM_SCALE_LEVELS

MAGIC = b"C3IM"
VERSION = 1  # C3: every grid coded by the ARM
VERSION_MARM = 2  # version 1 + MARM's ARU grids (their count and network widths in the header)
MAX_SIDE = 1 << 16
MAX_PIXELS = 1 << 26  # 64 Mpixel: larger headers are rejected as absurd
MAX_STREAM = 1 << 31


class BitstreamError(ValueError):
    """The file is not a valid .c3 file (wrong magic, unknown version, truncated, corrupted)."""


@dataclass(frozen=True)
class ImageInfo:
    height: int
    width: int
    channels: int  # 1 (grey), 3 (RGB) or 4 (RGBA)
    bit_depth: int  # 8 or 16

    @property
    def max_value(self) -> int:
        return (1 << self.bit_depth) - 1


@dataclass
class C3File:
    image: ImageInfo
    arch: ArchitectureConfig
    w_step: float
    b_step: float
    tensor_codes: list[TensorCode]
    synthesis_params: bytes  # range-coded synthesis weights and biases
    entropy_params: bytes  # range-coded ARM weights and biases
    latents: LatentStreams
    header_bytes: int = 0  # set by write/read: everything except the coded streams


class _Writer:
    def __init__(self) -> None:
        self.buf = bytearray()

    def uint(self, value: int) -> None:
        if value < 0:
            raise ValueError("negative varint")
        while True:
            byte = value & 0x7F
            value >>= 7
            self.buf.append(byte | (0x80 if value else 0))
            if not value:
                return

    def real(self, value: float) -> None:
        self.buf += struct.pack("<d", value)

    def widths(self, widths: tuple[int, ...]) -> None:
        self.uint(len(widths))
        for w in widths:
            self.uint(w)


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BitstreamError("file is truncated")
        out = self.data[self.pos: self.pos + n]
        self.pos += n
        return out

    def uint(self, limit: int, what: str) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 35:
                raise BitstreamError(f"malformed integer for {what}")
        if value > limit:
            raise BitstreamError(f"{what} = {value} exceeds the limit {limit}")
        return value

    def real(self, what: str) -> float:
        (value,) = struct.unpack("<d", self.take(8))
        if value != value or value in (float("inf"), float("-inf")):
            raise BitstreamError(f"{what} is not a finite number")
        return value

    def widths(self, what: str) -> tuple[int, ...]:
        n = self.uint(8, f"{what} depth")
        return tuple(self.uint(255, f"{what} width") for _ in range(n))


def _write_arch(w: _Writer, arch: ArchitectureConfig) -> None:
    lat, syn, ent = arch.latents, arch.synthesis, arch.entropy
    w.uint(lat.num_grids)
    w.real(lat.step)
    w.uint(int(lat.drop_finest))
    w.real(lat.gain_factor)
    w.widths(syn.widths)
    w.uint(syn.num_residual)
    w.uint(syn.residual_kernel)
    w.widths(ent.widths)
    w.uint(ent.context)
    w.uint(int(ent.use_prev_grid) | int(ent.per_grid) << 1)  # bit 1: one ARM per grid
    w.uint(ent.prev_kernel)
    w.real(ent.log_scale_shift)
    w.real(ent.log_scale_min)
    w.real(ent.log_scale_max)
    if ent.aru_grids:
        w.uint(ent.aru_grids)
        w.widths(ent.aru_widths)


def _zigzag(value: int) -> int:
    """Signed -> unsigned: 0, -1, 1, -2, 2 ... -> 0, 1, 2, 3, 4 ..."""
    return 2 * value if value >= 0 else -2 * value - 1


def _unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


def format_version(arch: ArchitectureConfig) -> int:
    """Files without ARU grids keep version 1, so that decoders from before MARM read them."""
    return VERSION_MARM if arch.entropy.aru_grids else VERSION


def _read_arch(r: _Reader, version: int) -> ArchitectureConfig:
    try:
        latents = LatentConfig(num_grids=r.uint(12, "number of grids"), step=r.real("latent step"),
                               drop_finest=bool(r.uint(1, "drop-finest flag")),
                               gain_factor=r.real("gain factor"))
        synthesis = SynthesisConfig(widths=r.widths("synthesis"),
                                    num_residual=r.uint(8, "residual layers"),
                                    residual_kernel=r.uint(9, "residual kernel"))
        widths, context, flags = r.widths("entropy model"), r.uint(9, "context"), r.uint(3, "ARM flags")
        entropy = EntropyConfig(widths=widths, context=context, use_prev_grid=bool(flags & 1),
                                per_grid=bool(flags & 2),
                                prev_kernel=r.uint(9, "previous-grid kernel"),
                                log_scale_shift=r.real("log-scale shift"),
                                log_scale_min=r.real("log-scale minimum"),
                                log_scale_max=r.real("log-scale maximum"))
        if version == VERSION_MARM:
            entropy = replace(entropy, aru_grids=r.uint(12, "ARU grids"), aru_widths=r.widths("ARU"))
            if entropy.aru_grids == 0:
                raise ConfigError("a MARM file must have ARU grids")
        return ArchitectureConfig(latents, synthesis, entropy)
    except ConfigError as exc:
        raise BitstreamError(f"invalid architecture in header: {exc}") from None


def num_synthesis_tensors(arch: ArchitectureConfig) -> int:
    """Weights and biases of the synthesis (MLP and residual convs), sent first."""
    return 2 * (len(arch.synthesis.widths) + 1 + arch.synthesis.num_residual)


def num_tensors(arch: ArchitectureConfig) -> int:
    """All weights and biases sent: synthesis, then the ARM networks (none when the ARU codes
    every grid, one per ARM grid with ``per_grid``), then the ARU's two networks (with MARM)."""
    ent = arch.entropy
    arm = 2 * (len(ent.widths) + 1) * arch.num_arms
    aru = 4 * (len(ent.aru_widths) + 1) if ent.aru_grids else 0
    return num_synthesis_tensors(arch) + arm + aru


def write(f: C3File) -> bytes:
    w = _Writer()
    w.buf += MAGIC
    w.uint(format_version(f.arch))
    w.uint(f.image.height)
    w.uint(f.image.width)
    w.uint(f.image.channels)
    w.uint(f.image.bit_depth)
    prefix = len(w.buf)
    write_body(w, f)
    w.buf += struct.pack("<I", zlib.crc32(w.buf))
    f.header_bytes += prefix + 4  # the image info and the CRC
    return bytes(w.buf)


def write_body(w: _Writer, f: C3File, video: bool = False) -> None:
    """Everything after the image info: architecture (a video patch's also has its
    previous-frame window), parameter steps and codes, stream lengths, then the streams. Sets
    ``f.header_bytes`` to the bytes written before the streams."""
    start = len(w.buf)
    _write_arch(w, f.arch)
    if video:
        w.uint(f.arch.entropy.prev_frame)
        offsets = f.arch.entropy.prev_frame_offsets
        w.uint(len(offsets))
        for offset in offsets:
            w.uint(offset is not None)
            if offset is not None:
                w.uint(_zigzag(offset[0]))
                w.uint(_zigzag(offset[1]))
    w.real(f.w_step)
    w.real(f.b_step)
    for code in f.tensor_codes:
        w.uint(code.scale_index)
        w.uint(code.symbol_range)
    for symbol_range, stream in zip(f.latents.symbol_ranges, f.latents.streams):
        w.uint(symbol_range)
        w.uint(len(stream))
    w.uint(len(f.synthesis_params))
    w.uint(len(f.entropy_params))
    f.header_bytes = len(w.buf) - start
    w.buf += f.synthesis_params
    w.buf += f.entropy_params
    for stream in f.latents.streams:
        w.buf += stream


def read(data: bytes) -> C3File:
    """Parse and validate a .c3 file; raises :class:`BitstreamError` naming the problem."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise BitstreamError("not a C3 file (wrong magic bytes)")
    r = _Reader(data, len(MAGIC))
    version = r.uint(255, "format version")
    if version not in (VERSION, VERSION_MARM):
        raise BitstreamError(f"unsupported format version {version} (this decoder reads {VERSION} "
                             f"and {VERSION_MARM})")
    height = r.uint(MAX_SIDE, "image height")
    width = r.uint(MAX_SIDE, "image width")
    if height == 0 or width == 0 or height * width > MAX_PIXELS:
        raise BitstreamError(f"absurd image size {width}x{height}")
    channels = r.uint(4, "channels")
    bit_depth = r.uint(16, "bit depth")
    if channels not in (1, 3, 4) or bit_depth not in (8, 16):
        raise BitstreamError(f"unsupported image format: {channels} channels, {bit_depth} bit")
    if len(data) < r.pos + 4:
        raise BitstreamError("file is truncated")
    f = read_body(_Reader(data[:-4], r.pos), ImageInfo(height, width, channels, bit_depth), version)
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise BitstreamError("file is corrupted (CRC mismatch)")
    f.header_bytes += r.pos + 4
    return f


def read_body(r: _Reader, image: ImageInfo, version: int, video: bool = False) -> C3File:
    """Parse what :func:`write_body` wrote, up to the end of ``r``'s data (which must hold
    exactly the streams the lengths announce)."""
    start = r.pos
    arch = _read_arch(r, version)
    if video:
        try:
            window = r.uint(9, "previous-frame window")
            offsets = []
            for _ in range(r.uint(arch.latents.num_grids, "previous-frame offsets")):
                if r.uint(1, "previous-frame flag"):
                    offsets.append(tuple(_unzigzag(r.uint(2 * MAX_FRAME_OFFSET, "previous-frame offset"))
                                         for _ in range(2)))
                else:
                    offsets.append(None)
            arch = replace(arch, entropy=replace(arch.entropy, prev_frame=window, prev_frame_offsets=tuple(offsets)))
        except ConfigError as exc:
            raise BitstreamError(f"invalid architecture in header: {exc}") from None
    w_step, b_step = r.real("weight step"), r.real("bias step")
    if not (0 < w_step < 1 and 0 < b_step < 1):
        raise BitstreamError("parameter quantisation steps out of range")
    codes = [TensorCode(r.uint(PARAM_SCALE_LEVELS - 1, "parameter scale index"),
                        r.uint(MAX_PARAM_RANGE, "parameter range"))
             for _ in range(num_tensors(arch))]
    ranges, lengths = [], []
    for _ in range(arch.latents.num_grids):
        ranges.append(r.uint(MAX_SYMBOL_RANGE, "latent symbol range"))
        lengths.append(r.uint(MAX_STREAM, "latent stream length"))
    syn_len = r.uint(MAX_STREAM, "synthesis parameter stream length")
    ent_len = r.uint(MAX_STREAM, "entropy parameter stream length")
    header_bytes = r.pos - start
    if r.pos + syn_len + ent_len + sum(lengths) != len(r.data):
        raise BitstreamError("file is truncated or has trailing bytes (stream lengths disagree)")
    syn_params, ent_params = r.take(syn_len), r.take(ent_len)
    streams = [r.take(n) for n in lengths]
    return C3File(image, arch, w_step, b_step, codes, syn_params, ent_params, LatentStreams(ranges, streams),
                  header_bytes)
