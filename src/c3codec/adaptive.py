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
            candidate = replace(arch.with_widths(width), latents=replace(arch.latents, drop_finest=drop))
            out.append((f"width {width}{', no finest grid' if drop else ''}", candidate))
    return out


def video_candidates(arch: ArchitectureConfig) -> list[tuple[str, ArchitectureConfig]]:
    """The video axes this codec has (C3's E and S settings are not all built): the previous
    frame's window (3x3 or 5x5, for motion), wider networks, the finest grid off."""
    ent = arch.entropy
    return [("default", arch),
            ("previous-frame window 5x5", replace(arch, entropy=replace(ent, prev_frame=5))),
            ("networks 24 wide", arch.with_widths(24)),
            ("no finest grid", replace(arch, latents=replace(arch.latents, drop_finest=True)))]


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
