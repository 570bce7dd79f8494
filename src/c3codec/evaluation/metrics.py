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


MS_SSIM_MIN_SIDE = 161  # 5 scales of an 11x11 window need more than 160 pixels per side


def ms_ssim(a: np.ndarray, b: np.ndarray, max_value: int) -> float:
    """MS-SSIM (Wang et al., 5 scales, as CompressAI) of (H, W, C) images; NaN if too small."""
    if min(a.shape[0], a.shape[1]) < MS_SSIM_MIN_SIDE:
        return math.nan
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    x = torch.from_numpy(a.astype(np.float32)).permute(2, 0, 1)[None]
    y = torch.from_numpy(b.astype(np.float32)).permute(2, 0, 1)[None]
    return float(_ms_ssim(x, y, data_range=float(max_value)))
