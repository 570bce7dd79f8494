"""The reference (numpy) exact reconstruction: integer latents -> upsampled -> synthesis -> pixels.

The compiled decoder (``native.c``) computes the same numbers band by band; this version keeps
whole images in memory and is the specification it is tested against.
"""

from __future__ import annotations

import numpy as np

from ..config import ArchitectureConfig
from .arithmetic import ONE, IntLayer, conv_fixed, gelu_fixed, mlp_fixed


def upsampled_fraction_bits(arch: ArchitectureConfig) -> int:
    """Bilinear upsampling by 2**e has weights in multiples of 2**-(e + 1) per axis, so the
    upsampled latents are multiples of 2**-(2 e_max + 2)."""
    return 2 * max(arch.latents.exponents) + 2


def upsample_latents(latents: list[np.ndarray], arch: ArchitectureConfig,
                     size: tuple[int, int]) -> np.ndarray:
    """Integer latent grids -> (N_grids, H, W) float64 upsampled latents in bin units, exact
    (dyadic weights on integers below :data:`~.arithmetic.MAX_LATENT`): PyTorch's bilinear
    interpolation, whose float64 result is exact, so any exact computation agrees with it."""
    import torch

    from ..model.latents import upsample_all

    grids = [torch.from_numpy(g.astype(np.float64)) for g in latents]
    with torch.no_grad():
        return upsample_all(grids, arch.latents.exponents, size).numpy()


def synthesise(mlp: list[IntLayer], residual: list[IntLayer], upsampled: np.ndarray,
               arch: ArchitectureConfig, max_value: int, chunk: int = 1 << 16) -> np.ndarray:
    """Integer-exact synthesis: (N_grids, H, W) upsampled latents in bin units (float64, exact
    dyadic values) -> (C, H, W) integer pixel values in [0, max_value].

    ``chunk`` (pixels per matrix product) changes memory use, never the result.
    """
    n, h, w = upsampled.shape
    flat = upsampled.reshape(n, h * w).T
    bits = upsampled_fraction_bits(arch)
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
