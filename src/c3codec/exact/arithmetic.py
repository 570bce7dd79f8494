"""Integer-exact evaluation of the decoder's networks.

Range decoding only works if the encoder and the decoder compute bit-identical probabilities, and
we want every decoder to produce the same pixels. Floating-point sums depend on their order
(threads, batch shapes, BLAS kernels), and ``exp``/``erf`` may differ by an ulp between libraries,
so the coding path never relies on either:

* weights are integers ``n`` (real weight ``n * q``), activations are fixed-point integers with
  ``FRAC_BITS`` fractional bits (the first layers' inputs: latents, or their bilinear upsampling,
  dyadic rationals), stored as float64. Every product and partial sum is a multiple of the
  inputs' resolution below 2**53 of them, hence exact in float64 whatever the summation order
  (BLAS, SIMD width, threads): :func:`input_limit` is the rule that guarantees it, checked on
  every layer's inputs, the same way by the compiled decoder (``native.c``);
* re-quantising a pre-activation uses only IEEE basic operations (multiply, add, round), which
  are correctly rounded on every conforming machine;
* GELU is a lookup table and ``exp`` is :func:`det_exp`, both built from basic operations only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

FRAC_BITS = 16
ONE = float(1 << FRAC_BITS)  # fixed-point unit
GELU_RANGE = 8  # GELU(x) is tabulated on [-8, 8); outside it is x (x >= 8) or 0 (x < -8)
MAX_LATENT = 1 << 24
"""Largest |latent| (bin units) a file may hold: encoders refuse more, decoders call it corrupt.
It bounds the first layers' inputs, so that only hidden layers need :func:`check_inputs`."""

_LN2_HI = 6.93147180369123816490e-01  # Cody-Waite split of ln 2 (fdlibm constants)
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.44269504088896338700e00
EXP_COEFFS = [1.0 / math.factorial(k) for k in range(14)]  # exact divisions: deterministic


def det_exp(x: np.ndarray | float) -> np.ndarray:
    """``exp(x)`` from IEEE basic operations only, so identical on every machine.

    Range reduction ``x = n ln2 + r`` with ``|r| <= ln2 / 2``, a degree-13 Taylor polynomial for
    ``exp(r)`` (relative error below 1e-15) and an exact ``ldexp``.
    """
    x = np.clip(np.asarray(x, dtype=np.float64), -700.0, 700.0)
    n = np.floor(x * _LOG2E + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = np.full_like(r, EXP_COEFFS[13])
    for c in reversed(EXP_COEFFS[:13]):
        p = p * r + c
    return np.ldexp(p, n.astype(np.int64))


def _det_erf(x: np.ndarray) -> np.ndarray:
    """erf from basic operations (Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7)."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * det_exp(-a * a))


@lru_cache(maxsize=1)
def gelu_table() -> np.ndarray:
    """Fixed-point GELU for every fixed-point input in [-GELU_RANGE, GELU_RANGE)."""
    n = GELU_RANGE * (1 << FRAC_BITS)
    x = np.arange(n + 1, dtype=np.float64) / ONE
    positive = np.round(0.5 * x * (1.0 + _det_erf(x * 0.7071067811865476)) * ONE)  # x in [0, 8]
    # GELU(-x) = GELU(x) - x, and x * ONE is an integer: the negative half costs one subtraction
    negative = (positive - np.arange(n + 1))[:0:-1]  # x in [-8, 0)
    return np.concatenate([negative, positive[:-1]])


@lru_cache(maxsize=1)
def gelu_delta() -> tuple[np.ndarray, int]:
    """The GELU table as ``relu(k) + delta[|k|]`` for ``|k| < k0`` and ``relu(k)`` beyond
    (``delta`` is in [-11139, 0]): the compact form the compiled decoder looks up. Built from
    :func:`gelu_table`, and checked to give every entry back."""
    table = gelu_table()
    n = GELU_RANGE << FRAC_BITS
    a = np.arange(n + 1, dtype=np.float64)
    delta = np.empty(n + 1)
    delta[:n] = table[n:] - a[:n]  # k = a >= 0 sits at table[n + a]
    delta[n] = table[0]  # k = -n
    if not np.array_equal(table[:n][::-1], delta[1:]):  # k = -a sits at table[n - a]
        raise AssertionError("GELU table is not relu(k) + delta(|k|)")
    nonzero = np.flatnonzero(delta)
    k0 = int(nonzero[-1]) + 1 if nonzero.size else 0
    return delta[:k0].astype(np.int64), k0


def gelu_fixed(x: np.ndarray) -> np.ndarray:
    """GELU of float64 fixed-point integers, by table lookup (exact, deterministic)."""
    table = gelu_table()
    lo = -GELU_RANGE * (1 << FRAC_BITS)
    y = np.take(table, np.minimum(np.maximum(x - lo, 0), table.size - 1).astype(np.int64))
    y = np.where(x >= -lo, x, y)
    return np.where(x < lo, 0.0, y)


@dataclass(frozen=True)
class IntLayer:
    """A quantised linear or conv layer: real weight ``weight * w_step``, bias ``bias * b_step``.

    ``weight`` has shape (out, in) for linear layers or (out, in, k, k) for convolutions; all
    entries are integers stored as float64 numpy arrays (numpy: small decoder batches pay far
    less per-operation overhead than with torch).
    """

    weight: np.ndarray
    bias: np.ndarray
    w_step: float
    b_step: float

    @property
    def l1_max(self) -> float:
        """Largest sum of |weights| of one output (an exact integer)."""
        if not self.weight.size:
            return 0.0
        return float(np.abs(self.weight).reshape(self.weight.shape[0], -1).sum(axis=1).max())

    def scale(self, in_unit: float) -> float:
        """Factor from the accumulator (inputs of real value ``x * in_unit``) to fixed point."""
        return (in_unit * self.w_step) * ONE

    def bias_fixed(self) -> np.ndarray:
        """The bias in fixed-point units, one float64 per output, as it is added."""
        return self.bias * (self.b_step * ONE)


def input_limit(layer: IntLayer, fraction_bits: int = 0) -> float:
    """Inputs with |x| at or above this can make the layer's sums inexact: the decoder's rule.

    Inputs are multiples of ``2**-fraction_bits``; with every |x| below
    ``2**(53 - fraction_bits) / l1_max`` every partial sum of ``weight * x``, in any order, is
    such a multiple below 2**53 of them, so float64 holds it exactly.
    """
    l1 = layer.l1_max
    return math.inf if l1 == 0 else math.ldexp(1.0, 53 - fraction_bits) / l1


def check_inputs(x: np.ndarray, layer: IntLayer, fraction_bits: int = 0) -> None:
    """Raise OverflowError where :func:`input_limit` is broken (only forged files do that)."""
    if x.size and np.abs(x).max() >= input_limit(layer, fraction_bits):
        raise OverflowError("fixed-point values too large for exact arithmetic: parameters or "
                            "latents out of range")


def requantize(acc: np.ndarray, layer: IntLayer, in_unit: float) -> np.ndarray:
    """Fixed-point output of a layer from its exact accumulator.

    ``acc`` holds ``sum(weight * x)`` for inputs whose real value is ``x * in_unit``; the result is
    ``round(real_output * ONE)``. Only IEEE multiply/add/round (half to even): deterministic
    everywhere.
    """
    return np.round(acc * layer.scale(in_unit) + layer.bias_fixed())


def linear_fixed(x: np.ndarray, layer: IntLayer, in_unit: float, fraction_bits: int = 0) -> np.ndarray:
    """(N, in) inputs (multiples of ``2**-fraction_bits``) -> (N, out) fixed-point outputs."""
    check_inputs(x, layer, fraction_bits)
    return requantize(x @ layer.weight.T, layer, in_unit)


def mlp_fixed(layers: list[IntLayer], x: np.ndarray, in_unit: float, fraction_bits: int = 0) -> np.ndarray:
    """Exact per-row MLP with GELU between layers: (N, in) -> (N, out) fixed-point outputs.
    ``in_unit`` and ``fraction_bits`` describe the first layer's inputs; the others get fixed
    point."""
    for i, layer in enumerate(layers):
        x = linear_fixed(x, layer, in_unit, fraction_bits)
        in_unit, fraction_bits = 1.0 / ONE, 0
        if i < len(layers) - 1:
            x = gelu_fixed(x)
    return x


def conv_fixed(x: np.ndarray, layer: IntLayer, in_unit: float) -> np.ndarray:
    """(C, H, W) integer inputs -> same-size conv output (edge padding), exactly.

    im2col + matrix product: no backend can pick a Winograd/FFT algorithm here.
    """
    check_inputs(x, layer)
    k = layer.weight.shape[-1]
    c, h, w = x.shape
    if k > 1:
        x = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # (C, H, W, k, k)
    cols = windows.transpose(0, 3, 4, 1, 2).reshape(c * k * k, h * w)
    acc = layer.weight.reshape(layer.weight.shape[0], -1) @ cols  # (out, H*W)
    return requantize(acc.T, layer, in_unit).T.reshape(-1, h, w)
