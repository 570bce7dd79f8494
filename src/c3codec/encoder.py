"""Encoding an image: fit -> quantise parameters (grid search) -> range code -> file bytes."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from . import runtime
from .coding import bitstream
from .coding.bitstream import C3File, ImageInfo
from .coding.latents import encode_latents
from .coding.parameters import (MAX_PARAM_RANGE, PARAM_STEPS, encode_tensors, int_layers, load_quantized,
                                network_tensors, quantize_tensors, tensor_bits, tensor_code)
from .config import ArchitectureConfig, FitConfig, NetworkInit, default_architecture, preset_fit_config
from .decoder import ExactNetworks, reconstruct, split_layers
from .evaluation.macs import macs_per_pixel
from .evaluation.metrics import psnr as image_psnr
from .fitting.fit import FitReport, fit
from .fitting.pretrained import load_pretrained_networks
from .io.images import Picture
from .model.c3 import C3Model
from .model.latents import upsample_all


@dataclass
class EncodeStats:
    height: int
    width: int
    bytes: int
    bpp: float  # from the file size
    psnr: float  # of the exact reconstruction the decoder will produce
    header_bytes: int
    synthesis_bytes: int
    entropy_bytes: int
    latent_bytes: list[int]
    estimated_bits: float  # latent + parameter bits estimated by the model (no header)
    w_step: float
    b_step: float
    macs_per_pixel: float
    fit_seconds: float
    encode_seconds: float
    steps: int  # stage-1 steps actually run
    step_seconds: float  # measured step time when a budget chose the steps, else NaN
    network_init: NetworkInit = "random"  # how the networks started: "random" or "pretrained"
    fit_report: FitReport = field(repr=False, default_factory=FitReport)
    adaptive_trials: list = field(default_factory=list)  # adaptive.Trial of each candidate (--adaptive)


@dataclass
class EncodeResult:
    data: bytes
    stats: EncodeStats
    reconstruction: Picture  # bit-identical to what decode(data) returns
    latents: list[np.ndarray] = field(repr=False, default_factory=list)


def _target(picture: Picture, device: torch.device) -> torch.Tensor:
    """The picture as a (C, H, W) float32 tensor in [0, 1]. Converted straight into its one
    (C, H, W) tensor: ``astype`` / divide / permute-contiguous made three image-sized float
    copies (140 MB each at 12 MP) whose holes fragmented the heap. Same values, bit for bit
    (a float32 division by the same number)."""
    pixels = picture.pixels.transpose(2, 0, 1)
    target = np.empty(pixels.shape, dtype=np.float32)
    np.divide(pixels, picture.max_value, out=target, dtype=np.float32)
    return torch.from_numpy(target).to(device)  # (C, H, W)


SEARCH_PIXELS = 1 << 20
"""Above this many pixels the parameter-step search evaluates its 49 candidates on windows
covering about this many pixels instead of the whole image: at 12 MP the full search took
longer than the fitting it follows (49 passes of 3 s)."""

SEARCH_WINDOW = 256


def search_windows(size: tuple[int, int], exponents: tuple[int, ...]) -> list[tuple[slice, slice]]:
    """Windows of the image the step search evaluates: the whole image up to
    :data:`SEARCH_PIXELS`, else about that many pixels in windows spread evenly over it,
    aligned to the coarsest grid so that every grid crops at a whole latent."""
    h, w = size
    if h * w <= SEARCH_PIXELS:
        return [(slice(0, h), slice(0, w))]
    align = 2 ** max(exponents)
    wh, ww = min(max(SEARCH_WINDOW, align), h), min(max(SEARCH_WINDOW, align), w)
    count = math.ceil(SEARCH_PIXELS / (wh * ww))
    ky = max(1, min(math.ceil(math.sqrt(count * h / w)), h // wh))
    kx = max(1, min(math.ceil(count / ky), w // ww))

    def starts(extent: int, window: int, k: int) -> list[int]:
        spots = {((extent - window) * i // max(k - 1, 1)) // align * align for i in range(k)}
        return sorted(spots)

    return [(slice(y, y + wh), slice(x, x + ww)) for y in starts(h, wh, ky) for x in starts(w, ww, kx)]


def _crop_bins(bins: list[torch.Tensor], exponents: tuple[int, ...], rows: slice, cols: slice
               ) -> list[torch.Tensor]:
    return [b[rows.start >> e: -(-rows.stop // 2**e), cols.start >> e: -(-cols.stop // 2**e)]
            for b, e in zip(bins, exponents)]


@torch.no_grad()
def _search_param_steps(model: C3Model, target: torch.Tensor, bins: list[torch.Tensor],
                        lmbda: float) -> tuple[float, float, list[np.ndarray], float]:
    """C3's grid search: the (weight, bias) step pair minimising D + lambda * (latent + param bits).

    Returns the steps, the quantised parameters and their estimated (latent + parameter) bits.
    On images larger than :data:`SEARCH_PIXELS` the distortion and the latent bits are
    estimated on :func:`search_windows` (the latent bits scaled to the whole image).
    """
    pixels = target[0].numel()
    trial = copy.deepcopy(model)
    originals = network_tensors(model.network_modules())
    slots = network_tensors(trial.network_modules())
    exponents = model.config.latents.exponents
    whole = [(slice(0, target.shape[-2]), slice(0, target.shape[-1]))]
    windows = search_windows(tuple(target.shape[-2:]), exponents) if target.dim() == 3 else whole
    crops = [(_crop_bins(bins, exponents, rows, cols), target[:, rows, cols]) for rows, cols in windows]
    window_pixels = sum(t[0].numel() for _, t in crops)
    best = (math.inf, PARAM_STEPS[-1], PARAM_STEPS[-1], None, math.nan)
    for w_step in PARAM_STEPS:
        for b_step in PARAM_STEPS:
            values = quantize_tensors(originals, w_step, b_step)
            if any(tensor_code(v).symbol_range > MAX_PARAM_RANGE for v in values):
                continue
            load_quantized(slots, values, w_step, b_step)
            if len(crops) == 1:  # the whole image
                out = trial(bins)
                distortion, latent_bits = float(torch.mean((out.image - target) ** 2)), float(out.bits)
            else:
                squared, latent_bits = 0.0, 0.0
                for crop, window_target in crops:
                    step = trial.config.latents.step
                    image = trial.synthesis(upsample_all([b * step for b in crop], exponents,
                                                         tuple(window_target.shape[-2:])))
                    squared += float(torch.sum((image - window_target) ** 2))
                    latent_bits += float(trial.rate(crop)[0]) * pixels / window_pixels
                distortion = squared / (window_pixels * target.shape[0])
            bits = latent_bits + sum(tensor_bits(v) for v in values)
            cost = distortion + lmbda * bits / pixels
            if cost < best[0]:
                best = (cost, w_step, b_step, values, bits)
    if best[3] is None:
        raise ValueError("network parameters are too large to quantise")
    return best[1], best[2], best[3], best[4]


@dataclass(frozen=True)
class BudgetPlan:
    stage1_seconds: float  # wall-clock time stage 1 may use
    steps: int  # stage-1 steps expected at the measured rate (fitting re-plans as it goes)
    step_seconds: float  # measured time of one stage-1 step


BUDGET_MARGIN = 0.95
"""Share of the budget planned for: stage 1 is held to its time, so only stage 2, the parameter
search and the coding pass (estimated from the step time) can overrun their share."""


def plan_budget(model: C3Model, target: torch.Tensor, lmbda: float, config: FitConfig,
                seconds_left: float, probe_steps: int = 4) -> BudgetPlan:
    """Split ``seconds_left`` of wall-clock time: stage 1 gets what is left after reserving time
    for stage 2 (at most ``stage2_fraction`` more steps), the parameter grid search (49 forward
    passes, about a third of a step each) and the exact coding pass.

    Times a few steps on a scratch copy of the model to measure this machine's step time.
    """
    from .fitting.fit import make_optimizer, stage1_step

    scratch = copy.deepcopy(model)
    optimizer = make_optimizer(scratch.parameters(), config, config.lr)
    probe = replace(config, steps=1000)
    times = []
    for i in range(probe_steps + 1):
        t0 = time.perf_counter()
        stage1_step(scratch, optimizer, target, lmbda, probe, i, None)
        times.append(time.perf_counter() - t0)
    step = sorted(times[1:])[len(times[1:]) // 2]
    spent = sum(times)
    overhead = len(PARAM_STEPS) ** 2 * step / 3 + 10 * step + 1.0
    usable = BUDGET_MARGIN * (seconds_left - spent) - overhead
    stage1_seconds = max(0.0, usable / (1.0 + config.stage2_fraction))
    return BudgetPlan(stage1_seconds, int(stage1_seconds / step), step)


@dataclass
class CodedModel:
    """A fitted model, quantised and coded: everything a file (or a video patch) holds, with
    what fitting did. ``file.image`` is the caller's to fill."""

    file: C3File
    nets: ExactNetworks
    latents: list[np.ndarray]  # integer grids, bin units
    estimated_bits: float
    report: FitReport
    plan: BudgetPlan | None
    pretrained: bool


def fit_and_code(target: torch.Tensor, lmbda: float, arch: ArchitectureConfig, fit_config: FitConfig,
                 progress: bool = False, budget_seconds: float | None = None) -> CodedModel:
    """Fit a model to ``target`` ((C, H, W) image or (C, T, H, W) video patch in [0, 1], on the
    fitting device), choose the parameter steps, and range code networks and latents.

    With ``budget_seconds`` stage 1 runs for the time that leaves room for the rest (see
    :func:`plan_budget`)."""
    start = time.perf_counter()
    device = target.device
    torch.manual_seed(fit_config.seed)  # the network initialisation is part of the result
    model = C3Model(tuple(target.shape[1:]), target.shape[0], arch)
    pretrained = fit_config.network_init == "pretrained" and load_pretrained_networks(model) is not None
    model = model.to(device)
    plan = None
    if budget_seconds is not None:
        plan = plan_budget(model, target, lmbda, fit_config,
                           budget_seconds - (time.perf_counter() - start))
        fit_config = replace(fit_config, steps=plan.steps)
    report = fit(model, target, lmbda, fit_config, progress=progress,
                 stage1_seconds=None if plan is None else plan.stage1_seconds)
    model = model.cpu()
    target = target.cpu()

    with torch.no_grad():
        bins = [torch.round(b) for b in model.latents.in_bins()]
    latents = [b.numpy().astype(np.int64) for b in bins]
    w_step, b_step, values, estimated_bits = _search_param_steps(model, target, bins, lmbda)
    nets = split_layers(arch, int_layers(values, w_step, b_step))

    streams = encode_latents(nets.entropy, latents, arch)
    n_syn = bitstream.num_synthesis_tensors(arch)
    syn_params, syn_codes = encode_tensors(values[:n_syn])
    ent_params, ent_codes = encode_tensors(values[n_syn:])
    image = ImageInfo(target.shape[-2], target.shape[-1], target.shape[0], 8)
    c3file = C3File(image, arch, w_step, b_step, syn_codes + ent_codes, syn_params, ent_params, streams)
    return CodedModel(c3file, nets, latents, estimated_bits, report, plan, pretrained)


def encode(picture: Picture, lmbda: float, arch: ArchitectureConfig | None = None,
           fit_config: FitConfig | None = None, progress: bool = False,
           device: str | torch.device = "cpu", budget_seconds: float | None = None,
           adaptive: bool = False) -> EncodeResult:
    """Compress one picture at rate-distortion weight ``lmbda`` (loss = MSE + lmbda * bpp).

    With ``budget_seconds`` stage 1 runs for the time that leaves room for the rest of the
    encoding (see :func:`plan_budget`), with every schedule scaled to the steps that fit; the
    default architecture is then the cheaper one of :func:`config.default_architecture`.
    ``adaptive``: C3 adaptive, the architecture chosen among variants of ``arch`` by short
    trial encodings (:mod:`c3codec.adaptive`).
    """
    check_lambda(lmbda)
    arch = arch or default_architecture(budget=budget_seconds is not None)
    fit_config = fit_config or preset_fit_config("fast")
    device = runtime.fitting_device(device)
    start = time.perf_counter()
    target = _target(picture, device)
    image = ImageInfo(picture.height, picture.width, picture.channels, picture.bit_depth)

    def left() -> float | None:
        return None if budget_seconds is None else budget_seconds - (time.perf_counter() - start)

    trials = []
    if adaptive:
        from .adaptive import choose, image_candidates

        def score(trial: CodedModel) -> tuple[float, int]:
            pixels = reconstruct(trial.file.arch, image, trial.nets.mlp, trial.nets.residual, trial.latents)
            size = len(bitstream.write(replace(trial.file, image=image)))
            return normalised_mse(pixels, picture.pixels, picture.max_value), size

        arch, trials, _ = choose(target, lmbda, image_candidates(arch), fit_config, left(), score)
    coded = fit_and_code(target, lmbda, arch, fit_config, progress, left())
    del target
    c3file = replace(coded.file, image=image)
    data = bitstream.write(c3file)
    nets, report, plan = coded.nets, coded.report, coded.plan

    pixels = reconstruct(arch, image, nets.mlp, nets.residual, coded.latents)
    stats = EncodeStats(
        height=picture.height, width=picture.width, bytes=len(data),
        bpp=8.0 * len(data) / (picture.height * picture.width),
        psnr=image_psnr(pixels, picture.pixels, picture.max_value),
        header_bytes=c3file.header_bytes, synthesis_bytes=len(c3file.synthesis_params),
        entropy_bytes=len(c3file.entropy_params),
        latent_bytes=[len(s) for s in c3file.latents.streams],
        estimated_bits=coded.estimated_bits, w_step=c3file.w_step, b_step=c3file.b_step,
        macs_per_pixel=macs_per_pixel(arch, picture.height, picture.width, picture.channels)["total"],
        fit_seconds=report.seconds, encode_seconds=time.perf_counter() - start,
        steps=report.stage1_steps, step_seconds=math.nan if plan is None else plan.step_seconds,
        network_init="pretrained" if coded.pretrained else "random",
        fit_report=report, adaptive_trials=trials)
    return EncodeResult(data, stats, Picture(pixels, picture.bit_depth), coded.latents)


def normalised_mse(decoded: np.ndarray, original: np.ndarray, max_value: int) -> float:
    """MSE on [0, 1] values, as the loss measures distortion."""
    diff = (decoded.astype(np.float64) - original.astype(np.float64)) / max_value
    return float(np.mean(diff * diff))


def check_lambda(lmbda: float) -> None:
    if not (lmbda > 0 and math.isfinite(lmbda)):
        raise ValueError(f"lambda must be a positive number, got {lmbda}")
