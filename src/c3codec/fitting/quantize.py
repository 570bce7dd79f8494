"""Differentiable approximations of latent rounding (c3-supplementary A.2.2, A.2.4, A.2.5).

One function, :func:`quantize`, with every approximation as a mode, so that C3's and Cool-chic's
training schemes can be compared by changing one word.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from ..model.fused import FusedQuantizer, fused_quantizer

QuantMode = Literal["softround_noise", "uniform_noise", "softround_ste", "ste", "epsilon_ste", "round"]


def soft_round(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """s_T of Agustsson & Theis (eq. 20): invertible, tends to rounding as T -> 0."""
    m = torch.floor(x) + 0.5
    return m + torch.tanh((x - m) / temperature) / (2.0 * math.tanh(0.5 / temperature))


def soft_round_inverse(y: torch.Tensor, temperature: float) -> torch.Tensor:
    """s_T^{-1}."""
    m = torch.floor(y) + 0.5
    t = ((y - m) * (2.0 * math.tanh(0.5 / temperature))).clamp(-1 + 1e-6, 1 - 1e-6)
    return m + temperature * torch.atanh(t)


def kumaraswamy_noise(shape: torch.Size, a: float, generator: torch.Generator | None,
                      device: torch.device) -> torch.Tensor:
    """Noise in [-0.5, 0.5] from the Kumaraswamy(a, b) with mode 0.5 (eq. 23); a=1 is uniform."""
    return _kumaraswamy(torch.rand(shape, generator=generator, device=device), a)


def _kumaraswamy(u: torch.Tensor, a: float) -> torch.Tensor:
    """Kumaraswamy(a, b) noise minus 1/2 from uniform draws ``u``, by the inverse CDF."""
    if a == 1.0:
        return u - 0.5
    b = (2.0**a * (a - 1.0) + 1.0) / a
    return (1.0 - (1.0 - u).pow(1.0 / b)).pow(1.0 / a) - 0.5


class _FusedSoftRoundNoise(torch.autograd.Function):
    """``softround_noise`` through the C kernel (one pass instead of some twenty operators and
    their backward passes), which also returns the derivative."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, u: torch.Tensor, kernel: FusedQuantizer,  # type: ignore[override]
                temperature: float, a: float) -> torch.Tensor:
        y, derivative = kernel.softround_noise(x, u, temperature, a)
        ctx.save_for_backward(derivative)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (derivative,) = ctx.saved_tensors
        return grad * derivative, None, None, None, None


def quantize(x: torch.Tensor, mode: QuantMode, *, temperature: float = 0.3,
             kumaraswamy_a: float = 1.0, epsilon: float = 1e-2,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Approximately round ``x`` (latents in bin units).

    - ``softround_noise``: r_T(s_T(x) + u), u ~ Kumaraswamy(a) (C3 stage 1, eq. 19).
    - ``uniform_noise``: x + u, u ~ U(-1/2, 1/2) (Cool-chic stage 1).
    - ``softround_ste``: round(x) forward, gradient of s_T (C3 stage 2, eqs. 16-18).
    - ``ste``: round(x) forward, identity gradient (Cool-chic stage 2).
    - ``epsilon_ste``: round(x) forward, gradient ``epsilon`` (Cool-chic v2).
    - ``round``: plain rounding, no gradient.
    """
    if mode == "round":
        return torch.round(x)
    if mode == "softround_noise":
        u = torch.rand(x.shape, generator=generator, device=x.device)
        kernel = fused_quantizer(x)
        if kernel is not None:
            return _FusedSoftRoundNoise.apply(x, u, kernel, temperature, kumaraswamy_a)
        y = soft_round(x, temperature) + _kumaraswamy(u, kumaraswamy_a)
        return soft_round_inverse(y - 0.5, temperature) + 0.5
    if mode == "uniform_noise":
        return x + kumaraswamy_noise(x.shape, 1.0, generator, x.device)
    if mode == "softround_ste":
        soft = soft_round(x, temperature)
        return soft + (torch.round(x) - soft).detach()
    if mode == "ste":
        return x + (torch.round(x) - x).detach()
    if mode == "epsilon_ste":
        scaled = epsilon * x
        return scaled + (torch.round(x) - scaled).detach()
    raise ValueError(f"unknown quantisation mode {mode!r}")
