"""The ARM's contexts, its exact evaluation and the snapping of its outputs to the tables.

Both the encoder and every decoder (numpy reference and compiled) turn the ARM's fixed-point
output for a latent into three integers: the shift ``m`` (the mean rounded to a bin), the index
of the mean's fraction and the index of the log-scale (:mod:`c3codec.coding.tables`). The
latent is then coded as ``k - m`` with the table row at (fraction, scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..coding.tables import ScaleGrid, snap_mu
from ..config import ArchitectureConfig, EntropyConfig
from .arithmetic import ONE, IntLayer, mlp_fixed


def causal_offsets(context: int) -> list[tuple[int, int]]:
    """(row, col) offsets of the already decoded neighbours in a context x context window."""
    half = context // 2
    offsets = [(di, dj) for di in range(-half, 0) for dj in range(-half, half + 1)]
    return offsets + [(0, dj) for dj in range(-half, 0)]


def prev_offsets(kernel: int) -> list[tuple[int, int]]:
    """Full kernel x kernel neighbourhood (used on the previous grid, all already decoded)."""
    half = kernel // 2
    return [(di, dj) for di in range(-half, half + 1) for dj in range(-half, half + 1)]


def frame_offset(config: EntropyConfig, grid: int) -> tuple[int, int] | None:
    """Where grid ``grid``'s previous-frame window is centred, relative to the latent (rows,
    columns); None where the grid does not read the previous frame."""
    return config.prev_frame_offsets[grid] if config.prev_frame_offsets else (0, 0)


def shift_plane(plane, dy: int, dx: int):
    """``out[i, j] = plane[i + dy, j + dx]``, zeros where that is outside (numpy or torch)."""
    if dy == 0 and dx == 0:
        return plane
    h, w = plane.shape
    out = plane * 0  # zeros of the same kind (numpy or torch, dtype, device)
    rows, cols = slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx))
    if rows.start < rows.stop and cols.start < cols.stop:
        out[rows, cols] = plane[rows.start + dy: rows.stop + dy, cols.start + dx: cols.stop + dx]
    return out


def previous_frame(frame, config: EntropyConfig, grid: int):
    """What grid ``grid``'s latent frame reads as its previous frame: ``frame`` (the previous
    latent frame, numpy or torch; None before the first) moved so that the centred window reads
    it at the grid's offset, or None (zeros) where the grid does not read it. Encoder, fitting
    and decoders all take it from here."""
    offset = frame_offset(config, grid)
    return None if frame is None or offset is None else shift_plane(frame, *offset)


@dataclass
class Snapped:
    shift: np.ndarray  # integer m
    frac: np.ndarray  # fraction index
    scale: np.ndarray  # scale index


def context_fraction_bits(config: EntropyConfig) -> int:
    """Resolution of the ARM's inputs: latents are integers, the previous grid's 2x average
    pooling gives quarters."""
    return 2 if config.use_prev_grid else 0


def arm_forward(layers: list[IntLayer], contexts: np.ndarray, arch: ArchitectureConfig) -> np.ndarray:
    """Integer-exact ARM: (N, inputs) latents in bin units -> (N, 2) fixed-point outputs."""
    return mlp_fixed(layers, contexts, arch.latents.step, context_fraction_bits(arch.entropy))


def clip_bounds(config: EntropyConfig) -> tuple[float, float]:
    """The clip range of the shifted raw log-scale, as the decoder computes it."""
    return -2.0 * config.log_scale_max, -2.0 * config.log_scale_min


def snap(out_fx: np.ndarray, arch: ArchitectureConfig) -> Snapped:
    """Exact ARM outputs (N, 2) in fixed point -> table coordinates. Basic IEEE ops only."""
    cfg, step = arch.entropy, arch.latents.step
    out = out_fx / ONE
    mu_bins = out[:, 0] / step
    low, high = clip_bounds(cfg)
    v = np.minimum(np.maximum(out[:, 1] + cfg.log_scale_shift, low), high)
    m, frac = snap_mu(mu_bins)
    scale = ScaleGrid(cfg.log_scale_min, cfg.log_scale_max).index(-0.5 * v)
    return Snapped(m, frac, scale)
