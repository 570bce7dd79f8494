"""Multi-resolution latent grids and their upsampling (c3-supplementary A.1.1, A.1.2).

Latents are handled in *bin units*: a quantised latent is an integer ``k`` and its real value is
``k * step``. Spatial code is written for any number of dimensions where it is cheap (2 for
images; 3, with trilinear upsampling, for video).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import LatentConfig
from ..fitting.kernels import FusedUpsample, fused_upsample


def grid_shapes(size: tuple[int, ...], config: LatentConfig) -> list[tuple[int, ...]]:
    """Shape of every latent grid, finest first: ``ceil(size / 2**e)`` per dimension."""
    return config.grid_shapes(size)


def upsample(grid: torch.Tensor, exponent: int, size: tuple[int, ...]) -> torch.Tensor:
    """Bi/trilinear upsampling of one grid by exactly ``2**exponent``, cropped to ``size``.

    ``grid`` has shape (1, 1, *grid_shape). Using an exact power-of-two factor (instead of
    resizing to an arbitrary size) makes every interpolation weight a dyadic rational, so the
    float64 result on integer latents is exact: the decoder relies on this.
    For coarse 2-D grids the same interpolation is applied as two small matrix products (rows,
    then columns), several times faster to differentiate than ``F.interpolate``.
    """
    if exponent == 0:
        return grid[(...,) + tuple(slice(0, s) for s in size)]
    if grid.dim() == 4 and exponent >= 2:
        rows = _interpolation_matrix(grid.shape[2], exponent, size[0], grid.dtype, grid.device)
        cols = _interpolation_matrix(grid.shape[3], exponent, size[1], grid.dtype, grid.device)
        return (rows @ grid[0, 0] @ cols.T)[None, None]
    if grid.dim() == 5:  # video: one matrix product per axis (PyTorch's trilinear backward is slow)
        t, h, w = grid.shape[2:]
        times, rows, cols = (_interpolation_matrix(n, exponent, out, grid.dtype, grid.device)
                             for n, out in zip((t, h, w), size))
        x = rows @ (grid[0, 0] @ cols.T)  # (t, H, W)
        return (times @ x.reshape(t, -1)).reshape(size)[None, None]
    mode = "bilinear" if grid.dim() == 4 else "trilinear"
    up = F.interpolate(grid, scale_factor=float(2**exponent), mode=mode, align_corners=False)
    return up[(...,) + tuple(slice(0, s) for s in size)]


@lru_cache(maxsize=64)
def _interpolation_matrix(n_in: int, exponent: int, n_out: int, dtype: torch.dtype,
                          device: torch.device) -> torch.Tensor:
    """(n_out, n_in) matrix of 1-D linear upsampling by 2**exponent (F.interpolate's weights)."""
    eye = torch.eye(n_in, dtype=dtype, device=device)[None]
    up = F.interpolate(eye, scale_factor=float(2**exponent), mode="linear", align_corners=False)
    return up[0, :, :n_out].T.contiguous()


def upsample_all(grids: list[torch.Tensor], exponents: tuple[int, ...],
                 size: tuple[int, ...]) -> torch.Tensor:
    """Upsample and stack all grids: list of (*grid_shape) -> (N_grids, *size).

    Float32 2-D grids on the CPU (fitting) go through the fused kernel (:mod:`.fused`): about
    4x faster forward and backward than the PyTorch code below, which the decoder (float64,
    exact), videos and GPUs use.
    """
    kernel = fused_upsample(grids)
    if kernel is not None:
        return _FusedUpsampleAll.apply(tuple(exponents), tuple(size), kernel, *grids)
    ups = [upsample(g[None, None], e, size)[0, 0] for g, e in zip(grids, exponents)]
    return torch.stack(ups, dim=0)


class _FusedUpsampleAll(torch.autograd.Function):
    """:func:`upsample_all` of 2-D grids through the fused kernel."""

    @staticmethod
    def forward(ctx, exponents: tuple[int, ...], size: tuple[int, int],  # type: ignore[override]
                kernel: FusedUpsample, *grids: torch.Tensor) -> torch.Tensor:
        out = grids[0].new_empty(len(grids), *size)
        for i, (grid, exponent) in enumerate(zip(grids, exponents)):
            kernel.forward(grid, exponent, out[i])
        ctx.exponents, ctx.kernel = exponents, kernel
        ctx.shapes = [tuple(g.shape) for g in grids]
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        grads = [ctx.kernel.backward(grad_out[i], e, shape)
                 for i, (e, shape) in enumerate(zip(ctx.exponents, ctx.shapes))]
        return (None, None, None, *grads)


def downsample2(grid: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """2x average pooling (edge-replicated to even size) to the next coarser grid's shape.

    Used for the ARM's previous-grid conditioning; dyadic weights keep it exact in float64
    (and in float32 on latents in bin units: sums of four integers, a quarter of them).
    Images by strided sums (four times as fast as ``avg_pool2d`` on one thread, the same values).
    """
    pads: list[int] = []
    for dim_size, target in zip(reversed(grid.shape), reversed(shape)):
        pads += [0, 2 * target - dim_size]
    x = grid[None, None]
    if any(pads):
        x = F.pad(x, pads, mode="replicate")
    if grid.dim() == 2:
        x = x[0, 0]
        return (x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2]) * 0.25
    return F.avg_pool3d(x, 2)[0, 0]


def downsample2_adjoint(grad: torch.Tensor, finer_shape: tuple[int, int]) -> torch.Tensor:
    """The gradient by an image grid of ``finer_shape`` of :func:`downsample2` of it, given
    ``grad``, the gradient by the result: each latent gets a quarter of its block's, and an
    edge row or column replicated to even size also that of its copy."""
    h, w = grad.shape
    rows, cols = finer_shape
    out = (grad * 0.25)[:, None, :, None].expand(h, 2, w, 2).reshape(2 * h, 2 * w)
    if 2 * h > rows:
        out = torch.cat([out[: rows - 1], out[rows - 1: rows] + out[rows:]], dim=0)
    if 2 * w > cols:
        out = torch.cat([out[:, : cols - 1], out[:, cols - 1: cols] + out[:, cols:]], dim=1)
    return out


class LatentGrids(nn.Module):
    """The latent parameters, zero-initialised.

    As in C3 (and Cool-chic), the stored parameter of grid ``n`` is multiplied by a fixed gain
    ``gain_factor ** e_n`` before quantisation, which acts as a per-grid learning-rate scale.
    """

    def __init__(self, size: tuple[int, ...], config: LatentConfig):
        super().__init__()
        self.config = config
        self.size = tuple(size)
        self.shapes = grid_shapes(self.size, config)
        self.grids = nn.ParameterList(
            [nn.Parameter(torch.zeros(shape)) for shape in self.shapes]
        )
        self.gains = [config.gain_factor**e / config.step for e in config.exponents]

    def in_bins(self) -> list[torch.Tensor]:
        """Continuous latents in bin units (value / step), one tensor per grid."""
        return [g * gain for g, gain in zip(self.grids, self.gains)]

    @torch.no_grad()
    def set_from_bins(self, values: list[torch.Tensor]) -> None:
        """Load latents given in bin units (inverse of :meth:`in_bins`)."""
        for param, value, gain in zip(self.grids, values, self.gains):
            param.copy_(value / gain)

    @property
    def num_latents(self) -> int:
        return sum(math.prod(s) for s in self.shapes)
