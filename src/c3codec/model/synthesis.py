"""Synthesis network (c3-supplementary A.1.3).

A per-pixel MLP (1x1 convolutions, GELU) from the stacked upsampled latents to the image channels,
then residual convolutions with as many channels as the image (zero-initialised, edge padding,
GELU between them), then clipping to [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import SynthesisConfig
from .entropy import init_linear
from ..fitting.kernels import FusedResidual, fused_residual
from .mlp import mlp_channels_first


class Synthesis(nn.Module):
    def __init__(self, num_grids: int, channels: int, config: SynthesisConfig):
        super().__init__()
        self.config = config
        widths = [num_grids, *config.widths, channels]
        self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        k = config.residual_kernel
        self.residual = nn.ModuleList(
            nn.Conv2d(channels, channels, k) for _ in range(config.num_residual)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """C3's initialisation: random MLP (global torch RNG), zero residual convolutions."""
        for layer in self.mlp:
            init_linear(layer)
        for conv in self.residual:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, latents: torch.Tensor, scratch_input: bool = False) -> torch.Tensor:
        """(N_grids, H, W) upsampled latents (real units) -> (C, H, W) image in [0, 1]; for a
        video (N_grids, T, H, W) -> (C, T, H, W), the residual convolutions applied per frame
        (C3's per-frame 3x3 setting, Table 6).

        ``scratch_input``: ``latents`` is a temporary the caller does not keep, which the
        backward pass may overwrite with its gradient (see ``mlp.mlp_channels_first``)."""
        n, *size = latents.shape
        x = mlp_channels_first(self.mlp, latents.reshape(n, -1), scratch_input).reshape(-1, *size)
        kernel = fused_residual(x.shape[0], self.config.residual_kernel, x.dtype)
        if x.device.type != "cpu" or kernel is None or not len(self.residual):
            # the frames of a video (C, T, H, W) are the batch of the convolutions
            frames = x[None] if len(size) == 2 else x.transpose(0, 1)
            frames = self._residual_layers(frames)
            x = frames[0] if len(size) == 2 else frames.transpose(0, 1)
        elif len(size) == 2:
            x = self._fused_residual_layers(x, kernel)
        else:  # the fused kernel frame by frame
            x = torch.stack([self._fused_residual_layers(frame, kernel) for frame in x.unbind(1)], dim=1)
        # Clip to [0, 1] with an identity gradient: a hard clip would stop all learning if the
        # whole image saturated early in fitting (seen on short fits of grey images).
        return _ClipWithIdentityGradient.apply(x)

    def _fused_residual_layers(self, x: torch.Tensor, kernel: FusedResidual) -> torch.Tensor:
        """The residual convolutions of one (C, H, W) image through the fused kernel."""
        for i, conv in enumerate(self.residual):
            x = _FusedResidualLayer.apply(x, conv.weight, conv.bias, kernel, i < len(self.residual) - 1)
        return x

    def _residual_layers(self, x: torch.Tensor) -> torch.Tensor:
        """The residual convolutions through PyTorch: (B, C, H, W) -> (B, C, H, W)."""
        if not len(self.residual):
            return x
        # channels-last makes oneDNN's tiny 3-channel convolutions about 2x faster
        x = x.contiguous(memory_format=torch.channels_last)
        pad = self.config.residual_kernel // 2
        for i, conv in enumerate(self.residual):
            y = F.pad(x, (pad,) * 4, mode="replicate") if pad else x
            x = x + conv(y)
            if i < len(self.residual) - 1:
                x = F.gelu(x)
        return x


class _ClipWithIdentityGradient(torch.autograd.Function):
    """``x.clamp(0, 1)`` forward, identity backward, with one image-sized tensor instead of the
    three of ``x + (x.clamp(0, 1) - x).detach()`` (a 12 MP photo: 140 MB each).

    In place: ``x`` is the last layer's output, which no backward pass reads (marked dirty, so
    autograd would refuse, not miscompute, if one did): one image-sized allocation less per
    step, each of which costs heap at 12 MP (see ``runtime.configure``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if x._is_view():  # the PyTorch residual path's output: a view, left alone
            return x.clamp(0.0, 1.0)
        ctx.mark_dirty(x)
        return x.clamp_(0.0, 1.0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad


class _FusedResidualLayer(torch.autograd.Function):
    """One residual layer, x + conv(x) (+ GELU), through the fused kernel (:mod:`.fused`)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,  # type: ignore[override]
                kernel: FusedResidual, gelu: bool) -> torch.Tensor:
        x = x.contiguous()
        pre, out = kernel.forward(x, weight, bias, gelu)
        ctx.kernel = kernel
        ctx.save_for_backward(x, weight, pre if gelu else None)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        x, weight, pre = ctx.saved_tensors
        grad_x, grad_w, grad_b = ctx.kernel.backward(x, weight, pre, grad_out.contiguous())
        return grad_x, grad_w, grad_b, None, None
