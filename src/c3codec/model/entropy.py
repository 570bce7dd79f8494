"""Autoregressive entropy model, ARM (c3-supplementary A.1.4, A.2.1).

Each latent is coded with a discretised Laplace whose (mu, scale) an MLP predicts from the causal
neighbourhood of the latent in its own grid (and optionally from a neighbourhood of the previous,
finer grid). For fitting, the masked convolution is written as "gather the context of every
latent, then a matrix product", which is also exactly what the decoder does on a wavefront.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import EntropyConfig
from ..exact.arm import causal_offsets, frame_offset, prev_offsets, previous_frame, shift_plane
from ..runtime import share_chunks
from ..fitting.kernels import LANES, FusedLaplace, FusedRate, fused_laplace, fused_rate, sum_lanes
from .latents import downsample2, downsample2_adjoint
from .mlp import mlp_channels_first

LN2 = math.log(2.0)
MIN_PROBABILITY = 2.0**-24  # the range coder cannot spend more than 24 bits on a symbol


class _GatherOffsets(torch.autograd.Function):
    """Neighbour values of every grid position, channel-first, with a cheap backward.

    Autograd's own backward for 24 slices of a padded grid allocates a full zero tensor per
    slice; here the adjoint accumulates the shifted gradients into one padded buffer. Grids have
    as many dimensions as the offsets (2 for images, 3 for video: (frame, row, col)).
    """

    @staticmethod
    def forward(ctx, offsets: tuple[tuple[int, ...], ...], *grids: torch.Tensor) -> torch.Tensor:
        pad = max(max(abs(d) for d in offset) for offset in offsets)
        sizes = [g.numel() for g in grids]
        out = grids[0].new_empty(len(offsets), sum(sizes))
        start = 0
        for grid, size in zip(grids, sizes):
            padded = F.pad(grid[None, None], (pad,) * (2 * grid.dim()))[0, 0]
            block = out[:, start: start + size].view(len(offsets), *grid.shape)
            for t, offset in enumerate(offsets):
                block[t].copy_(padded[_shifted(offset, grid.shape, pad)])
            start += size
        ctx.offsets, ctx.pad, ctx.shapes = offsets, pad, [tuple(g.shape) for g in grids]
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        pad, grads, start = ctx.pad, [], 0
        for shape in ctx.shapes:
            size = math.prod(shape)
            block = grad_out[:, start: start + size].reshape(len(ctx.offsets), *shape)
            acc = grad_out.new_zeros(tuple(n + 2 * pad for n in shape))
            for t, offset in enumerate(ctx.offsets):
                acc[_shifted(offset, shape, pad)] += block[t]
            grads.append(acc[tuple(slice(pad, pad + n) for n in shape)])
            start += size
        return (None, *grads)


def _shifted(offset: tuple[int, ...], shape: tuple[int, ...], pad: int) -> tuple[slice, ...]:
    """The window of a grid padded by ``pad`` that holds each position's neighbour at ``offset``."""
    return tuple(slice(pad + d, pad + d + n) for d, n in zip(offset, shape))


def gather_offsets(grids: list[torch.Tensor], offsets: list[tuple[int, ...]]) -> torch.Tensor:
    """Grids -> (len(offsets), total positions): neighbour values, zero outside the grid."""
    return _GatherOffsets.apply(tuple(offsets), *grids)


def grid_contexts(grids: list[torch.Tensor], config: EntropyConfig,
                  selection: Sequence[int] | None = None) -> torch.Tensor:
    """ARM inputs of every latent of the grids in ``selection`` (default: all), channel-first:
    (num_inputs, their latents). Grid ``k``'s inputs come from grid ``k`` and, with
    ``use_prev_grid``, grid ``k - 1``; other grids are not read. Video grids (frame, row, col)
    take the causal window in their own frame and the ``prev_frame`` window of the previous
    one."""
    chosen = range(len(grids)) if selection is None else selection
    if config.prev_frame:
        current = gather_offsets([grids[k] for k in chosen], [(0, di, dj) for di, dj in causal_offsets(config.context)])
        window = [(0, di, dj) for di, dj in prev_offsets(config.prev_frame)]
        previous = gather_offsets([previous_frames(grids[k], config, k) for k in chosen], window)
        return torch.cat([current, previous], dim=0)
    ctx = gather_offsets([grids[k] for k in chosen], causal_offsets(config.context))
    if config.use_prev_grid:
        prev = [torch.zeros_like(grids[0]) if k == 0 else downsample2(grids[k - 1], tuple(grids[k].shape))
                for k in chosen]
        ctx = torch.cat([ctx, gather_offsets(prev, prev_offsets(config.prev_kernel))], dim=0)
    return ctx


def previous_frames(grid: torch.Tensor, config: EntropyConfig, k: int) -> torch.Tensor:
    """(T, h, w): what each latent frame of video grid ``k`` reads as its previous frame
    (:func:`~c3codec.exact.arm.previous_frame`; zeros for the first and where none is read)."""
    frames = [previous_frame(grid[t - 1] if t else None, config, k) for t in range(grid.shape[0])]
    return torch.stack([torch.zeros_like(grid[0]) if f is None else f for f in frames])


def init_linear(layer: nn.Linear) -> None:
    """Haiku's default (as in C3): truncated normal, std 1/sqrt(fan_in), zero bias."""
    std = 1.0 / math.sqrt(layer.in_features) / 0.87962566103423978
    nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
    nn.init.zeros_(layer.bias)


class EntropyModel(nn.Module):
    """The ARM MLP: context -> (mu, raw log-scale), shared by all grids (images)."""

    def __init__(self, config: EntropyConfig):
        super().__init__()
        self.config = config
        widths = [config.num_inputs, *config.widths, 2]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Random initialisation from the global torch RNG (see :func:`init_linear`)."""
        for layer in self.layers:
            init_linear(layer)

    def forward(self, contexts: torch.Tensor) -> torch.Tensor:
        """(num_inputs, N) contexts in latent units -> (2, N) raw outputs (mu, raw log-scale)."""
        return mlp_channels_first(self.layers, contexts)


def log_scale_from_raw(raw: torch.Tensor, config: EntropyConfig) -> torch.Tensor:
    """Shift the raw log-scale, clip it to the allowed range and map it to ``log(scale)``."""
    v = torch.clamp(raw + config.log_scale_shift,
                    -2.0 * config.log_scale_max, -2.0 * config.log_scale_min)
    return -0.5 * v


def latent_bits(values: torch.Tensor, raw: torch.Tensor, config: EntropyConfig, step: float) -> torch.Tensor:
    """Bits of each latent (``values``: (N,), bin units) given the ARM's raw outputs for it
    (``raw``: (2, N): mean in real units, raw log-scale): :func:`laplace_bits` after
    :func:`log_scale_from_raw`; on a CPU through the fused kernel (:mod:`.fused`), one pass
    instead of some forty elementwise operators."""
    kernel = fused_laplace(raw.dtype) if raw.device.type == "cpu" else None
    if kernel is None:
        mu, log_scale = raw[0], log_scale_from_raw(raw[1], config)
        return laplace_bits(values, mu / step, torch.exp(log_scale) / step)
    return _FusedLaplaceBits.apply(values, raw, kernel, step, config)


class _FusedLaplaceBits(torch.autograd.Function):
    """:func:`latent_bits` through the kernel, which also returns the derivatives."""

    @staticmethod
    def forward(ctx, values: torch.Tensor, raw: torch.Tensor, kernel: FusedLaplace, step: float,  # type: ignore[override]
                config: EntropyConfig) -> torch.Tensor:
        bits, derivatives = kernel.bits(values, raw, step, config.log_scale_shift, -2.0 * config.log_scale_max,
                                        -2.0 * config.log_scale_min, math.log2(MIN_PROBABILITY))
        ctx.save_for_backward(derivatives)
        return bits

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (derivatives,) = ctx.saved_tensors
        scaled = derivatives * grad
        return scaled[0], scaled[1:], None, None, None


BAND_POSITIONS = 16384
"""Latents per band of rows of the fused rate kernel (as ``mlp.CHUNK``). Bands are the unit of
work shared out over threads, and fixed by the grid's size alone, so the result does not
depend on the thread count."""


def grid_rates(bins: list[torch.Tensor], model: EntropyModel, step: float,
               chosen: Sequence[int] | None = None) -> torch.Tensor | None:
    """Estimated bits of the grids in ``chosen`` (default: all) of ``bins`` (every grid of
    latents, (H, W) each, or a video's (T, H, W), bin units) under the ARM, as a tensor of one
    total per chosen grid, through the fused rate kernel (:mod:`.fused`): contexts, MLP, Laplace
    rate and every gradient in one pass over each grid, computed with the forward pass (fitting
    always takes them). The kernel's second plane is a video grid's previous latent frame, or
    with ``use_prev_grid`` the finer grid before an image grid, downsampled (whose gradient goes
    back to that grid). None where the kernel cannot run (another device, float64, networks
    beyond its limits): then the separate steps must.

    Same value as gathering the contexts and summing :func:`latent_bits`, up to float32
    rounding."""
    config = model.config
    chosen = tuple(range(len(bins)) if chosen is None else chosen)
    if not chosen or bins[0].device.type != "cpu":
        return None
    if (bins[0].dim() == 3) != bool(config.prev_frame):
        return None
    weights = [layer.weight for layer in model.layers]
    widths = (weights[0].shape[1], *(w.shape[0] for w in weights))
    second = config.prev_frame or (config.prev_kernel if config.use_prev_grid else 0)
    kernel = fused_rate(widths, config.context, bins[0].dtype, second)
    if kernel is None:
        return None
    biases = [layer.bias for layer in model.layers]
    laplace = (step, config.log_scale_shift, -2.0 * config.log_scale_max, -2.0 * config.log_scale_min,
               math.log2(MIN_PROBABILITY))
    need_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (*bins, *weights, *biases))
    return _FusedGridRates.apply(kernel, laplace, config, need_grad, chosen, len(bins), *bins, *weights, *biases)


def _bands(height: int, width: int) -> list[range]:
    """Row ranges of about ``BAND_POSITIONS`` latents each covering a (height, width) grid."""
    rows = max(1, -(-BAND_POSITIONS // width))
    return [range(r, min(r + rows, height)) for r in range(0, height, rows)]


class _Plane:
    """One 2-D plane the rate kernel runs over: an image grid (with ``use_prev_grid``, the finer
    grid downsampled as its second plane), or one latent frame of a video grid with the previous
    frame (zeros before the first) as its second plane."""

    def __init__(self, grid: int, bins: torch.Tensor, step: float, half: int,
                 previous: torch.Tensor | None, prev_half: int):
        self.grid, self.bins = grid, bins
        self.padded = F.pad(bins * step, (half, half, half, 0))
        self.prev = None if previous is None else F.pad(previous * step, (prev_half,) * 4)


def _image_planes(bins: list[torch.Tensor], chosen: Sequence[int], step: float, half: int,
                  config: EntropyConfig) -> list[_Plane]:
    """The planes of the chosen image grids; with ``use_prev_grid`` each reads the finer grid
    before it, downsampled (zeros for the finest)."""
    if not config.use_prev_grid:
        return [_Plane(k, bins[k], step, half, None, 0) for k in chosen]
    return [_Plane(k, bins[k], step, half,
                   downsample2(bins[k - 1], tuple(bins[k].shape)) if k else torch.zeros_like(bins[k]),
                   config.prev_kernel // 2) for k in chosen]


class _FusedGridRates(torch.autograd.Function):
    """:func:`grid_rates`: the forward pass also computes the gradients of each chosen grid's
    bits (by its own latents and, with ``use_prev_grid``, by the finer grid's), which the
    backward pass scales by the incoming gradient of that grid's total."""

    @staticmethod
    def forward(ctx, kernel: FusedRate, laplace: tuple[float, ...], config: EntropyConfig,  # type: ignore[override]
                need_grad: bool, chosen: tuple[int, ...], num_grids: int, *tensors: torch.Tensor) -> torch.Tensor:
        bins = [b.detach().contiguous() for b in tensors[:num_grids]]
        params = tensors[num_grids:]
        depth = len(params) // 2
        packed = kernel.mlp.pack(params[:depth], params[depth:])
        half, step, ph = kernel.context // 2, laplace[0], kernel.prev_kernel // 2
        video = bins[0].dim() == 3
        planes = ([_Plane(k, bins[k][t], step, half, p, ph)
                   for k in chosen for t, p in enumerate(previous_frames(bins[k], config, k))]
                  if video else _image_planes(bins, chosen, step, half, config))
        second = planes[0].prev is not None
        grad_bins = {k: torch.empty_like(bins[k]) for k in chosen} if need_grad else {}
        grad_planes: list[torch.Tensor | None] = [None] * len(planes)  # views of grad_bins
        if need_grad:
            grad_planes = ([grad_bins[k][t] for k in chosen for t in range(bins[k].shape[0])] if video
                           else [grad_bins[k] for k in chosen])
        tasks = [(p, rows) for p, plane in enumerate(planes) for rows in _bands(*plane.bins.shape)]
        # Every band's gradient outputs are views of blocks allocated here, not a thousand
        # small tensors allocated by whichever thread runs the band: at 12 MP those, left in the
        # holes of image-sized buffers freed earlier in the step, fragmented the heap (hundreds
        # of MB of peak memory). The same values (zeroed, as the kernel expects).
        grad_blocks: list[torch.Tensor | None] = [None] * len(tasks)
        prev_blocks: list[torch.Tensor | None] = [None] * len(tasks)
        lane_blocks: list[torch.Tensor | None] = [None] * len(tasks)
        if need_grad:
            widths = [planes[p].padded.shape[1] for p, _ in tasks]
            sizes = [(len(rows) + half) * width for (_, rows), width in zip(tasks, widths)]
            grad_blocks = [block.view(-1, width)
                           for block, width in zip(bins[0].new_zeros(sum(sizes)).split(sizes), widths)]
            if second:
                widths = [planes[p].prev.shape[1] for p, _ in tasks]
                sizes = [(len(rows) + 2 * ph) * width for (_, rows), width in zip(tasks, widths)]
                prev_blocks = [block.view(-1, width)
                               for block, width in zip(bins[0].new_zeros(sum(sizes)).split(sizes), widths)]
            lane_blocks = list(torch.zeros(len(tasks), kernel.mlp.num_params * LANES).unbind())

        results: list[tuple] = [()] * len(tasks)

        def work(t: int) -> None:  # any thread may run any band: each has its own outputs
            p, rows = tasks[t]
            plane = planes[p]
            results[t] = kernel.band(packed, plane.padded, plane.bins, rows, laplace, grad_planes[p],
                                     grad_blocks[t], lane_blocks[t], plane.prev, prev_blocks[t])

        share_chunks(work, len(tasks))
        index = {k: i for i, k in enumerate(chosen)}
        totals = [0.0] * len(chosen)
        lanes: list[list[torch.Tensor]] = [[] for _ in chosen]
        grad_padded = [torch.zeros_like(plane.padded) if need_grad else None for plane in planes]
        grad_prev = [torch.zeros_like(plane.prev) if need_grad and second else None for plane in planes]
        for t, (p, rows) in enumerate(tasks):  # in a fixed order, whatever the threads
            bits, band_grad, band_lanes = results[t]
            totals[index[planes[p].grid]] += bits
            if need_grad:
                grad_padded[p][rows.start: rows.stop + half] += band_grad
                if second:
                    grad_prev[p][rows.start: rows.stop + 2 * ph] += prev_blocks[t]
                lanes[index[planes[p].grid]].append(band_lanes)
        results = grad_blocks = prev_blocks = band_grad = None  # free the bands' gradient blocks now
        ctx.finer = [None] * len(chosen)  # image grids: the bits' gradient by the finer grid's latents
        if need_grad:
            for p, plane in enumerate(planes):
                g, (h, w) = grad_planes[p], plane.bins.shape
                # g + step * padded's gradient, in place: one grid-sized tensor less (the same two roundings)
                g.add_(grad_padded[p][half:, half: half + w].mul_(step))
                if not video:
                    if second and plane.grid > 0:
                        ctx.finer[p] = downsample2_adjoint(grad_prev[p][ph: ph + h, ph: ph + w].mul_(step),
                                                           tuple(bins[plane.grid - 1].shape))
                    continue
                offset = frame_offset(config, plane.grid)
                if offset is not None and p + 1 < len(planes) and planes[p + 1].grid == plane.grid:
                    # the next frame read this one, moved by the offset
                    g.add_(shift_plane(grad_prev[p + 1][ph: ph + h, ph: ph + w], -offset[0], -offset[1]).mul_(step))
            ctx.grad_bins = [grad_bins[k] for k in chosen]
            ctx.lanes = [sum_lanes(grid_lanes) for grid_lanes in lanes]
            ctx.kernel = kernel
        ctx.chosen, ctx.num_grids = chosen, num_grids
        return torch.tensor(totals, dtype=bins[0].dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        lanes = sum(g * grid_lanes for g, grid_lanes in zip(grad, ctx.lanes))
        grad_w, grad_b = ctx.kernel.mlp.gradients(lanes)
        grad_grids: list[torch.Tensor | None] = [None] * ctx.num_grids
        for g, k, own, finer in zip(grad, ctx.chosen, ctx.grad_bins, ctx.finer):
            for target, part in ((k, own), (k - 1, finer)):
                if part is not None:
                    grad_grids[target] = g * part if grad_grids[target] is None else grad_grids[target] + g * part
        return (None, None, None, None, None, None, *grad_grids, *grad_w, *grad_b)


def laplace_bits(x: torch.Tensor, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """-log2 of the Laplace(mu, scale) mass on [x - 0.5, x + 0.5] (A.2.1), elementwise.

    All arguments in bin units. Numerically stable in both the tails and the central bin.
    """
    d = (x - mu).abs()
    inv_b = 1.0 / scale
    tail = math.log(0.5) - (d - 0.5).clamp(min=0) * inv_b + torch.log(-torch.expm1(-inv_b))
    centre = torch.log1p(-0.5 * (torch.exp(-(0.5 + d) * inv_b)
                                 + torch.exp(-(0.5 - d).clamp(min=0) * inv_b)))
    log_p = torch.where(d >= 0.5, tail, centre)
    return -torch.clamp(log_p, min=math.log(MIN_PROBABILITY)) / LN2
