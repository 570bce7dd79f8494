"""Range coding of the quantised latent grids with the exact ARM.

Encoder: one exact ARM pass over every grid gives (mu, scale) for every latent at once.
Decoder: latents are decoded on wavefronts. With a causal ``c x c`` context (half-width ``p``),
latent (i, j) only depends on latents of smaller wave index ``t = (p + 1) i + j``, so all latents
of one wave are decoded by a single batched ARM call, and all grids advance together (each grid
has its own range-coded stream, which also gives the per-grid byte counts of ``c3 info``).
With previous-grid conditioning a grid waits until its finer neighbour is complete.
Symbols are written in exactly this wave order, so both sides see the same sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import ArchitectureConfig
from ..exact.arithmetic import MAX_LATENT, IntLayer
from ..exact.arm import arm_forward, snap
from ..model.entropy import causal_offsets, grid_contexts, prev_offsets
from ..model.latents import downsample2
from .range_coder import SymbolDecoder, SymbolEncoder
from .tables import MAX_SYMBOL_RANGE, ScaleGrid, latent_table


class LatentRangeError(ValueError):
    """A latent is too far from its predicted mean for the file format's symbol range."""


@dataclass
class LatentStreams:
    symbol_ranges: list[int]  # R of each grid: symbols are k - m in [-R, R]
    streams: list[bytes]  # one range-coded stream per grid


def _wave_order(shape: tuple[int, int], half: int) -> np.ndarray:
    """Raster indices of a grid sorted by (wave index, row): the coding order."""
    h, w = shape
    i, j = np.divmod(np.arange(h * w), w)
    return np.lexsort((i, (half + 1) * i + j))


def _table(symbol_range: int, arch: ArchitectureConfig) -> np.ndarray:
    grid = ScaleGrid(arch.entropy.log_scale_min, arch.entropy.log_scale_max)
    return latent_table(symbol_range, grid, arch.latents.step)


def encode_latents(layers: list[IntLayer], grids: list[np.ndarray], arch: ArchitectureConfig,
                   chunk: int = 1 << 16) -> LatentStreams:
    """Range code integer latent grids (bin units) with the exact ARM ``layers``."""
    if any(g.size and np.abs(g).max() > MAX_LATENT for g in grids):
        raise LatentRangeError(f"a latent exceeds {MAX_LATENT} bins")
    tensors = [torch.from_numpy(g.astype(np.float64)) for g in grids]
    with torch.no_grad():
        contexts = grid_contexts(tensors, arch.entropy).numpy()  # (inputs, Z)
    outs = [arm_forward(layers, contexts[:, s: s + chunk].T, arch)
            for s in range(0, contexts.shape[1], chunk)]
    snapped = snap(np.concatenate(outs), arch)
    ranges, streams, start = [], [], 0
    for grid in grids:
        size = grid.size
        sl = slice(start, start + size)
        residual = grid.reshape(-1) - snapped.shift[sl]
        symbol_range = max(1, int(np.abs(residual).max()) if size else 1)
        if symbol_range > MAX_SYMBOL_RANGE:
            raise LatentRangeError(f"latent residual {symbol_range} exceeds {MAX_SYMBOL_RANGE}")
        order = _wave_order(grid.shape, arch.entropy.context // 2)
        rows = _table(symbol_range, arch)[snapped.frac[sl][order], snapped.scale[sl][order]]
        encoder = SymbolEncoder()
        encoder.encode(residual[order] + symbol_range, rows)
        ranges.append(symbol_range)
        streams.append(encoder.finish())
        start += size
    return LatentStreams(ranges, streams)


class _GridState:
    """Decoder-side buffer of one grid, zero-padded so that contexts are plain gathers."""

    def __init__(self, shape: tuple[int, int], half: int, symbol_range: int, stream: bytes,
                 arch: ArchitectureConfig):
        self.h, self.w = shape
        self.half = half
        self.width = self.w + 2 * half
        self.buffer = np.zeros((self.h + half) * self.width, dtype=np.float64)
        self.offsets = np.array([di * self.width + dj for di, dj in causal_offsets(2 * half + 1)])
        self.symbol_range = symbol_range
        self.table = _table(symbol_range, arch)
        self.decoder = SymbolDecoder(stream)
        self.waves = (half + 1) * (self.h - 1) + self.w
        self.prev: tuple[np.ndarray, np.ndarray, int, int] | None = None

    def positions(self, t: int) -> np.ndarray:
        """Flat buffer indices of wave ``t`` in increasing row order."""
        i_lo = max(0, -(-(t - self.w + 1) // (self.half + 1)))
        i_hi = min(self.h - 1, t // (self.half + 1))
        i = np.arange(i_lo, i_hi + 1)
        j = t - (self.half + 1) * i
        return (i + self.half) * self.width + j + self.half

    def contexts(self, pos: np.ndarray) -> np.ndarray:
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


def decode_latents(layers: list[IntLayer], streams: LatentStreams, shapes: list[tuple[int, int]],
                   arch: ArchitectureConfig) -> list[np.ndarray]:
    """Inverse of :func:`encode_latents`: integer latent grids (bin units), finest first."""
    half = arch.entropy.context // 2
    states = [_GridState(s, half, r, b, arch)
              for s, r, b in zip(shapes, streams.symbol_ranges, streams.streams)]
    if arch.entropy.use_prev_grid:
        phases = [[n] for n in range(len(states))]
    else:
        phases = [list(range(len(states)))]
    for phase in phases:
        if arch.entropy.use_prev_grid:
            n = phase[0]
            shape = (states[n].h, states[n].w)
            down = (np.zeros(shape) if n == 0 else
                    downsample2(torch.from_numpy(states[n - 1].grid()), shape).numpy())
            states[n].set_previous(down, arch.entropy.prev_kernel)
        _decode_phase([states[n] for n in phase], layers, arch)
    return [s.grid().astype(np.int64) for s in states]


def _decode_phase(states: list[_GridState], layers: list[IntLayer], arch: ArchitectureConfig) -> None:
    for t in range(max(s.waves for s in states)):
        active = [(s, s.positions(t)) for s in states if t < s.waves]
        active = [(s, p) for s, p in active if p.size]
        if not active:
            continue
        ctx = np.concatenate([s.contexts(p) for s, p in active], axis=0)
        snapped = snap(arm_forward(layers, ctx, arch), arch)
        start = 0
        for state, pos in active:
            sl = slice(start, start + pos.size)
            rows = state.table[snapped.frac[sl], snapped.scale[sl]]
            values = state.decoder.decode(rows) - state.symbol_range + snapped.shift[sl]
            if values.size and np.abs(values).max() > MAX_LATENT:
                raise ValueError(f"a latent exceeds {MAX_LATENT} bins")
            state.buffer[pos] = values
            start += pos.size
