"""Decoding complexity in multiply-accumulates per pixel (c3-supplementary B.4).

Only matrix products count (no non-linearities); bilinear upsampling is bounded by 8 MACs per
output pixel and grid; the ARM is applied once per latent; conditioning on the previous grid adds
one bilinear resampling (8 MACs) per latent. MARM's ARU grids cost their anchor network per
latent and their second network per non-anchor.
"""

from __future__ import annotations

import math

from ..config import ArchitectureConfig
from ..exact.aru import aru_macs_per_latent

UPSAMPLING_MACS = 8
TRILINEAR_MACS = 16  # video (B.4): eight grid points and their weights


def macs_per_pixel(config: ArchitectureConfig, height: int, width: int, channels: int = 3,
                   frames: int | None = None) -> dict[str, float]:
    """MACs/pixel of the entropy model, upsampling and synthesis, and their total; of a video
    patch of ``frames`` frames when given."""
    size = (height, width) if frames is None else (frames, height, width)
    pixels = math.prod(size)
    shapes = config.latents.grid_shapes(size)
    arm_latents = sum(math.prod(s) for s in shapes[:config.arm_grids])
    aru_latents = sum(math.prod(s) for s in shapes[config.arm_grids:])
    ent = config.entropy
    widths = [ent.num_inputs, *ent.widths, 2]
    per_latent = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    if ent.use_prev_grid:
        per_latent += UPSAMPLING_MACS
    entropy = (per_latent * arm_latents + aru_macs_per_latent(ent) * aru_latents) / pixels
    upsampling = ((UPSAMPLING_MACS if frames is None else TRILINEAR_MACS)
                  * sum(1 for e in config.latents.exponents if e > 0))
    syn = config.synthesis
    widths = [config.latents.num_grids, *syn.widths, channels]
    synthesis = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    synthesis += syn.num_residual * syn.residual_kernel**2 * channels * channels
    return {"entropy": entropy, "upsampling": float(upsampling), "synthesis": float(synthesis),
            "total": entropy + upsampling + synthesis}
