"""Autoregressive upsampler (ARU) blocks: MARM's fast-decoding entropy model for coarse grids.

MARM (marm-fast-decoding.md) codes the M coarsest latent grids with ARU blocks instead of the
pixel-serial ARM: each grid's (mu, scale) is predicted from the coarser grid, in two passes over a
checkerboard, so a decoder evaluates whole grids at once instead of wave by wave. The paper's
figures with the blocks' inside are missing; this is our design (docs/bitstream.md has the
exact version):

* Grids are coded from the coarsest down. Grid ``n``'s *parent* is grid ``n + 1`` (half its
  size); the coarsest ARU grid has none, and reads zeros (the paper starts from mu = 0).
* Pass 1 (anchors: positions with ``i + j`` even) reads, for latent ``(i, j)``: the parent's 3x3
  neighbourhood around ``(i // 2, j // 2)`` (bins, zero outside), the parent's own predicted
  ``(mu, raw log-scale)`` there, a positional encoding ``(i / h - 1/2, j / w - 1/2)`` and a level
  encoding ``2 n / L``: 14 inputs.
* Pass 2 (the other positions) reads the same plus the four neighbours in the grid itself (all
  anchors, already decoded) and pass 1's ``(mu, raw)`` at the position: 20 inputs.
* Each pass is one MLP (hidden widths ``aru_widths``, GELU) shared by all ARU grids (the level
  encoding tells them apart), with the ARM's output convention: (mu in real units, raw log-scale).
  A grid's (mu, raw) map (pass 1 at anchors, pass 2 elsewhere) is its children's parent input.

Inputs are exact multiples of 2**-16 (the decoder's fixed point): latents are integers, the
encodings are computed in integer arithmetic by :func:`position_encoding`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ArchitectureConfig, EntropyConfig
from ..exact.arithmetic import ONE
from ..exact.aru import (ANCHOR_INPUTS, NEIGHBOUR_OFFSETS, PARENT_OFFSETS, REST_INPUTS, anchor_mask, aru_levels,
                         level_encoding, position_encoding)
from .entropy import init_linear, latent_bits
from .mlp import mlp_channels_first

class AutoregressiveUpsampler(nn.Module):
    """The two ARU networks (anchors, then the rest), shared by every ARU grid."""

    def __init__(self, config: EntropyConfig):
        super().__init__()
        self.config = config
        self.anchor = nn.ModuleList(_layers([ANCHOR_INPUTS, *config.aru_widths, 2]))
        self.rest = nn.ModuleList(_layers([REST_INPUTS, *config.aru_widths, 2]))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in (*self.anchor, *self.rest):
            init_linear(layer)

    def grid_outputs(self, bins: torch.Tensor, parent: tuple[torch.Tensor, torch.Tensor] | None,
                     level: int, num_grids: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One grid's (mu, raw) for each of its latents ((2, h, w)) and the anchor mask, from its
        latents (bins, (h, w); only anchors are read) and its parent's latents and (mu, raw)
        map (None for the coarsest grid)."""
        h, w = bins.shape
        base = parent_features(parent, (h, w), level, num_grids, bins.dtype, bins.device)  # (14, h, w)
        first = mlp_channels_first(self.anchor, base.reshape(ANCHOR_INPUTS, -1)).reshape(2, h, w)
        mask = torch.from_numpy(anchor_mask((h, w))).to(bins.device)
        if h * w == 1:
            return first, mask
        # pass 2 everywhere, kept where it is used: cheaper to fit than gathering the other half
        features = torch.cat([base, neighbours(bins), first], dim=0).reshape(REST_INPUTS, -1)
        second = mlp_channels_first(self.rest, features).reshape(2, h, w)
        return torch.where(mask, first, second), mask

    def rates(self, bins: list[torch.Tensor], arch: ArchitectureConfig) -> dict[int, torch.Tensor]:
        """Estimated bits of every ARU grid (by grid index), coarsest first."""
        step, config = arch.latents.step, arch.entropy
        parent, out = None, {}
        for level in aru_levels(arch):
            outputs, _ = self.grid_outputs(bins[level], parent, level, arch.latents.num_grids)
            out[level] = latent_bits(bins[level].reshape(-1), outputs.reshape(2, -1), config, step).sum()
            parent = (bins[level], outputs)
        return out


def _layers(widths: list[int]) -> list[nn.Linear]:
    return [nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])]


def parent_features(parent: tuple[torch.Tensor, torch.Tensor] | None, shape: tuple[int, int],
                    level: int, num_grids: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Pass 1's inputs for every latent of a grid of ``shape``: (14, h, w)."""
    h, w = shape
    if parent is None:
        parts = [torch.zeros(11, h, w, dtype=dtype, device=device)]
    else:
        grid, outputs = parent
        hp, wp = grid.shape
        padded = F.pad(grid, (1, 1, 1, 1))
        coarse = torch.cat([torch.stack([padded[1 + di: 1 + di + hp, 1 + dj: 1 + dj + wp]
                                         for di, dj in PARENT_OFFSETS]), outputs], dim=0)  # (11, hp, wp)
        # every parent value to its 2x2 children (nearest), cropped to the child grid
        children = F.interpolate(coarse[None], scale_factor=2.0, mode="nearest")[0]
        parts = [children[:, :h, :w]]
    pe_y = torch.from_numpy(position_encoding(h) / ONE).to(device, dtype)
    pe_x = torch.from_numpy(position_encoding(w) / ONE).to(device, dtype)
    level_code = torch.full((1, h, w), level_encoding(level, num_grids) / ONE, dtype=dtype, device=device)
    parts += [pe_y[None, :, None].expand(1, h, w), pe_x[None, None, :].expand(1, h, w), level_code]
    return torch.cat(parts, dim=0)


def neighbours(grid: torch.Tensor) -> torch.Tensor:
    """The four direct neighbours of every latent (up, down, left, right; zero outside): (4, h, w)."""
    h, w = grid.shape
    padded = F.pad(grid, (1, 1, 1, 1))
    return torch.stack([padded[1 + di: 1 + di + h, 1 + dj: 1 + dj + w] for di, dj in NEIGHBOUR_OFFSETS])


__all__ = ["AutoregressiveUpsampler", "parent_features", "neighbours"]
