"""Deterministic discretised-Laplace probability tables for the range coder.

The ARM's exact fixed-point output (mu, log-scale) is snapped to a finite grid:

* ``mu`` (in bin units) is split into an integer shift ``m = floor(mu + 1/2)`` and a fraction
  rounded to a multiple of ``1/MU_STEPS``;
* ``log(scale)`` is rounded to a multiple of ``1/SCALE_STEPS`` inside the clip range.

Symbols are coded as ``r = k - m`` in ``[-R, R]`` with the row of the table at (fraction, scale).
Every table entry comes from :func:`~c3codec.exact.arithmetic.det_exp`, so all machines build the
same tables; snapping costs well under 0.5 % of the rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exact.arithmetic import det_exp

MU_STEPS = 16
SCALE_STEPS = 8  # per unit of natural log
MAX_SYMBOL_RANGE = 4095  # largest R a file may use (bounds table memory)
PARAM_SCALE_LEVELS = 1024  # C3 sends each parameter tensor's Laplace scale as one of 1024 values


def laplace_mass(r: np.ndarray, mu: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Laplace(mu, scale) probability of [r - 1/2, r + 1/2], from det_exp only (broadcasting)."""
    lo = r - 0.5 - mu
    hi = r + 0.5 - mu
    inv = 1.0 / scale
    left = 0.5 * (det_exp(np.minimum(hi, 0.0) * inv) - det_exp(np.minimum(lo, 0.0) * inv))
    right = 0.5 * (det_exp(-np.maximum(lo, 0.0) * inv) - det_exp(-np.maximum(hi, 0.0) * inv))
    return left + right


@dataclass(frozen=True)
class ScaleGrid:
    """The snapped log-scale values: ``log_min + j / SCALE_STEPS`` for j in [0, count)."""

    log_min: float
    log_max: float

    @property
    def count(self) -> int:
        return int(np.round((self.log_max - self.log_min) * SCALE_STEPS)) + 1

    def index(self, log_scale: np.ndarray) -> np.ndarray:
        j = np.round((log_scale - self.log_min) * SCALE_STEPS)
        return np.minimum(np.maximum(j, 0), self.count - 1).astype(np.int64)

    def scales(self) -> np.ndarray:
        return det_exp(self.log_min + np.arange(self.count) / SCALE_STEPS)


def snap_mu(mu_bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mu in bin units -> (integer shift m, fraction index in [0, MU_STEPS])."""
    mu_bins = np.minimum(np.maximum(mu_bins, -1e12), 1e12)  # only forged files get near this
    m = np.floor(mu_bins + 0.5)
    frac_index = np.round((mu_bins - m) * MU_STEPS) + MU_STEPS // 2
    return m.astype(np.int64), frac_index.astype(np.int64)


def latent_table(symbol_range: int, grid: ScaleGrid, step: float) -> np.ndarray:
    """Probabilities (MU_STEPS + 1, grid.count, 2R + 1) of r in [-R, R] for every snapped
    (fraction, scale); scales are converted to bin units by dividing by the latent step."""
    r = np.arange(-symbol_range, symbol_range + 1, dtype=np.float64)
    mu = (np.arange(MU_STEPS + 1, dtype=np.float64) - MU_STEPS // 2) / MU_STEPS
    scale = grid.scales() / step
    return laplace_mass(r[None, None, :], mu[:, None, None], scale[None, :, None])


def param_scale(index: int) -> float:
    """Laplace scale (in quantisation steps) of a parameter tensor from its 10-bit index."""
    return float(det_exp((index - 512) / 32.0 * 0.6931471805599453))


def param_scale_index(mean_abs: float) -> int:
    """Encoder side: nearest scale index to the tensor's mean |n| (the Laplace ML estimate)."""
    if mean_abs <= 0:
        return 0
    idx = int(round(np.log2(mean_abs) * 32.0)) + 512
    return min(max(idx, 0), PARAM_SCALE_LEVELS - 1)


def param_row(symbol_range: int, scale_index: int) -> np.ndarray:
    """Probabilities of n in [-R, R] under the zero-mean Laplace of ``scale_index``."""
    r = np.arange(-symbol_range, symbol_range + 1, dtype=np.float64)
    return laplace_mass(r, np.zeros(1), np.array([param_scale(scale_index)]))
