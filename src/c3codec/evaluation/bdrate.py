"""Bjontegaard deltas between two rate-distortion curves (c3-supplementary B.1).

BD-rate: average difference of log-rate over the common PSNR interval, as a percentage of the
anchor's rate (negative: the test codec needs fewer bits). The classic variant fits a cubic
polynomial of log-rate over PSNR (VCEG-M33); the PCHIP variant integrates a monotone
piecewise-cubic interpolation instead (as in recent CTC tools), which behaves better when the
points are unevenly spread. BD-PSNR swaps the axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

SMALL_OVERLAP_DB = 1.0


@dataclass
class BDResult:
    rate_cubic: float  # percent
    rate_pchip: float  # percent
    psnr: float  # dB (BD-PSNR, cubic)
    overlap_db: float  # length of the common PSNR interval
    warning: str | None = None


def _curve(rate: list[float], psnr: list[float]) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rate, dtype=np.float64)
    d = np.asarray(psnr, dtype=np.float64)
    if r.shape != d.shape or r.size < 4:
        raise ValueError("each RD curve needs at least 4 (rate, PSNR) points")
    if np.any(r <= 0) or not np.all(np.isfinite(d)):
        raise ValueError("rates must be positive and PSNRs finite")
    order = np.argsort(d)
    return np.log(r[order]), d[order]


def _cubic_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    poly = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(poly, hi) - np.polyval(poly, lo))


def _pchip_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    x, index = np.unique(x, return_index=True)  # PCHIP needs strictly increasing abscissae
    return float(PchipInterpolator(x, y[index]).integrate(lo, hi))


def bd(anchor_rate: list[float], anchor_psnr: list[float], test_rate: list[float],
       test_psnr: list[float]) -> BDResult:
    """BD-rate (cubic and PCHIP) and BD-PSNR of ``test`` against ``anchor``."""
    log_ra, da = _curve(anchor_rate, anchor_psnr)
    log_rt, dt = _curve(test_rate, test_psnr)
    lo, hi = max(da.min(), dt.min()), min(da.max(), dt.max())
    if hi <= lo:
        raise ValueError("the two curves have no PSNR range in common")
    rates = []
    for integral in (_cubic_integral, _pchip_integral):
        diff = (integral(dt, log_rt, lo, hi) - integral(da, log_ra, lo, hi)) / (hi - lo)
        rates.append((math.exp(diff) - 1.0) * 100.0)
    r_lo, r_hi = max(log_ra.min(), log_rt.min()), min(log_ra.max(), log_rt.max())
    if r_hi > r_lo:
        ia = _cubic_integral(np.sort(log_ra), da[np.argsort(log_ra)], r_lo, r_hi)
        it = _cubic_integral(np.sort(log_rt), dt[np.argsort(log_rt)], r_lo, r_hi)
        bd_psnr = (it - ia) / (r_hi - r_lo)
    else:
        bd_psnr = math.nan
    warning = None
    shorter = min(da.max() - da.min(), dt.max() - dt.min())
    if hi - lo < SMALL_OVERLAP_DB or hi - lo < 0.5 * shorter:
        warning = (f"the curves overlap on only {hi - lo:.2f} dB of PSNR "
                   f"({lo:.2f}-{hi:.2f} dB): the BD-rate extrapolates and is unreliable")
    return BDResult(rates[0], rates[1], bd_psnr, hi - lo, warning)
