"""The ARU blocks of MARM, exactly (numpy reference; native.c computes the same numbers), and
what the ARU's definition shares with the fitting model (``model/aru.py``): its inputs, coding
order and encodings.

Every input of an ARU network is a fixed-point integer (latents times 2**16, the parent's
fixed-point (mu, raw) outputs, the integer position and level encodings of ``model.aru``), so
the first layer takes ``in_unit = 1 / ONE`` and the input rule of :func:`~.arithmetic.input_limit`
with no fraction bits. A grid is coded anchors first (``i + j`` even, raster order), then the
rest (raster order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ArchitectureConfig, EntropyConfig
from .arithmetic import FRAC_BITS, ONE, IntLayer, mlp_fixed

ANCHOR_INPUTS = 14
REST_INPUTS = 20
PARENT_OFFSETS = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)]
NEIGHBOUR_OFFSETS = [(-1, 0), (1, 0), (0, -1), (0, 1)]


def position_encoding(length: int) -> np.ndarray:
    """``index / length - 1/2`` in fixed point, rounded down, for every index: int64."""
    index = np.arange(length, dtype=np.int64)
    return ((2 * index - length) << FRAC_BITS) // (2 * length)


def level_encoding(level: int, num_grids: int) -> int:
    """``2 level / L`` in fixed point, rounded down."""
    return (2 * level << FRAC_BITS) // num_grids


def aru_levels(arch: ArchitectureConfig) -> list[int]:
    """The grids the ARU codes, in coding order: coarsest first."""
    return list(range(arch.latents.num_grids - 1, arch.arm_grids - 1, -1))


def anchor_mask(shape: tuple[int, int]) -> np.ndarray:
    """True at the checkerboard's anchors (``i + j`` even), decoded first."""
    i, j = np.indices(shape)
    return (i + j) % 2 == 0


def aru_macs_per_latent(config: EntropyConfig) -> float:
    """Multiply-accumulates per ARU latent: pass 1 everywhere, pass 2 on half of them."""
    def macs(widths: list[int]) -> int:
        return sum(a * b for a, b in zip(widths[:-1], widths[1:]))

    return macs([ANCHOR_INPUTS, *config.aru_widths, 2]) + 0.5 * macs([REST_INPUTS, *config.aru_widths, 2])




@dataclass
class ParentMap:
    """What a grid's ARU reads from its parent: the parent's latents (bins) and its fixed-point
    (mu, raw) outputs, each (h, w)."""

    latents: np.ndarray
    mu: np.ndarray
    raw: np.ndarray


def anchor_inputs(parent: ParentMap | None, shape: tuple[int, int], level: int, num_grids: int) -> np.ndarray:
    """Pass 1's fixed-point inputs of every latent of a grid, raster order: (h * w, 14)."""
    h, w = shape
    rows, cols = np.arange(h) // 2, np.arange(w) // 2
    columns = []
    if parent is None:
        columns += [np.zeros((h, w))] * 11
    else:
        padded = np.pad(parent.latents.astype(np.float64), 1)
        columns += [padded[rows[:, None] + 1 + di, cols[None, :] + 1 + dj] * ONE for di, dj in PARENT_OFFSETS]
        columns += [parent.mu[rows[:, None], cols[None, :]], parent.raw[rows[:, None], cols[None, :]]]
    columns += [np.broadcast_to(position_encoding(h)[:, None], (h, w)).astype(np.float64),
                np.broadcast_to(position_encoding(w)[None, :], (h, w)).astype(np.float64),
                np.full((h, w), float(level_encoding(level, num_grids)))]
    return np.stack([c.reshape(-1) for c in columns], axis=1)


def rest_inputs(base: np.ndarray, grid: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Pass 2's fixed-point inputs of every latent: pass 1's, the four neighbours in the grid
    (only anchors are read where pass 2 is used) and pass 1's outputs: (h * w, 20)."""
    h, w = grid.shape
    padded = np.pad(grid.astype(np.float64), 1)
    near = [padded[1 + di: 1 + di + h, 1 + dj: 1 + dj + w].reshape(-1) * ONE for di, dj in NEIGHBOUR_OFFSETS]
    return np.concatenate([base, np.stack(near, axis=1), first], axis=1)


def coding_order(shape: tuple[int, int]) -> np.ndarray:
    """Raster indices of a grid in ARU coding order: anchors, then the rest."""
    mask = anchor_mask(shape).reshape(-1)
    return np.concatenate([np.flatnonzero(mask), np.flatnonzero(~mask)])


def aru_outputs(anchor: list[IntLayer], rest: list[IntLayer], grid: np.ndarray,
                parent: ParentMap | None, level: int, num_grids: int) -> np.ndarray:
    """Fixed-point (mu, raw) of every latent of a complete grid (raster order, (h * w, 2)):
    pass 1 at anchors, pass 2 elsewhere, as its coder and decoder see them."""
    base = anchor_inputs(parent, grid.shape, level, num_grids)
    first = mlp_fixed(anchor, base, 1.0 / ONE)
    out = first.copy()
    others = ~anchor_mask(grid.shape).reshape(-1)
    if others.any():
        out[others] = mlp_fixed(rest, rest_inputs(base, grid, first)[others], 1.0 / ONE)
    return out


def parent_map(grid: np.ndarray, outputs: np.ndarray) -> ParentMap:
    h, w = grid.shape
    return ParentMap(grid, outputs[:, 0].reshape(h, w), outputs[:, 1].reshape(h, w))
