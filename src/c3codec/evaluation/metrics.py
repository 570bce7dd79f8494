"""Image quality metrics."""

from __future__ import annotations

import math

import numpy as np


ROWS = 256  # rows per chunk: the float64 temporaries of a 12 MP photo would take a gigabyte


def mse(a: np.ndarray, b: np.ndarray, max_value: int) -> float:
    """Mean squared error of two integer images, on the [0, 1] scale, over all channels."""
    if a.shape != b.shape:
        raise ValueError(f"images of different shapes {a.shape} and {b.shape}")
    total = 0.0
    for start in range(0, a.shape[0], ROWS):
        diff = a[start: start + ROWS].astype(np.float64) - b[start: start + ROWS]
        flat = diff.reshape(-1)
        total += float(np.dot(flat, flat))
    return total / max(a.size, 1) / (max_value * max_value)


def psnr(a: np.ndarray, b: np.ndarray, max_value: int) -> float:
    """PSNR in dB over all channels (RGB PSNR for colour images), inf for identical images."""
    error = mse(a, b, max_value)
    return math.inf if error == 0 else 10.0 * math.log10(1.0 / error)


def video_psnr(a: np.ndarray, b: np.ndarray, max_value: int) -> float:
    """Mean of the per-frame RGB PSNRs of two (T, H, W, C) videos (C3's B.2, after Mentzer et
    al.): a frame decoded exactly counts as 100 dB rather than making the mean infinite."""
    return float(np.mean([min(psnr(x, y, max_value), 100.0) for x, y in zip(a, b)]))


def yuv_psnr(a: tuple, b: tuple, max_value: int) -> float:
    """(6 PSNR_Y + PSNR_U + PSNR_V) / 8 of one frame's planes (luma only for mono)."""
    values = [min(psnr(x[..., None], y[..., None], max_value), 100.0)
              for x, y in zip(a, b) if x is not None]
    return values[0] if len(values) == 1 else (6 * values[0] + values[1] + values[2]) / 8


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
