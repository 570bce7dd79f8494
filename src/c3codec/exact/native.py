"""The compiled exact decoder (``native.c``): ctypes bindings.

The kernels compute exactly what the numpy reference computes (see native.c for why that holds
whatever the compiler and the CPU), without image-sized temporaries: the ARM and the range
decoding of one grid in a single call (``decode_grid``), the encoder's ARM pass over rows of a
complete grid (``snap_rows``), and the upsampling and synthesis of a band of pixel rows
(``synthesise_rows``). ctypes releases the GIL during each call, so Python threads run them in
parallel. ``library()`` is None without a C compiler or with ``C3CODEC_NATIVE=0``; callers then
use the numpy reference.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import compiled
from ..config import ArchitectureConfig
from ..coding.tables import MU_STEPS, ScaleGrid
from .aru import anchor_mask, level_encoding, position_encoding
from .arithmetic import EXP_COEFFS, ONE, IntLayer, gelu_delta, input_limit
from .arm import clip_bounds, context_fraction_bits
from .synthesis import upsampled_fraction_bits

SOURCE = Path(__file__).with_name("native.c")
# No -ffast-math and no FP contraction: every rounding must be the one numpy does.
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-pthread", "-shared", "-fPIC")
MAX_DEPTH = 8  # as in native.c
MAX_WIDTH = 256
MAX_GRIDS = 12
MAX_RESIDUAL = 8

_P, _INT, _I64, _D = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_double

ERRORS = {1: "invalid range-coded data", 2: "values too large for exact arithmetic (parameters or "
          "latents out of range)", 3: "a latent is out of range", 4: "invalid probability table",
          5: "out of memory", 6: "network shapes do not fit the decoder"}


class NativeError(ValueError):
    """A kernel refused the data; the message says why (corrupt or forged file, no memory)."""


def check(status: int) -> None:
    if status:
        raise NativeError(ERRORS.get(status, f"decoder error {status}"))


class _Network(ctypes.Structure):
    _fields_ = [("depth", _INT), ("widths", _INT * (MAX_DEPTH + 1)), ("weight", _P * MAX_DEPTH),
                ("bias", _P * MAX_DEPTH), ("scale", _D * MAX_DEPTH), ("limit", _D * MAX_DEPTH)]


class _Residual(ctypes.Structure):
    _fields_ = [("count", _INT), ("kernel", _INT), ("channels", _INT),
                ("weight", _P * MAX_RESIDUAL), ("bias", _P * MAX_RESIDUAL),
                ("scale", _D * MAX_RESIDUAL), ("limit", _D * MAX_RESIDUAL)]


class _Gelu(ctypes.Structure):
    _fields_ = [("e", _P), ("k0", _I64)]


class _Snap(ctypes.Structure):
    _fields_ = [("step", _D), ("shift", _D), ("v_low", _D), ("v_high", _D), ("log_min", _D),
                ("scale_count", _INT)]


class _Laplace(ctypes.Structure):
    _fields_ = [("mu", _P), ("scale", _P), ("coeffs", _P)]


class _GridJob(ctypes.Structure):
    _fields_ = [("arm", _P), ("h", _INT), ("w", _INT), ("buffer", _P), ("prev", _P), ("cdf", _P), ("ready", _P),
                ("symbol_range", _INT), ("words", _P), ("num_words", _I64), ("state", _P)]


class _AruGrid(ctypes.Structure):
    _fields_ = [("h", _INT), ("w", _INT), ("grid", _P), ("grid_stride", _I64), ("parent", _P),
                ("parent_stride", _I64), ("ph", _INT), ("pw", _INT), ("parent_mu", _P),
                ("parent_raw", _P), ("pe_y", _P), ("pe_x", _P), ("level", _D), ("first_mu", _P),
                ("first_raw", _P)]


class _RangeDecoder(ctypes.Structure):
    _fields_ = [("lower", ctypes.c_uint64), ("range", ctypes.c_uint64), ("point", ctypes.c_uint64),
                ("words", _P), ("pos", _I64), ("count", _I64)]


class _Latents(ctypes.Structure):
    _fields_ = [("num_grids", _INT), ("data", _P * MAX_GRIDS), ("stride", _I64 * MAX_GRIDS),
                ("height", _INT * MAX_GRIDS), ("width", _INT * MAX_GRIDS),
                ("exponent", _INT * MAX_GRIDS)]


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The loaded decoder library, or None (disabled, no compiler, or the build failed)."""
    lib = compiled.load(SOURCE, FLAGS, "decoding uses the slower numpy reference")
    if lib is None:
        return None
    lib.c3_quantize_rows.argtypes = [_P, _I64, _INT, _P]
    lib.c3_range_decode.argtypes = [_P, _I64, _P, _INT, _P, _I64, _P]
    lib.c3_decode_grids.argtypes = [_P, _P, _P, _INT, _INT, _INT, _P, _INT]
    lib.c3_laplace_row.argtypes = [_P, _INT, _INT, _INT, _P, _P]
    lib.c3_aru_rows.argtypes = [_P, _P, _P, _P, _INT, _INT, _INT, _INT, _P, _P, _P, _P, _P]
    lib.c3_decoder_start.argtypes = [_P, _P, _I64]
    lib.c3_decoder_start.restype = None
    lib.c3_decode_list.argtypes = [_P, _P, _P, _P, _INT, _INT, _I64, _P, _P, _P, _P]
    lib.c3_decode_params.argtypes = [_P, _I64, _INT, _P, _P, _P, _P, _P]
    lib.c3_snap_rows.argtypes = [_P, _P, _P, _INT, _INT, _INT, _P, _P, _INT, _INT, _INT, _P, _P, _P]
    lib.c3_gelu.argtypes = [_P, _P, _I64, _P]
    lib.c3_gelu.restype = None
    lib.c3_synthesise_rows.argtypes = [_P, _P, _P, _P, _INT, _INT, _INT, _INT, _D, _P, _INT]
    return lib


def available() -> bool:
    return library() is not None


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


class Network:
    """An exact MLP for the kernels; keeps the arrays the structure points to alive."""

    def __init__(self, layers: list[IntLayer], in_unit: float, fraction_bits: int):
        if not layers or len(layers) > MAX_DEPTH:
            raise NativeError(ERRORS[6])
        widths = [layers[0].weight.shape[1], *(layer.weight.shape[0] for layer in layers)]
        if max(widths) > MAX_WIDTH:
            raise NativeError(ERRORS[6])
        self.arrays = []
        s = _Network()
        s.depth = len(layers)
        for i, w in enumerate(widths):
            s.widths[i] = w
        for i, layer in enumerate(layers):
            weight = np.ascontiguousarray(layer.weight, dtype=np.float64)
            bias = np.ascontiguousarray(layer.bias_fixed(), dtype=np.float64)
            self.arrays += [weight, bias]
            s.weight[i], s.bias[i] = _ptr(weight), _ptr(bias)
            s.scale[i] = layer.scale(in_unit)
            s.limit[i] = input_limit(layer, fraction_bits)
            in_unit, fraction_bits = 1.0 / ONE, 0
        self.struct = s
        self.widths = tuple(widths)


class ResidualLayers:
    """The synthesis's residual convolutions for the kernels."""

    def __init__(self, layers: list[IntLayer], channels: int, kernel: int):
        if len(layers) > MAX_RESIDUAL:
            raise NativeError(ERRORS[6])
        self.arrays = []
        s = _Residual()
        s.count, s.kernel, s.channels = len(layers), kernel, channels
        for i, layer in enumerate(layers):
            weight = np.ascontiguousarray(layer.weight, dtype=np.float64)
            bias = np.ascontiguousarray(layer.bias_fixed(), dtype=np.float64)
            self.arrays += [weight, bias]
            s.weight[i], s.bias[i] = _ptr(weight), _ptr(bias)
            s.scale[i] = layer.scale(1.0 / ONE)
            s.limit[i] = input_limit(layer)
        self.struct = s


@lru_cache(maxsize=1)
def _gelu() -> tuple[_Gelu, np.ndarray]:
    """native.c's GELU table: e = -delta (:func:`~.arithmetic.gelu_delta`, all in [0, 65535]),
    with two bytes of padding for the kernel's 4-byte gathers."""
    delta, k0 = gelu_delta()
    e = np.concatenate([-delta, [0]])
    if e.min() < 0 or e.max() > 0xFFFF:
        raise AssertionError("GELU corrections do not fit 16 bits")
    e = e.astype(np.uint16)
    return _Gelu(_ptr(e), k0), e


def _snap(arch: ArchitectureConfig, scale_count: int) -> _Snap:
    low, high = clip_bounds(arch.entropy)
    return _Snap(arch.latents.step, arch.entropy.log_scale_shift, low, high,
                 arch.entropy.log_scale_min, scale_count)


def quantize_rows(probabilities: np.ndarray) -> np.ndarray:
    """(..., n) float64 probability rows -> (..., n + 1) uint32 CDFs, as constriction's
    ``Categorical(perfect=False)`` quantises them."""
    p = np.ascontiguousarray(probabilities, dtype=np.float64)
    n = p.shape[-1]
    cdf = np.empty(p.shape[:-1] + (n + 1,), dtype=np.uint32)
    check(library().c3_quantize_rows(_ptr(p), p.size // n, n, _ptr(cdf)))
    return cdf


def gelu(x: np.ndarray) -> np.ndarray:
    """The compiled GELU of fixed-point values (for tests)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.empty_like(x)
    library().c3_gelu(ctypes.byref(_gelu()[0]), _ptr(x), x.size, _ptr(y))
    return y


def stream_words(stream: bytes) -> np.ndarray:
    if len(stream) % 4:
        raise NativeError("range-coded stream length is not a multiple of 4 bytes")
    return np.frombuffer(stream, dtype="<u4").astype(np.uint32)


def decode_params(stream: bytes, scales: list[float], ranges: list[int], sizes: list[int]) -> np.ndarray:
    """All integers of a parameter stream (tensor after tensor), as coding/parameters.py codes
    them: tensor t's under a zero-mean Laplace of scale ``scales[t]`` over [-R_t, R_t]."""
    words = stream_words(stream)
    scales_a = np.ascontiguousarray(scales, dtype=np.float64)
    ranges_a = np.ascontiguousarray(ranges, dtype=np.int32)
    sizes_a = np.ascontiguousarray(sizes, dtype=np.int64)
    coeffs = np.array(EXP_COEFFS, dtype=np.float64)
    values = np.empty(int(sizes_a.sum()), dtype=np.int64)
    check(library().c3_decode_params(_ptr(words), words.size, len(scales), _ptr(scales_a), _ptr(ranges_a),
                                     _ptr(sizes_a), _ptr(coeffs), _ptr(values)))
    return values


def range_decode(stream: bytes, cdf: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Symbols decoded with row ``rows[i]`` of ``cdf`` ((R, n + 1)): for testing the coder."""
    words = stream_words(stream)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    cdf = np.ascontiguousarray(cdf, dtype=np.uint32)
    out = np.empty(rows.size, dtype=np.int32)
    check(library().c3_range_decode(_ptr(words), words.size, _ptr(cdf), cdf.shape[-1] - 1,
                                    _ptr(rows), rows.size, _ptr(out)))
    return out


@dataclass
class PaddedGrid:
    """A grid in the layout the ARM kernels read: zero rows above, zero columns either side."""

    height: int
    width: int
    half: int
    buffer: np.ndarray  # (height + half, width + 2 half) int32

    @classmethod
    def empty(cls, shape: tuple[int, int], half: int) -> PaddedGrid:
        h, w = shape
        return cls(h, w, half, np.zeros((h + half, w + 2 * half), dtype=np.int32))

    @classmethod
    def of(cls, grid: np.ndarray, half: int) -> PaddedGrid:
        padded = cls.empty(grid.shape, half)
        padded.values()[...] = grid
        return padded

    def values(self) -> np.ndarray:
        """The grid itself, a view into the buffer."""
        return self.buffer[self.half:, self.half: self.half + self.width]


def padded_previous(down: np.ndarray, kernel: int) -> np.ndarray:
    """The downsampled previous grid, zero-padded by kernel // 2, as the ARM kernels read it."""
    return np.ascontiguousarray(np.pad(down.astype(np.float64), kernel // 2))


class LaplaceTable:
    """What the kernels need to build rows of a grid's probability table, as
    :func:`~c3codec.coding.tables.latent_table` computes them (its fractions and scales)."""

    def __init__(self, arch: ArchitectureConfig):
        grid = ScaleGrid(arch.entropy.log_scale_min, arch.entropy.log_scale_max)
        self.mu = (np.arange(MU_STEPS + 1, dtype=np.float64) - MU_STEPS // 2) / MU_STEPS
        self.scale = np.ascontiguousarray(grid.scales() / arch.latents.step)
        self.coeffs = np.array(EXP_COEFFS, dtype=np.float64)
        self.struct = _Laplace(_ptr(self.mu), _ptr(self.scale), _ptr(self.coeffs))

    def row(self, frac: int, scale: int, symbol_range: int) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, quantised CDF) of one row, from the kernels (for tests)."""
        p = np.empty(2 * symbol_range + 1)
        cdf = np.empty(2 * symbol_range + 2, dtype=np.uint32)
        check(library().c3_laplace_row(ctypes.byref(self.struct), frac, scale, symbol_range,
                                       _ptr(p), _ptr(cdf)))
        return p, cdf


@dataclass
class GridTable:
    """One grid's quantised CDF rows, built by the kernels the first time a row is used."""

    symbol_range: int
    cdf: np.ndarray  # (fractions, scales, 2R + 2) uint32
    ready: np.ndarray  # (fractions, scales) uint8

    @classmethod
    def empty(cls, symbol_range: int, scale_count: int) -> GridTable:
        return cls(symbol_range, np.empty((MU_STEPS + 1, scale_count, 2 * symbol_range + 2), np.uint32),
                   np.zeros((MU_STEPS + 1, scale_count), np.uint8))


class StreamState:
    """A range decoder's position in one stream, kept between calls: a video grid's latent
    frames share one stream and are decoded one frame per :meth:`ArmKernels.decode_grids`."""

    def __init__(self, stream: bytes):
        self.words = stream_words(stream)
        self.decoder = _RangeDecoder()
        library().c3_decoder_start(ctypes.byref(self.decoder), _ptr(self.words), self.words.size)


@dataclass
class GridDecode:
    """One grid to decode: where it goes, its context, its table and its stream (or, for the
    frames of a video grid, the shared state of its stream), and which of the kernels' ARMs
    codes it."""

    grid: PaddedGrid
    prev: np.ndarray | None
    table: GridTable
    stream: bytes | StreamState
    arm: int = 0


class ArmKernels:
    """The ARM networks (one, or one per grid) and the snapping of their outputs, for one
    file's networks and tables."""

    def __init__(self, arms: list[list[IntLayer]], arch: ArchitectureConfig, scale_count: int):
        self.arch = arch
        self.networks = [Network(layers, arch.latents.step, context_fraction_bits(arch.entropy))
                         for layers in arms]
        self.snap = _snap(arch, scale_count)
        self.gelu = _gelu()[0]
        self.laplace = LaplaceTable(arch)
        self.half = arch.entropy.context // 2
        self.lib = library()

    def decode_grids(self, jobs: list[GridDecode], threads: int) -> None:
        """Decode grids together from their streams into their buffers (zero on entry), on
        ``threads`` threads that share out every wave."""
        structs = (_GridJob * len(jobs))()
        words_of = [job.stream.words if isinstance(job.stream, StreamState) else stream_words(job.stream)
                    for job in jobs]
        for struct, job, words in zip(structs, jobs, words_of):
            struct.arm = ctypes.addressof(self.networks[job.arm].struct)
            struct.h, struct.w = job.grid.height, job.grid.width
            struct.buffer = _ptr(job.grid.buffer)
            struct.prev = None if job.prev is None else _ptr(job.prev)
            struct.cdf, struct.ready = _ptr(job.table.cdf), _ptr(job.table.ready)
            struct.symbol_range = job.table.symbol_range
            struct.words, struct.num_words = _ptr(words), words.size
            if isinstance(job.stream, StreamState):
                struct.state = ctypes.addressof(job.stream.decoder)
        check(self.lib.c3_decode_grids(
            ctypes.byref(self.gelu), ctypes.byref(self.snap),
            ctypes.byref(self.laplace.struct), self.half, self.arch.entropy.extra_kernel,
            len(jobs), structs, threads))

    def snap_rows(self, grid: PaddedGrid, prev: np.ndarray | None, rows: range, arm: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(shift, fraction index, scale index) of the latents of ``rows``, raster order, by
        ARM ``arm``."""
        count = len(rows) * grid.width
        shift = np.empty(count, dtype=np.float64)
        frac = np.empty(count, dtype=np.int32)
        scale = np.empty(count, dtype=np.int32)
        check(self.lib.c3_snap_rows(
            ctypes.byref(self.networks[arm].struct), ctypes.byref(self.gelu), ctypes.byref(self.snap),
            grid.height, grid.width, grid.half, _ptr(grid.buffer),
            None if prev is None else _ptr(prev), self.arch.entropy.extra_kernel,
            rows.start, rows.stop, _ptr(shift), _ptr(frac), _ptr(scale)))
        return shift, frac, scale


class AruKernels:
    """MARM's two ARU networks on whole grids: each pass evaluated band by band on all threads,
    each grid's symbols read in its coding order (anchors, then the rest)."""

    def __init__(self, anchor: list[IntLayer], rest: list[IntLayer], arch: ArchitectureConfig,
                 scale_count: int):
        self.arch = arch
        self.networks = {1: Network(anchor, 1.0 / ONE, 0), 2: Network(rest, 1.0 / ONE, 0)}
        self.snap = _snap(arch, scale_count)
        self.gelu = _gelu()[0]
        self.laplace = LaplaceTable(arch)
        self.scale_count = scale_count
        self.lib = library()

    def _grid_struct(self, grid: np.ndarray, parent, level: int, first: tuple[np.ndarray, np.ndarray]
                     ) -> tuple[_AruGrid, list]:
        """The kernel's view of a grid; ``first`` are the maps pass 2 reads pass 1's outputs from."""

        h, w = grid.shape
        pe_y = position_encoding(h).astype(np.float64)
        pe_x = position_encoding(w).astype(np.float64)
        keep = [grid, pe_y, pe_x, *first]
        s = _AruGrid(h=h, w=w, grid=_ptr(grid), grid_stride=grid.strides[0] // 4, pe_y=_ptr(pe_y),
                     pe_x=_ptr(pe_x), level=float(level_encoding(level, self.arch.latents.num_grids)),
                     first_mu=_ptr(first[0]), first_raw=_ptr(first[1]))
        if parent is not None:
            latents, mu, raw = parent
            keep += [latents, mu, raw]
            s.parent, s.parent_stride = _ptr(latents), latents.strides[0] // 4
            s.ph, s.pw = latents.shape
            s.parent_mu, s.parent_raw = _ptr(mu), _ptr(raw)
        return s, keep

    def pass_outputs(self, grid: np.ndarray, parent, level: int, passes: int, parity: int,
                     maps: tuple[np.ndarray, np.ndarray], coordinates: bool = True,
                     threads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Pass ``passes`` on the positions of ``parity`` (-1: all) of a grid (int32 (h, w),
        C-contiguous): writes their (mu, raw) into ``maps`` (pass 2 reads pass 1's there) and
        returns their table coordinates (raster order) unless ``coordinates`` is False."""
        from .. import runtime

        h, w = grid.shape
        struct, keep = self._grid_struct(grid, parent, level, maps)
        rows = max(1, (1 << 15) // max(w, 1))
        bands = [range(r, min(r + rows, h)) for r in range(0, h, rows)]
        per_band = [len(band) * w if parity < 0 else _parity_count(band, w, parity) for band in bands]
        starts = np.concatenate([[0], np.cumsum(per_band)]).astype(np.int64)
        total = int(starts[-1]) if coordinates else 0
        shift, frac, scale = np.empty(total), np.empty(total, np.int32), np.empty(total, np.int32)
        network = self.networks[passes]

        def work(k: int) -> None:
            a = int(starts[k])
            check(self.lib.c3_aru_rows(
                ctypes.byref(network.struct), ctypes.byref(self.gelu), ctypes.byref(self.snap),
                ctypes.byref(struct), passes, bands[k].start, bands[k].stop, parity,
                _ptr(maps[0]), _ptr(maps[1]), shift[a:].ctypes.data if coordinates else None,
                frac[a:].ctypes.data if coordinates else None, scale[a:].ctypes.data if coordinates else None))

        runtime.share_chunks(work, len(bands), threads)
        del keep
        return (shift, frac, scale) if coordinates else None

    def decode_list(self, decoder: _RangeDecoder, table: GridTable, coordinates) -> np.ndarray:
        shift, frac, scale = coordinates
        values = np.empty(shift.size, dtype=np.int32)
        check(self.lib.c3_decode_list(
            ctypes.byref(decoder), ctypes.byref(self.laplace.struct), _ptr(table.cdf), _ptr(table.ready),
            self.scale_count, table.symbol_range, shift.size, _ptr(shift), _ptr(frac), _ptr(scale),
            _ptr(values)))
        return values

    def decode_grid(self, shape: tuple[int, int], parent, level: int, table: GridTable, stream: bytes,
                    threads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One ARU grid from its stream: (latents int32, mu map, raw map)."""
        grid = np.zeros(shape, dtype=np.int32)
        maps = (np.zeros(shape), np.zeros(shape))
        words = stream_words(stream)
        decoder = _RangeDecoder()
        self.lib.c3_decoder_start(ctypes.byref(decoder), _ptr(words), words.size)
        mask = anchor_mask(shape)
        grid[mask] = self.decode_list(decoder, table, self.pass_outputs(grid, parent, level, 1, 0, maps,
                                                                        threads=threads))
        if (~mask).any():
            self.pass_outputs(grid, parent, level, 1, 1, maps, coordinates=False, threads=threads)
            rest = self.pass_outputs(grid, parent, level, 2, 1, maps, threads=threads)
            grid[~mask] = self.decode_list(decoder, table, rest)
        del words
        return grid, maps[0], maps[1]

    def coordinates(self, grid: np.ndarray, parent, level: int
                    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Encoder side, for a complete grid: its (mu, raw) maps and the table coordinates of
        its latents in raster order (pass 1 at anchors, pass 2 elsewhere)."""
        grid = np.ascontiguousarray(grid, dtype=np.int32)
        maps = (np.zeros(grid.shape), np.zeros(grid.shape))
        coords = self.pass_outputs(grid, parent, level, 1, -1, maps)
        rest_mask = ~anchor_mask(grid.shape).reshape(-1)
        if rest_mask.any():
            rest = self.pass_outputs(grid, parent, level, 2, 1, maps)
            for full, part in zip(coords, rest):
                full[rest_mask] = part
        return maps, coords


def _parity_count(rows: range, w: int, parity: int) -> int:
    """Positions with (i + j) % 2 == parity in ``rows`` of a grid ``w`` wide."""
    return sum(len(range((parity - i) % 2, w, 2)) for i in rows)


class SynthesisKernels:
    """Upsampling and synthesis of bands of pixel rows from (possibly still decoding) grids."""

    def __init__(self, mlp: list[IntLayer], residual: list[IntLayer], arch: ArchitectureConfig,
                 channels: int, input_scale: int = 1):
        """``input_scale`` (a power of two): the grids hold latents times it (a video frame's
        temporally mixed latents, made integers); the first layer's unit divides by it, which
        gives bit-identical outputs (scaling by a power of two is exact)."""
        if arch.latents.num_grids > MAX_GRIDS:
            raise NativeError(ERRORS[6])
        self.network = Network(mlp, arch.latents.step / input_scale, upsampled_fraction_bits(arch))
        self.residual = ResidualLayers(residual, channels, arch.synthesis.residual_kernel)
        self.gelu = _gelu()[0]
        self.arch = arch
        self.lib = library()

    def latents(self, grids: list[np.ndarray]) -> _Latents:
        """The kernels' view of decoded grids (2-D int32 arrays with unit column stride,
        possibly views into padded buffers)."""
        s = _Latents()
        s.num_grids = len(grids)
        for n, (grid, exponent) in enumerate(zip(grids, self.arch.latents.exponents)):
            if grid.dtype != np.int32 or grid.strides[1] != 4:
                raise NativeError(ERRORS[6])
            s.data[n] = grid.ctypes.data
            s.stride[n] = grid.strides[0] // 4
            s.height[n], s.width[n] = grid.shape
            s.exponent[n] = exponent
        return s

    def synthesise_rows(self, latents: _Latents, size: tuple[int, int], rows: range,
                        max_value: int, pixels: np.ndarray) -> None:
        """Pixel rows ``rows`` of ``pixels`` ((H, W, C) uint8 or uint16, C-contiguous)."""
        h, w = size
        check(self.lib.c3_synthesise_rows(
            ctypes.byref(self.network.struct), ctypes.byref(self.residual.struct),
            ctypes.byref(self.gelu), ctypes.byref(latents), h, w, rows.start, rows.stop,
            float(max_value), _ptr(pixels), pixels.itemsize))
