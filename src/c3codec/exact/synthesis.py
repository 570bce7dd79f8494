"""The reference (numpy) exact reconstruction: integer latents -> upsampled -> synthesis -> pixels.

The compiled decoder (``native.c``) computes the same numbers band by band; this version keeps
whole images in memory and is the specification it is tested against.
"""

from __future__ import annotations

import numpy as np

from ..config import ArchitectureConfig
from .arithmetic import ONE, IntLayer, conv_fixed, gelu_fixed, mlp_fixed


def upsampled_fraction_bits(arch: ArchitectureConfig, dims: int = 2) -> int:
    """Linear upsampling by 2**e has weights in multiples of 2**-(e + 1) per axis, so the
    upsampled latents are multiples of 2**-(dims (e_max + 1)): bilinear for images (2 axes),
    trilinear for videos (3)."""
    return dims * (max(arch.latents.exponents) + 1)


def upsample_latents(latents: list[np.ndarray], arch: ArchitectureConfig,
                     size: tuple[int, int]) -> np.ndarray:
    """2-D latent grids (integers, or a video frame's dyadic mixes) -> (N_grids, H, W) float64
    upsampled latents in bin units: PyTorch's bilinear interpolation (align_corners=False) by
    2**e, as two products with interpolation matrices. Exact: every output is at most four
    dyadic products of values below :data:`~.arithmetic.MAX_LATENT`, which float64 holds."""
    out = np.empty((len(latents), *size))
    for n, (grid, exponent) in enumerate(zip(latents, arch.latents.exponents)):
        rows = interpolation_matrix(grid.shape[0], exponent, size[0])
        cols = interpolation_matrix(grid.shape[1], exponent, size[1])
        out[n] = rows @ np.asarray(grid, dtype=np.float64) @ cols.T
    return out


def interpolation_matrix(n_in: int, exponent: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of 1-D linear upsampling by 2**exponent (align_corners=False)."""
    matrix = np.zeros((n_out, n_in))
    for t in range(n_out):
        i0, i1, weight = linear_weights(t, exponent, n_in)
        matrix[t, i0] += 1.0 - weight
        matrix[t, i1] += weight
    return matrix


def linear_weights(t: int, exponent: int, frames: int) -> tuple[int, int, float]:
    """Output ``t``'s position between two of ``frames`` inputs upsampled by 2**exponent
    (PyTorch's linear interpolation, align_corners=False), along any axis (time for a video
    frame): indices ``i0, i1`` and the weight of ``i1``, a multiple of 2**-(exponent + 1)."""
    source = max((t + 0.5) / 2**exponent - 0.5, 0.0)
    i0 = min(int(source), frames - 1)
    return i0, min(i0 + 1, frames - 1), source - i0


def frame_grids(latents: list[np.ndarray], arch: ArchitectureConfig, frames: int, t: int) -> list[np.ndarray]:
    """The 2-D grids frame ``t`` of a video patch of ``frames`` frames is upsampled from: each
    video grid's two nearest latent frames mixed with the temporal weights (float64, exact:
    multiples of 2**-(e_n + 1))."""
    mixed = []
    for grid, exponent in zip(latents, arch.latents.exponents):
        i0, i1, weight = linear_weights(t, exponent, grid.shape[0])
        mixed.append(grid[i0] * (1.0 - weight) + grid[i1] * weight)
    return mixed


def upsample_frame(latents: list[np.ndarray], arch: ArchitectureConfig, size: tuple[int, int, int],
                   t: int) -> np.ndarray:
    """Frame ``t`` of the trilinear upsampling of video latent grids ((T_n, h_n, w_n) integers):
    (N_grids, H, W) float64 in bin units, exact. Linear interpolation is separable: each grid's
    two nearest latent frames are mixed (:func:`frame_grids`), then upsampled bilinearly (exact,
    :func:`upsample_latents`), which is what the 3-D interpolation computes."""
    return upsample_latents(frame_grids(latents, arch, size[0], t), arch, size[1:])


def synthesise(mlp: list[IntLayer], residual: list[IntLayer], upsampled: np.ndarray,
               arch: ArchitectureConfig, max_value: int, chunk: int = 1 << 16, dims: int = 2) -> np.ndarray:
    """Integer-exact synthesis: (N_grids, H, W) upsampled latents in bin units (float64, exact
    dyadic values) -> (C, H, W) integer pixel values in [0, max_value]. ``dims``: 3 for a
    video's frame (trilinearly upsampled latents have finer fractions).

    ``chunk`` (pixels per matrix product) changes memory use, never the result.
    """
    n, h, w = upsampled.shape
    flat = upsampled.reshape(n, h * w).T
    bits = upsampled_fraction_bits(arch, dims)
    outs = [mlp_fixed(mlp, flat[start: start + chunk], arch.latents.step, bits)
            for start in range(0, h * w, chunk)]
    x = np.concatenate(outs, axis=0).T.reshape(-1, h, w)
    for i, layer in enumerate(residual):
        x = x + conv_fixed(x, layer, 1.0 / ONE)
        if i < len(residual) - 1:
            x = gelu_fixed(x)
    return np.clip(np.round(x * float(max_value) / ONE), 0, max_value)


def reconstruct_reference(arch: ArchitectureConfig, size: tuple[int, int], max_value: int,
                          mlp: list[IntLayer], residual: list[IntLayer],
                          latents: list[np.ndarray], chunk: int = 1 << 16) -> np.ndarray:
    """Integer latent grids -> (H, W, C) integer pixels, exactly, all in memory."""
    pixels = synthesise(mlp, residual, upsample_latents(latents, arch, size), arch, max_value, chunk)
    return np.ascontiguousarray(pixels.transpose(1, 2, 0), dtype=np.int64)


def reconstruct_frame(arch: ArchitectureConfig, size: tuple[int, int, int], max_value: int,
                      mlp: list[IntLayer], residual: list[IntLayer], latents: list[np.ndarray],
                      t: int, chunk: int = 1 << 16) -> np.ndarray:
    """Frame ``t`` of a video patch from its integer latent grids: (H, W, C) integer pixels,
    exactly; memory is one frame's, whatever the patch length."""
    upsampled = upsample_frame(latents, arch, size, t)
    pixels = synthesise(mlp, residual, upsampled, arch, max_value, chunk, dims=3)
    return np.ascontiguousarray(pixels.transpose(1, 2, 0), dtype=np.int64)
