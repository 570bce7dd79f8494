"""C3 adaptive (c3-paper section 3.1; c3-supplementary Table 5 for images, Table 6 for videos):
choose the architecture per image or video patch from a few candidates by short real encodings,
then fit the chosen one with what is left of the budget.

Each trial is a whole encoding (fit, parameter search, range coding) of its candidate with an
equal share of :data:`TRIAL_SHARE` of the budget (or of the steps), scored by the RD cost the
loss optimises, MSE + lambda * bits per pixel, on the exact reconstruction and the real payload
size, so that larger networks pay for their parameters. The choice is written into the file
with the architecture, as any setting is: decoders need nothing new.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from .config import ArchitectureConfig, FitConfig
from .encoder import CodedModel, fit_and_code

TRIAL_SHARE = 0.3
"""Share of an adaptive encoding's budget (or, with a step count, of its steps) spent on the
trials together; the chosen setting is then fitted from scratch with the rest (C3 refits too)."""


@dataclass
class Trial:
    label: str
    arch: ArchitectureConfig
    cost: float  # MSE + lambda * bits / pixel of the trial's real encoding
    bytes: int
    psnr: float
    steps: int
    chosen: bool = False


def image_candidates(arch: ArchitectureConfig) -> list[tuple[str, ArchitectureConfig]]:
    """Table 5's axes that pay on a CPU budget: the network widths (12 or 18) and the finest
    grid on or off (it is often worth nothing at low rates)."""
    out = []
    for width in (12, 18):
        for drop in (False, True):
            candidate = arch.with_widths(width).with_drop_finest(drop)
            out.append((f"width {width}{', no finest grid' if drop else ''}", candidate))
    return out


def video_candidates(arch: ArchitectureConfig) -> list[tuple[str, ArchitectureConfig]]:
    """The video axes this codec has (C3's S settings are not built): the previous frame's
    window (3x3 or 5x5, for motion), wider networks, the finest grid switched (off, or on where
    ``arch`` has none), one ARM per grid or one shared (C3's E3 against E1), switched."""
    ent, drop = arch.entropy, arch.latents.drop_finest
    return [("default", arch),
            ("previous-frame window 5x5", replace(arch, entropy=replace(ent, prev_frame=5))),
            ("networks 24 wide", arch.with_widths(24)),
            ("finest grid on" if drop else "no finest grid", arch.with_drop_finest(not drop)),
            ("one shared ARM" if ent.per_grid else "one ARM per grid", arch.with_per_grid(not ent.per_grid))]


def choose(target: torch.Tensor, lmbda: float, candidates: list[tuple[str, ArchitectureConfig]],
           fit_config: FitConfig, budget_seconds: float | None,
           score: Callable[[CodedModel], tuple[float, int]]) -> tuple[ArchitectureConfig, list[Trial], float]:
    """The candidate with the lowest RD cost after a short encoding each; also the trials and
    the seconds they took. ``score`` gives a trial's (MSE on [0, 1] values of its exact
    reconstruction, payload bytes)."""
    start = time.perf_counter()
    pixels = target[0].numel()
    trials = []
    for label, arch in candidates:
        if budget_seconds is not None:
            coded = fit_and_code(target, lmbda, arch, fit_config,
                                 budget_seconds=budget_seconds * TRIAL_SHARE / len(candidates))
        else:
            steps = max(1, round(fit_config.steps * TRIAL_SHARE / len(candidates)))
            coded = fit_and_code(target, lmbda, arch, replace(fit_config, steps=steps))
        mse, size = score(coded)
        psnr = 10 * math.log10(1 / max(mse, 1e-20))
        trials.append(Trial(label, arch, mse + lmbda * 8.0 * size / pixels, size, psnr, coded.report.stage1_steps))
    best = min(trials, key=lambda trial: trial.cost)
    best.chosen = True
    return best.arch, trials, time.perf_counter() - start


MASK_SHARE = 0.15
"""Share of a patch's budget (or steps) spent learning where its previous-frame windows go."""
WIDE_WINDOW = 9
"""Side of the wide previous-frame window the placement is learned on (C3: 65 on 1080p; a QCIF
latent moves a few positions per frame)."""
MASK_GRIDS = 3
"""Grids that get a learned window, finest first (C3's K); coarser grids read no previous frame."""


def learn_frame_offsets(target: torch.Tensor, lmbda: float, arch: ArchitectureConfig, fit_config: FitConfig,
                        budget_seconds: float | None) -> tuple[tuple[int, int] | None, ...]:
    """C3's learned previous-frame masks (c3-supplementary A.3): fit briefly
    with a wide (:data:`WIDE_WINDOW`) previous-frame window; score each of its positions, per
    grid, by how much it feeds the grid's ARM (the first layer's summed |weights| on it times the
    mean |input| it gets from that grid); place each of the :data:`MASK_GRIDS` finest grids'
    window where its scores sum highest. Returns the per-grid offsets (None: no previous frame)
    for ``arch.entropy.prev_frame_offsets``; the caller refits from scratch with them."""
    from .fitting.fit import fit
    from .model.c3 import C3Model
    from .model.entropy import grid_contexts

    wide = replace(arch, entropy=replace(arch.entropy, prev_frame=WIDE_WINDOW, prev_frame_offsets=()))
    torch.manual_seed(fit_config.seed)
    model = C3Model(tuple(target.shape[1:]), target.shape[0], wide).to(target.device)
    steps = max(1, round(fit_config.steps * MASK_SHARE))
    config = replace(fit_config, steps=steps, stage2_fraction=0.0)
    fit(model, target, lmbda, config, stage1_seconds=None if budget_seconds is None else budget_seconds * MASK_SHARE)
    causal = arch.entropy.num_causal
    with torch.no_grad():
        bins = [torch.round(b).cpu() for b in model.latents.in_bins()]
        step = arch.latents.step
        offsets: list[tuple[int, int] | None] = []
        for n in range(arch.latents.num_grids):
            if n >= MASK_GRIDS:
                offsets.append(None)
                continue
            weight = model.arm(n).layers[0].weight.detach().cpu().abs().sum(dim=0)[causal:]  # (WIDE^2,)
            inputs = grid_contexts([b * step for b in bins], wide.entropy, [n])[causal:]  # (WIDE^2, latents)
            scores = (weight * inputs.abs().mean(dim=1)).reshape(WIDE_WINDOW, WIDE_WINDOW)
            offsets.append(best_window(scores, arch.entropy.prev_frame))
    return tuple(offsets)


def best_window(scores: torch.Tensor, side: int) -> tuple[int, int]:
    """Offset from the centre of ``scores`` (a square) of the ``side`` x ``side`` window with the
    largest sum (the centred one among equals)."""
    wide = scores.shape[0]
    centre = (wide - side) // 2
    sums = torch.nn.functional.avg_pool2d(scores[None, None], side, stride=1)[0, 0] * side * side
    best, where = sums[centre, centre], (centre, centre)
    for i in range(sums.shape[0]):
        for j in range(sums.shape[1]):
            if sums[i, j] > best:
                best, where = sums[i, j], (i, j)
    return where[0] - centre, where[1] - centre
