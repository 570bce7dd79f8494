"""The C3 image model: latent grids -> upsampling -> synthesis, plus the ARM for the rate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..config import ArchitectureConfig
from .entropy import EntropyModel, grid_contexts, grid_rates, latent_bits
from .latents import LatentGrids, upsample_all
from .synthesis import Synthesis


@dataclass
class ForwardResult:
    image: torch.Tensor  # (C, H, W) in [0, 1]
    bits: torch.Tensor  # scalar: estimated latent bits
    bits_per_grid: list[torch.Tensor]


class C3Model(nn.Module):
    """All trainable parts of C3 for one image of ``channels`` x ``size``."""

    def __init__(self, size: tuple[int, int], channels: int, config: ArchitectureConfig):
        super().__init__()
        self.config = config
        self.size = tuple(size)
        self.channels = channels
        self.latents = LatentGrids(self.size, config.latents)
        self.synthesis, self.entropy = build_networks(config, channels)

    def forward(self, bins: list[torch.Tensor]) -> ForwardResult:
        """Decode (approximately) quantised latents given in bin units, and estimate their rate."""
        bits, per_grid = self.rate(bins)
        return ForwardResult(self.synthesize(bins), bits, per_grid)

    def synthesize(self, bins: list[torch.Tensor]) -> torch.Tensor:
        """The image ((C, H, W) in [0, 1]) that latents in bin units decode to."""
        step = self.config.latents.step
        # scaled before upsampling: the grids hold 1.33 values per pixel, the upsampled stack N
        return self.synthesis(upsample_all([b * step for b in bins], self.config.latents.exponents, self.size))

    def rate(self, bins: list[torch.Tensor], grids: Sequence[int] | None = None
             ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Estimated bits of latents in bin units under the ARM: the total, and per grid, over
        the grids listed in ``grids`` (default: all).

        Independent of :meth:`synthesize`, and a sum over grids, so fitting can share the work
        out over cores."""
        step = self.config.latents.step
        chosen = list(range(len(bins))) if grids is None else list(grids)
        fused = grid_rates([bins[k] for k in chosen], self.entropy, step)
        if fused is not None:
            return fused.sum(), list(fused.unbind())
        read = set(chosen) | ({k - 1 for k in chosen if k > 0} if self.config.entropy.use_prev_grid else set())
        real = [b * step if k in read else b for k, b in enumerate(bins)]  # grids not read stay unscaled
        contexts = grid_contexts(real, self.config.entropy, chosen)  # (inputs, their latents)
        values = torch.cat([bins[k].reshape(-1) for k in chosen])
        bits = latent_bits(values, self.entropy(contexts), self.config.entropy, step)
        per_grid = list(torch.split(bits, [bins[k].numel() for k in chosen]))
        return bits.sum(), [g.sum() for g in per_grid]

    def network_modules(self) -> list[nn.Module]:
        return network_modules(self.synthesis, self.entropy)


def build_networks(config: ArchitectureConfig, channels: int) -> tuple[Synthesis, EntropyModel]:
    """The synthesis and entropy networks of an architecture (encoder and decoder alike)."""
    return Synthesis(config.latents.num_grids, channels, config.synthesis), EntropyModel(config.entropy)


def network_modules(synthesis: Synthesis, entropy: EntropyModel) -> list[nn.Module]:
    """Layers whose weights and biases are quantised and sent, in bitstream order."""
    return [*synthesis.mlp, *synthesis.residual, *entropy.layers]
