"""Decoding a .c3 file: read -> rebuild networks -> decode latents -> upsample -> synthesise.

Imports only what decoding needs (no fitting code). Every step is integer-exact, so the pixels
do not depend on the machine, the thread count or the chunk size.
"""

from __future__ import annotations

import numpy as np
import torch

from .coding.bitstream import BitstreamError, C3File, ImageInfo, num_synthesis_tensors, read
from .coding.latents import LatentStreams, decode_latents
from .coding.parameters import decode_tensors, int_layers, network_tensors
from .config import ArchitectureConfig
from .io.images import Picture
from .model.c3 import build_networks, network_modules
from .exact.arithmetic import IntLayer
from .exact.synthesis import reconstruct_reference
from .model.latents import grid_shapes

DEFAULT_CHUNK = 1 << 16


def network_shapes(arch: ArchitectureConfig, channels: int) -> list[tuple[int, ...]]:
    """Shapes of the coded weight and bias tensors, in bitstream order."""
    with torch.device("meta"):
        synthesis, entropy = build_networks(arch, channels)
    return [tuple(t.shape) for t in network_tensors(network_modules(synthesis, entropy))]


def split_layers(arch: ArchitectureConfig, layers: list[IntLayer]
                 ) -> tuple[list[IntLayer], list[IntLayer], list[IntLayer]]:
    """Exact layers -> (synthesis MLP, synthesis residual convs, ARM)."""
    n_mlp = len(arch.synthesis.widths) + 1
    n_res = arch.synthesis.num_residual
    return layers[:n_mlp], layers[n_mlp: n_mlp + n_res], layers[n_mlp + n_res:]


def reconstruct(arch: ArchitectureConfig, image: ImageInfo, mlp: list[IntLayer],
                residual: list[IntLayer], latents: list[np.ndarray],
                chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Integer latent grids -> (H, W, C) integer pixels, exactly."""
    return reconstruct_reference(arch, (image.height, image.width), image.max_value, mlp, residual,
                                 latents, chunk)


def decode_parsed(f: C3File, chunk: int = DEFAULT_CHUNK) -> tuple[Picture, list[np.ndarray]]:
    """Decode a parsed file; also returns the integer latents (for inspection and tests)."""
    shapes = network_shapes(f.arch, f.image.channels)
    n_syn = num_synthesis_tensors(f.arch)
    try:
        values = (decode_tensors(f.synthesis_params, f.tensor_codes[:n_syn], shapes[:n_syn])
                  + decode_tensors(f.entropy_params, f.tensor_codes[n_syn:], shapes[n_syn:]))
        mlp, residual, arm = split_layers(f.arch, int_layers(values, f.w_step, f.b_step))
        latent_shapes = grid_shapes((f.image.height, f.image.width), f.arch.latents)
        latents = decode_latents(arm, f.latents, latent_shapes, f.arch)
        pixels = reconstruct(f.arch, f.image, mlp, residual, latents, chunk)
    except (ValueError, RuntimeError, OverflowError, IndexError) as exc:
        raise BitstreamError(f"corrupted coded data ({exc})") from None
    return Picture(pixels, f.image.bit_depth), latents


def decode(data: bytes, chunk: int = DEFAULT_CHUNK) -> Picture:
    """Decode the bytes of a .c3 file to a picture; raises BitstreamError on invalid input."""
    return decode_parsed(read(data), chunk)[0]


__all__ = ["decode", "decode_parsed", "reconstruct", "split_layers", "network_shapes",
           "LatentStreams"]
