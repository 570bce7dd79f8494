"""Differentiable approximations of latent rounding (c3-supplementary A.2.2, A.2.4, A.2.5).

One function, :func:`quantize`, with every approximation as a mode, so that C3's and Cool-chic's
training schemes can be compared by changing one word.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from .kernels import FusedQuantizer, fused_quantizer

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
    """``softround_noise`` of several tensors through the C kernel (one pass instead of some
    twenty operators and their backward passes), which also returns the derivatives."""

    @staticmethod
    def forward(ctx, kernel: FusedQuantizer, temperature: float, a: float,  # type: ignore[override]
                keys: list[tuple[int, int]], *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ys, derivatives = kernel.softround_noise(list(xs), keys, temperature, a)
        ctx.save_for_backward(*derivatives)
        return tuple(ys)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):  # type: ignore[override]
        return (None, None, None, None, *(g * d for g, d in zip(grads, ctx.saved_tensors)))


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
    return quantize_grids([x], mode, temperature=temperature, kumaraswamy_a=kumaraswamy_a,
                          epsilon=epsilon, generator=generator)[0]


def quantize_grids(xs: list[torch.Tensor], mode: QuantMode, *, temperature: float = 0.3,
                   kumaraswamy_a: float = 1.0, epsilon: float = 1e-2,
                   generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """:func:`quantize` of each tensor of ``xs``.

    ``softround_noise`` on a CPU goes through the fused kernel, for all tensors in one call
    (their chunks shared by the threads). The kernel draws its own noise from a counter-based
    generator (``fused.FusedQuantizer.uniform``), keyed per tensor by two integers taken from
    ``generator``: the noise is reproducible from the seed, but not the same draws as the
    PyTorch path's ``torch.rand``."""
    if mode == "softround_noise":
        kernel = fused_quantizer(xs)
        if kernel is not None:
            keys = noise_keys(len(xs), generator)
            return list(_FusedSoftRoundNoise.apply(kernel, temperature, kumaraswamy_a, keys, *xs))
    return [_quantize(x, mode, temperature, kumaraswamy_a, epsilon, generator) for x in xs]


def noise_keys(count: int, generator: torch.Generator | None) -> list[tuple[int, int]]:
    """Keys of the fused kernel's noise streams for ``count`` tensors: two 32-bit integers each,
    drawn from ``generator``."""
    return [tuple(k) for k in torch.randint(0, 2**32, (count, 2), generator=generator).tolist()]


def _quantize(x: torch.Tensor, mode: QuantMode, temperature: float, kumaraswamy_a: float,
              epsilon: float, generator: torch.Generator | None) -> torch.Tensor:
    """:func:`quantize` through PyTorch operators."""
    if mode == "round":
        return torch.round(x)
    if mode == "softround_noise":
        u = torch.rand(x.shape, generator=generator, device=x.device)
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
