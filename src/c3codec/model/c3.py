"""The C3 image model: latent grids -> upsampling -> synthesis, plus the ARM for the rate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..config import ArchitectureConfig
from .aru import AutoregressiveUpsampler
from .entropy import EntropyModel, grid_contexts, grid_rates, latent_bits
from .latents import LatentGrids, upsample_all
from .synthesis import Synthesis


@dataclass
class ForwardResult:
    image: torch.Tensor  # (C, H, W) in [0, 1]
    bits: torch.Tensor  # scalar: estimated latent bits
    bits_per_grid: list[torch.Tensor]


class C3Model(nn.Module):
    """All trainable parts of C3 for one image of ``channels`` x ``size`` (H, W), or one video
    patch of ``channels`` x (T, H, W) (3-D latent grids, trilinear upsampling, the ARM's
    previous-frame context; ``config.entropy.prev_frame`` > 0)."""

    def __init__(self, size: tuple[int, ...], channels: int, config: ArchitectureConfig):
        super().__init__()
        self.config = config
        self.size = tuple(size)
        self.channels = channels
        self.latents = LatentGrids(self.size, config.latents)
        self.synthesis, self.entropy, self.aru = build_networks(config, channels)

    def forward(self, bins: list[torch.Tensor]) -> ForwardResult:
        """Decode (approximately) quantised latents given in bin units, and estimate their rate."""
        bits, per_grid = self.rate(bins)
        return ForwardResult(self.synthesize(bins), bits, per_grid)

    def synthesize(self, bins: list[torch.Tensor]) -> torch.Tensor:
        """The image ((C, H, W) in [0, 1]; a video's (C, T, H, W)) that latents in bin units
        decode to."""
        step = self.config.latents.step
        # scaled before upsampling: the grids hold 1.33 values per pixel, the upsampled stack N.
        # The upsampled stack is a temporary: its gradient may overwrite it (memory, not speed:
        # N floats per pixel, 330 MB at 12 MP, not allocated a second time at the step's peak).
        ups = upsample_all([b * step for b in bins], self.config.latents.exponents, self.size)
        return self.synthesis(ups, scratch_input=True)

    def rate(self, bins: list[torch.Tensor], grids: Sequence[int] | None = None
             ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Estimated bits of latents in bin units under the entropy model (the ARM, and the ARU
        for MARM's coarse grids): the total, and per grid, over the grids listed in ``grids``
        (default: all).

        Independent of :meth:`synthesize`, and a sum over grids, so fitting can share the work
        out over cores."""
        chosen = list(range(len(bins))) if grids is None else list(grids)
        arm = [k for k in chosen if k < self.config.arm_grids]
        per_grid = dict(zip(arm, self._arm_rate(bins, arm)[1])) if arm else {}
        if self.aru is not None and len(arm) < len(chosen):
            aru = self.aru.rates(bins, self.config)
            per_grid.update({k: aru[k] for k in chosen if k not in per_grid})
        ordered = [per_grid[k] for k in chosen]
        return torch.stack(ordered).sum(), ordered

    def _arm_rate(self, bins: list[torch.Tensor], chosen: list[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Bits of the ARM grids in ``chosen``."""
        if self.config.entropy.per_grid:  # each grid under its own ARM
            per_grid = [self._shared_arm_rate(bins, [k], self.arm(k))[0] for k in chosen]
            return torch.stack(per_grid).sum(), per_grid
        return self._shared_arm_rate(bins, chosen, self.arm(0))

    def _shared_arm_rate(self, bins: list[torch.Tensor], chosen: list[int], arm: EntropyModel
                         ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Bits of the grids in ``chosen`` under the one ARM ``arm``."""
        step = self.config.latents.step
        fused = grid_rates(bins, arm, step, chosen)
        if fused is not None:
            return fused.sum(), list(fused.unbind())
        read = set(chosen) | ({k - 1 for k in chosen if k > 0} if self.config.entropy.use_prev_grid else set())
        real = [b * step if k in read else b for k, b in enumerate(bins)]  # grids not read stay unscaled
        contexts = grid_contexts(real, self.config.entropy, chosen)  # (inputs, their latents)
        values = torch.cat([bins[k].reshape(-1) for k in chosen])
        bits = latent_bits(values, arm(contexts), self.config.entropy, step)
        per_grid = list(torch.split(bits, [bins[k].numel() for k in chosen]))
        return bits.sum(), [g.sum() for g in per_grid]

    def arm(self, grid: int) -> EntropyModel:
        """The ARM that codes ARM grid ``grid``."""
        return arm_networks(self.entropy)[self.config.arm_index(grid)]

    def network_modules(self) -> list[nn.Module]:
        return network_modules(self.config, self.synthesis, self.entropy, self.aru)


ArmModule = EntropyModel | nn.ModuleList
"""The ARM of a model: one :class:`EntropyModel` shared by all grids, or with ``per_grid`` a
``ModuleList`` of one per ARM grid (so that the shared ARM keeps the state-dict names of the
shipped pretrained weights)."""


def build_networks(config: ArchitectureConfig, channels: int
                   ) -> tuple[Synthesis, ArmModule, AutoregressiveUpsampler | None]:
    """The synthesis, ARM and (with MARM) ARU networks of an architecture (encoder and decoder
    alike)."""
    aru = AutoregressiveUpsampler(config.entropy) if config.entropy.aru_grids else None
    arm: ArmModule = (nn.ModuleList(EntropyModel(config.entropy) for _ in range(config.num_arms))
                      if config.entropy.per_grid else EntropyModel(config.entropy))
    return Synthesis(config.latents.num_grids, channels, config.synthesis), arm, aru


def arm_networks(entropy: ArmModule) -> list[EntropyModel]:
    """The ARM networks of a model, in bitstream order."""
    return list(entropy) if isinstance(entropy, nn.ModuleList) else [entropy]


def network_modules(config: ArchitectureConfig, synthesis: Synthesis, entropy: ArmModule,
                    aru: AutoregressiveUpsampler | None) -> list[nn.Module]:
    """Layers whose weights and biases are quantised and sent, in bitstream order: the
    synthesis, the ARM networks (none when the ARU codes every grid; one per grid with
    ``per_grid``), the ARU's anchor and rest networks."""
    arm = [layer for net in arm_networks(entropy) for layer in net.layers] if config.arm_grids else []
    return [*synthesis.mlp, *synthesis.residual, *arm, *(() if aru is None else (*aru.anchor, *aru.rest))]
