"""Range coding of the quantised latent grids with the exact ARM.

Each grid has its own range-coded stream (which also gives the per-grid byte counts of
``c3 info``). Within a grid, latents are coded in *wave order*: with a causal ``c x c`` context
(half-width ``p``), latent (i, j) only depends on latents of smaller wave index
``t = (p + 1) i + j``, so a decoder can evaluate the ARM for a whole wave at once; symbols are
written wave by wave, in increasing row order within a wave. With previous-grid conditioning a
grid's contexts also read the finer grid before it, downsampled, so that grid must be complete
first.

Encoder: the ARM's (shift, fraction, scale) for every latent of a complete grid, in bands of
rows (compiled kernels when available, else numpy), then the symbols through constriction in
chunks. Decoder: ``decode_latents`` here is the numpy reference, which runs the waves of all
grids together; the compiled decoder (:mod:`c3codec.decoder`) decodes each grid in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import runtime
from ..config import ArchitectureConfig
from ..exact import native
from ..exact.arithmetic import MAX_LATENT, ONE, IntLayer, mlp_fixed
from ..exact.arm import Snapped, arm_forward, causal_offsets, prev_offsets, previous_frame, snap
from ..exact.aru import (anchor_inputs, anchor_mask, aru_levels, aru_outputs, coding_order, parent_map,
                         rest_inputs)
from .range_coder import SymbolDecoder, SymbolEncoder
from .tables import MAX_SYMBOL_RANGE, ScaleGrid, latent_table

BAND_LATENTS = 1 << 16
"""Latents per band of rows of the encoder's ARM pass, and symbols per call to the range
encoder: the memory of both is bounded by this, not by the image."""


class LatentRangeError(ValueError):
    """A latent is too far from its predicted mean for the file format's symbol range."""


@dataclass
class EntropyNetworks:
    """The exact entropy networks of a file: the ARM networks (one, or one per ARM grid) and,
    with MARM, the ARU's two networks."""

    arms: list[list[IntLayer]]
    aru_anchor: list[IntLayer]
    aru_rest: list[IntLayer]

    def arm(self, grid: int) -> list[IntLayer]:
        """The ARM that codes ARM grid ``grid``."""
        return self.arms[grid if len(self.arms) > 1 else 0]


@dataclass
class LatentStreams:
    symbol_ranges: list[int]  # R of each grid: symbols are k - m in [-R, R]
    streams: list[bytes]  # one range-coded stream per grid


def wave_order(shape: tuple[int, ...], half: int) -> np.ndarray:
    """Raster indices of a grid sorted by (wave index, row): the coding order. A video grid
    (frames, h, w) is coded frame after frame, each frame in wave order."""
    *frames, h, w = shape
    i, j = np.divmod(np.arange(h * w), w)
    order = np.lexsort((i, (half + 1) * i + j))
    if not frames:
        return order
    return (np.arange(frames[0])[:, None] * (h * w) + order[None, :]).reshape(-1)


def scale_grid(arch: ArchitectureConfig) -> ScaleGrid:
    return ScaleGrid(arch.entropy.log_scale_min, arch.entropy.log_scale_max)


def latent_tables(symbol_ranges: list[int], arch: ArchitectureConfig) -> list[np.ndarray]:
    """The probability table of each grid, (fractions, scales, 2R + 1). A bin's mass does not
    depend on R, so one table for the largest R is computed and sliced for the others: the
    same float64 values as computing each, at the cost of one."""
    if not symbol_ranges:
        return []
    widest = max(symbol_ranges)
    full = latent_table(widest, scale_grid(arch), arch.latents.step)
    return [full[:, :, widest - r: widest + r + 1] for r in symbol_ranges]


def previous_grid(finer: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """The context grid of a grid of ``shape`` under previous-grid conditioning: the finer grid
    before it averaged over 2x2 blocks (edge replicated to an even size), as
    ``model.latents.downsample2`` does, zeros for the finest grid. Sums of four integers and a
    division by 4: exact, quarter-integer values."""
    if finer is None:
        return np.zeros(shape)
    h, w = shape
    padded = np.pad(finer.astype(np.float64), ((0, 2 * h - finer.shape[0]), (0, 2 * w - finer.shape[1])),
                    mode="edge")
    return (padded[0::2, 0::2] + padded[0::2, 1::2] + padded[1::2, 0::2] + padded[1::2, 1::2]) / 4.0


class _Contexts:
    """A grid in a zero-padded float64 buffer, so that ARM contexts are plain gathers (numpy)."""

    def __init__(self, shape: tuple[int, int], half: int):
        self.h, self.w = shape
        self.half = half
        self.width = self.w + 2 * half
        self.buffer = np.zeros((self.h + half) * self.width, dtype=np.float64)
        self.offsets = np.array([di * self.width + dj for di, dj in causal_offsets(2 * half + 1)])
        self.prev: tuple[np.ndarray, np.ndarray, int, int] | None = None

    def positions(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Flat buffer indices of grid positions (i, j)."""
        return (i + self.half) * self.width + j + self.half

    def gather(self, pos: np.ndarray) -> np.ndarray:
        ctx = self.buffer[pos[:, None] + self.offsets[None, :]]
        if self.prev is not None:
            prev_buffer, prev_offsets_flat, prev_width, pad = self.prev
            i, j = np.divmod(pos, self.width)
            base = (i - self.half + pad) * prev_width + j - self.half + pad
            ctx = np.concatenate([ctx, prev_buffer[base[:, None] + prev_offsets_flat[None, :]]], 1)
        return ctx

    def set_previous(self, down: np.ndarray, kernel: int) -> None:
        """Attach the previous grid, downsampled to this grid's shape, as extra context."""
        pad = kernel // 2
        width = self.w + 2 * pad
        offs = np.array([di * width + dj for di, dj in prev_offsets(kernel)])
        self.prev = (np.pad(down, pad).reshape(-1), offs, width, pad)

    def grid(self) -> np.ndarray:
        view = self.buffer.reshape(self.h + self.half, self.width)
        return view[self.half:, self.half: self.half + self.w].copy()


def _row_bands(shape: tuple[int, int]) -> list[range]:
    h, w = shape
    rows = max(1, BAND_LATENTS // max(w, 1))
    return [range(r, min(r + rows, h)) for r in range(0, h, rows)]


def snap_grid(layers: list[IntLayer], grids: list[np.ndarray], n: int,
              arch: ArchitectureConfig) -> Snapped:
    """Table coordinates of every latent of complete grid ``n`` (raster order), from the exact
    ARM. A video grid's frames are taken one after the other, each with the previous frame
    (zeros before the first) as its extra context."""
    grid = grids[n]
    if grid.ndim == 3:
        parts = [snap_plane(layers, grid[t], video_previous(grid[t - 1] if t else None, arch, n, grid.shape[1:]), arch)
                 for t in range(grid.shape[0])]
        return Snapped(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("shift", "frac", "scale")))
    prev = (previous_grid(grids[n - 1] if n else None, grid.shape) if arch.entropy.use_prev_grid
            else None)
    return snap_plane(layers, grid, prev, arch)


def video_previous(frame: np.ndarray | None, arch: ArchitectureConfig, grid: int,
                   shape: tuple[int, int] | None = None) -> np.ndarray:
    """The previous-frame plane a latent frame of video grid ``grid`` reads (``exact.arm.
    previous_frame``), zeros where there is none; ``shape`` is needed only when ``frame`` is
    None."""
    plane = previous_frame(frame, arch.entropy, grid)
    return np.zeros(frame.shape if shape is None else shape) if plane is None else plane


def snap_plane(layers: list[IntLayer], grid: np.ndarray, prev: np.ndarray | None,
               arch: ArchitectureConfig) -> Snapped:
    """:func:`snap_grid` of one 2-D grid (raster order), with ``prev`` (same shape) as its extra
    context (the downsampled previous grid, or the previous latent frame of a video), band by
    band (compiled kernels on all threads where available)."""
    half = arch.entropy.context // 2
    kernel = arch.entropy.extra_kernel
    bands = _row_bands(grid.shape)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [()] * len(bands)  # type: ignore[list-item]
    if native.available():
        kernels = native.ArmKernels([layers], arch, scale_grid(arch).count)
        padded = native.PaddedGrid.of(grid, half)
        prev_padded = None if prev is None else native.padded_previous(prev, kernel)

        def work(k: int) -> None:
            parts[k] = kernels.snap_rows(padded, prev_padded, bands[k])

        runtime.share_chunks(work, len(bands))
        shift = np.concatenate([p[0] for p in parts]).astype(np.int64)
        return Snapped(shift, np.concatenate([p[1] for p in parts]).astype(np.int64),
                       np.concatenate([p[2] for p in parts]).astype(np.int64))
    contexts = _Contexts(grid.shape, half)
    contexts.buffer.reshape(-1, contexts.width)[half:, half: half + grid.shape[1]] = grid
    if prev is not None:
        contexts.set_previous(prev, kernel)
    snapped = []
    for rows in bands:
        i, j = np.divmod(np.arange(rows.start * grid.shape[1], rows.stop * grid.shape[1]), grid.shape[1])
        snapped.append(snap(arm_forward(layers, contexts.gather(contexts.positions(i, j)), arch), arch))
    return Snapped(*(np.concatenate([getattr(s, f) for s in snapped]) for f in ("shift", "frac", "scale")))


def coded_coordinates(networks: EntropyNetworks, grids: list[np.ndarray], arch: ArchitectureConfig
                      ) -> list[tuple[np.ndarray, Snapped]]:
    """For every grid: its coding order (raster indices) and the table coordinates of its
    latents in raster order, from the exact ARM (wave order) or, for MARM's coarse grids, the
    exact ARU (anchors, then the rest)."""
    half = arch.entropy.context // 2
    out: list[tuple[np.ndarray, Snapped]] = [()] * len(grids)  # type: ignore[list-item]
    for n in range(arch.arm_grids):
        out[n] = (wave_order(grids[n].shape, half), snap_grid(networks.arm(n), grids, n, arch))
    parent, kernels = None, None
    if arch.entropy.aru_grids and native.available():
        kernels = native.AruKernels(networks.aru_anchor, networks.aru_rest, arch, scale_grid(arch).count)
    for level in aru_levels(arch):
        order = coding_order(grids[level].shape)
        if kernels is not None:
            (mu, raw), (shift, frac, scale) = kernels.coordinates(grids[level], parent, level)
            out[level] = (order, Snapped(shift.astype(np.int64), frac.astype(np.int64), scale.astype(np.int64)))
            parent = (np.ascontiguousarray(grids[level], dtype=np.int32), mu, raw)
        else:
            outputs = aru_outputs(networks.aru_anchor, networks.aru_rest, grids[level], parent, level,
                                  arch.latents.num_grids)
            out[level] = (order, snap(outputs, arch))
            parent = parent_map(grids[level], outputs)
    return out


def encode_latents(networks: EntropyNetworks, grids: list[np.ndarray], arch: ArchitectureConfig
                   ) -> LatentStreams:
    """Range code integer latent grids (bin units) with the exact entropy networks."""
    if any(g.size and np.abs(g).max() > MAX_LATENT for g in grids):
        raise LatentRangeError(f"a latent exceeds {MAX_LATENT} bins")
    ranges, residuals, coordinates = [], [], []
    for grid, (order, snapped) in zip(grids, coded_coordinates(networks, grids, arch)):
        residual = (grid.reshape(-1) - snapped.shift)[order]
        symbol_range = max(1, int(np.abs(residual).max()) if grid.size else 1)
        if symbol_range > MAX_SYMBOL_RANGE:
            raise LatentRangeError(f"latent residual {symbol_range} exceeds {MAX_SYMBOL_RANGE}")
        ranges.append(symbol_range)
        residuals.append(residual)
        coordinates.append((snapped.frac[order], snapped.scale[order]))
    streams = []
    for table, r, residual, (frac, scale) in zip(latent_tables(ranges, arch), ranges, residuals, coordinates):
        encoder = SymbolEncoder()
        for s in range(0, residual.size, BAND_LATENTS):
            chunk = slice(s, s + BAND_LATENTS)
            encoder.encode(residual[chunk] + r, table[frac[chunk], scale[chunk]])
        streams.append(encoder.finish())
    return LatentStreams(ranges, streams)


class _GridState(_Contexts):
    """Reference decoder state of one grid: its buffer, stream, table, ARM and wave positions."""

    def __init__(self, shape: tuple[int, int], half: int, symbol_range: int, decoder: SymbolDecoder,
                 table: np.ndarray, layers: list[IntLayer]):
        super().__init__(shape, half)
        self.layers = layers
        self.symbol_range = symbol_range
        self.table = table
        self.decoder = decoder
        self.waves = (half + 1) * (self.h - 1) + self.w

    def wave_positions(self, t: int) -> np.ndarray:
        """Flat buffer indices of wave ``t`` in increasing row order."""
        i_lo = max(0, -(-(t - self.w + 1) // (self.half + 1)))
        i_hi = min(self.h - 1, t // (self.half + 1))
        i = np.arange(i_lo, i_hi + 1)
        return self.positions(i, t - (self.half + 1) * i)


def decode_latents(networks: EntropyNetworks, streams: LatentStreams, shapes: list[tuple[int, int]],
                   arch: ArchitectureConfig) -> list[np.ndarray]:
    """Inverse of :func:`encode_latents` in numpy (the reference decoder): integer latent grids
    (bin units), finest first. MARM's ARU grids first, coarsest first, each in two passes; then
    the ARM grids, whose waves advance together, one ARM call per wave."""
    half = arch.entropy.context // 2
    tables = latent_tables(streams.symbol_ranges, arch)
    if arch.entropy.prev_frame:
        return _decode_video_latents(networks, streams, shapes, tables, arch)
    aru = decode_aru_grids(networks, streams, shapes, tables, arch)
    arm = arch.arm_grids
    states = [_GridState(s, half, r, SymbolDecoder(b), t, networks.arm(n))
              for n, (s, r, b, t) in enumerate(zip(shapes[:arm], streams.symbol_ranges, streams.streams, tables))]
    if arch.entropy.use_prev_grid:
        phases = [[n] for n in range(len(states))]
    else:
        phases = [list(range(len(states)))] if states else []
    for phase in phases:
        if arch.entropy.use_prev_grid:
            n = phase[0]
            finer = states[n - 1].grid() if n else None
            states[n].set_previous(previous_grid(finer, shapes[n]), arch.entropy.prev_kernel)
        _decode_phase([states[n] for n in phase], arch)
    return [s.grid().astype(np.int64) for s in states] + [aru[n] for n in range(arm, len(shapes))]


def _decode_video_latents(networks: EntropyNetworks, streams: LatentStreams, shapes: list[tuple[int, ...]],
                          tables: list[np.ndarray], arch: ArchitectureConfig) -> list[np.ndarray]:
    """:func:`decode_latents` of video grids (frames, h, w): latent frame t of every grid that
    has one, their waves together, then frame t + 1, each grid's frames from its one stream."""
    half = arch.entropy.context // 2
    grids = [np.zeros(shape, dtype=np.int64) for shape in shapes]
    decoders = [SymbolDecoder(stream) for stream in streams.streams]
    for t in range(max(shape[0] for shape in shapes)):
        active = [n for n, shape in enumerate(shapes) if t < shape[0]]
        states = []
        for n in active:
            state = _GridState(shapes[n][1:], half, streams.symbol_ranges[n], decoders[n], tables[n],
                               networks.arm(n))
            state.set_previous(video_previous(grids[n][t - 1] if t else None, arch, n, shapes[n][1:]),
                               arch.entropy.prev_frame)
            states.append(state)
        _decode_phase(states, arch)
        for n, state in zip(active, states):
            grids[n][t] = state.grid()
    return grids


def decode_symbols(decoder: SymbolDecoder, table: np.ndarray, symbol_range: int, snapped: Snapped) -> np.ndarray:
    """Latents from a stream, one per entry of ``snapped`` (table coordinates, coding order)."""
    values = decoder.decode(table[snapped.frac, snapped.scale]) - symbol_range + snapped.shift
    if values.size and np.abs(values).max() > MAX_LATENT:
        raise ValueError(f"a latent exceeds {MAX_LATENT} bins")
    return values


def decode_aru_grids(networks: EntropyNetworks, streams: LatentStreams, shapes: list[tuple[int, int]],
                     tables: list[np.ndarray], arch: ArchitectureConfig) -> dict[int, np.ndarray]:
    """MARM's ARU grids (by grid index), coarsest first: anchors from pass 1, then the rest from
    pass 2, which reads the decoded anchors."""
    out, parent = {}, None
    for level in aru_levels(arch):
        shape, r = shapes[level], streams.symbol_ranges[level]
        decoder = SymbolDecoder(streams.streams[level])
        grid = np.zeros(shape, dtype=np.int64)
        base = anchor_inputs(parent, shape, level, arch.latents.num_grids)
        first = mlp_fixed(networks.aru_anchor, base, 1.0 / ONE)
        mask = anchor_mask(shape).reshape(-1)
        anchors, others = np.flatnonzero(mask), np.flatnonzero(~mask)
        grid.reshape(-1)[anchors] = decode_symbols(decoder, tables[level], r, snap(first[anchors], arch))
        outputs = first.copy()
        if others.size:
            second = mlp_fixed(networks.aru_rest, rest_inputs(base, grid, first)[others], 1.0 / ONE)
            grid.reshape(-1)[others] = decode_symbols(decoder, tables[level], r, snap(second, arch))
            outputs[others] = second
        out[level] = grid
        parent = parent_map(grid, outputs)
    return out


def _decode_phase(states: list[_GridState], arch: ArchitectureConfig) -> None:
    """Decode grids together, wave by wave: one ARM call per wave and network (every grid's,
    or with one ARM per grid, each grid's own)."""
    for t in range(max(s.waves for s in states)):
        active = [(s, s.wave_positions(t)) for s in states if t < s.waves]
        active = [(s, p) for s, p in active if p.size]
        for layers in {id(s.layers): s.layers for s, _ in active}.values():
            batch = [(s, p) for s, p in active if s.layers is layers]
            ctx = np.concatenate([s.gather(p) for s, p in batch], axis=0)
            snapped = snap(arm_forward(layers, ctx, arch), arch)
            start = 0
            for state, pos in batch:
                sl = slice(start, start + pos.size)
                part = Snapped(snapped.shift[sl], snapped.frac[sl], snapped.scale[sl])
                state.buffer[pos] = decode_symbols(state.decoder, state.table, state.symbol_range, part)
                start += pos.size
