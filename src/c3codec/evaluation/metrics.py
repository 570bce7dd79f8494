"""Image quality metrics."""

from __future__ import annotations

import math

import numpy as np


def mse(a: np.ndarray, b: np.ndarray, max_value: int) -> float:
    """Mean squared error of two integer images, on the [0, 1] scale, over all channels."""
    diff = (a.astype(np.float64) - b.astype(np.float64)) / max_value
    return float(np.mean(diff * diff))


def psnr(a: np.ndarray, b: np.ndarray, max_value: int) -> float:
    """PSNR in dB over all channels (RGB PSNR for colour images), inf for identical images."""
    error = mse(a, b, max_value)
    return math.inf if error == 0 else 10.0 * math.log10(1.0 / error)
