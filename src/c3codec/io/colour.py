"""Y'CbCr <-> RGB for video sources: BT.601 or BT.709 matrices, limited or full range, 4:2:0 or
4:4:4 chroma, 8 to 16 bits.

The codec fits RGB frames (as C3 does on UVG), so YUV sources are converted on reading and the
decoded frames converted back on writing. 4:2:0 chroma is upsampled by repeating each sample
over its 2x2 pixels and downsampled by 2x2 means (odd sizes: ceil(W/2) x ceil(H/2) chroma
samples, the last row/column replicated): that pair is an exact inverse, so a perfect RGB
reconstruction writes back the source's planes (within one code value of rounding, which tests
check), and the YUV PSNR of a decoded video measures the codec, not the conversion. A smoother
upsampling filter looks better on saturated edges but would cost YUV PSNR even at lossless
quality. Conversions are in float64 and rounded to the nearest integer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}  # (Kr, Kb)
CHROMAS = ("420", "444", "mono")


@dataclass(frozen=True)
class YuvFormat:
    """How a YUV source stores its samples."""

    chroma: str = "420"  # "420", "444" or "mono"
    bit_depth: int = 8  # 8 to 16
    matrix: str = "bt601"  # "bt601" or "bt709"
    full_range: bool = False

    def __post_init__(self) -> None:
        if self.chroma not in CHROMAS:
            raise ValueError(f"chroma format {self.chroma!r} is not one of {', '.join(CHROMAS)}")
        if not 8 <= self.bit_depth <= 16:
            raise ValueError(f"{self.bit_depth}-bit YUV is not supported (8 to 16 bits)")
        if self.matrix not in MATRICES:
            raise ValueError(f"colour matrix {self.matrix!r} is not one of {', '.join(MATRICES)}")

    def chroma_size(self, height: int, width: int) -> tuple[int, int]:
        if self.chroma == "420":
            return (height + 1) // 2, (width + 1) // 2
        if self.chroma == "444":
            return height, width
        return 0, 0

    def frame_samples(self, height: int, width: int) -> int:
        ch, cw = self.chroma_size(height, width)
        return height * width + 2 * ch * cw

    @property
    def dtype(self) -> type:
        return np.uint8 if self.bit_depth == 8 else np.uint16

    @property
    def rgb_bit_depth(self) -> int:
        """The RGB frames' depth: 8 for 8-bit sources, 16 above (as 16-bit PNGs)."""
        return 8 if self.bit_depth == 8 else 16


Planes = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


def _ranges(fmt: YuvFormat) -> tuple[float, float, float, float]:
    """(luma offset, luma span, chroma centre, chroma span) in code values."""
    top = (1 << fmt.bit_depth) - 1
    if fmt.full_range:
        return 0.0, float(top), float(1 << (fmt.bit_depth - 1)), float(top)
    s = float(1 << (fmt.bit_depth - 8))
    return 16.0 * s, 219.0 * s, 128.0 * s, 224.0 * s


def _upsample2(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Each chroma sample repeated over its 2x2 pixels, cropped to the frame size."""
    return np.repeat(np.repeat(plane, 2, axis=0), 2, axis=1)[:height, :width]


def _downsample2(plane: np.ndarray) -> np.ndarray:
    """2x2 means, the last row/column replicated for odd sizes."""
    h, w = plane.shape
    padded = np.pad(plane, ((0, h % 2), (0, w % 2)), mode="edge")
    return 0.25 * (padded[0::2, 0::2] + padded[1::2, 0::2] + padded[0::2, 1::2] + padded[1::2, 1::2])


def yuv_to_rgb(planes: Planes, fmt: YuvFormat) -> np.ndarray:
    """(H, W, 3) RGB of one frame, uint8 for 8-bit sources, uint16 (16-bit scale) above."""
    y_plane, u_plane, v_plane = planes
    height, width = y_plane.shape
    y_off, y_span, c_mid, c_span = _ranges(fmt)
    y = (y_plane.astype(np.float64) - y_off) / y_span
    if fmt.chroma == "mono":
        rgb = np.repeat(y[..., None], 3, axis=2)
    else:
        u = (u_plane.astype(np.float64) - c_mid) / c_span
        v = (v_plane.astype(np.float64) - c_mid) / c_span
        if fmt.chroma == "420":
            u, v = _upsample2(u, height, width), _upsample2(v, height, width)
        kr, kb = MATRICES[fmt.matrix]
        kg = 1.0 - kr - kb
        rgb = np.stack([y + 2 * (1 - kr) * v,
                        y - (2 * kb * (1 - kb) / kg) * u - (2 * kr * (1 - kr) / kg) * v,
                        y + 2 * (1 - kb) * u], axis=2)
    top = (1 << fmt.rgb_bit_depth) - 1
    return np.rint(np.clip(rgb, 0.0, 1.0) * top).astype(np.uint8 if top == 255 else np.uint16)


def rgb_to_yuv(rgb: np.ndarray, rgb_bit_depth: int, fmt: YuvFormat) -> Planes:
    """The planes of one (H, W, 3) RGB frame in ``fmt`` (U and V are None for mono)."""
    x = rgb.astype(np.float64) / ((1 << rgb_bit_depth) - 1)
    kr, kb = MATRICES[fmt.matrix]
    y = kr * x[..., 0] + (1 - kr - kb) * x[..., 1] + kb * x[..., 2]
    y_off, y_span, c_mid, c_span = _ranges(fmt)
    top = (1 << fmt.bit_depth) - 1

    def code(values: np.ndarray, offset: float, span: float) -> np.ndarray:
        return np.clip(np.rint(values * span + offset), 0, top).astype(fmt.dtype)

    if fmt.chroma == "mono":
        return code(y, y_off, y_span), None, None
    u = (x[..., 2] - y) / (2 * (1 - kb))
    v = (x[..., 0] - y) / (2 * (1 - kr))
    if fmt.chroma == "420":
        u, v = _downsample2(u), _downsample2(v)
    return code(y, y_off, y_span), code(u, c_mid, c_span), code(v, c_mid, c_span)
