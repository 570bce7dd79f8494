"""Classical image codecs to draw rate-distortion curves against, through Python libraries only.

Each codec runs in-process (no command-line binaries), so a baseline curve depends only on the
Python environment, and each is set up for RGB PSNR, the metric the neural codec is judged on.
``quality`` always grows with image quality.

==== ======================= ================================================== ==================
name library                 settings                                           quality
==== ======================= ================================================== ==================
jpeg Pillow (libjpeg)        4:2:0 (``subsampling=2``), ``optimize=True``       1..95, integer
                             (Huffman tables fitted to the image), baseline
webp Pillow (libwebp)        lossy, ``method=6``; lossy WebP is YUV 4:2:0 only  0..100
                             (the format has no 4:4:4 lossy mode)
avif Pillow (libavif + aom)  4:4:4, ``speed=4``, ``tune=psnr`` (aom's default   0..100, integer
                             tuning: ~1 dB less on kodim01), full range
heic pillow-heif (libheif +  HEVC intra, 4:4:4, ``preset=slower``,              0..100, integer
     x265)                   ``tune=psnr`` (libheif's x265 defaults: slow,
                             ssim, 4:2:0), BT.601 full range, no grid tiles
jxl  imagecodecs (libjxl)    lossy VarDCT, ``effort=7``, distance from          0..99
                             ``JxlEncoderDistanceFromQuality``, bare codestream
jp2  imagecodecs (OpenJPEG)  irreversible 9/7 wavelet + colour transform        target PSNR (dB),
                             (``mct=True``), one layer, one tile, raw J2K       10..60
                             codestream, OpenJPEG fixed-quality allocation
==== ======================= ================================================== ==================

The default ``qualities`` span about 0.1 to 2 bpp on Kodak kodim01 (one of the costliest Kodak
images), plus two points above it so that easier images still reach about 1-2 bpp. Measured on the
24 Kodak images, JPEG 4:2:0 beats 4:4:4 in RGB PSNR (by ~0.9 dB at 0.1-0.5 bpp, ~0.2 dB at
0.5-2 bpp), so JPEG uses 4:2:0 (``_JPEG_SUBSAMPLING``): each codec gets its best-PSNR setting. AVIF at ``speed=2`` gains ~0.2 dB for twice
the encoding time.
"""

from __future__ import annotations

import importlib.metadata
import io
from dataclasses import dataclass, field
from collections.abc import Callable

import numpy as np

_JPEG_SUBSAMPLING = 2  # Pillow's code: 0 is 4:4:4, 1 is 4:2:2, 2 is 4:2:0
_JPEG_CHROMA = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}[_JPEG_SUBSAMPLING]
_AVIF_SPEED = 4
_JXL_EFFORT = 7


class BaselineError(ValueError):
    """A baseline codec cannot be used as asked (unknown, not installed, or a bad quality)."""


@dataclass(frozen=True)
class Codec:
    """One classical codec at fixed settings; only the quality varies along an RD curve."""

    name: str
    qualities: tuple[float, ...]
    description: str
    quality_range: tuple[float, float]
    integer_quality: bool
    encoder: Callable[[np.ndarray, float], bytes] = field(repr=False, compare=False)
    decoder: Callable[[bytes], np.ndarray] = field(repr=False, compare=False)
    is_available: Callable[[], bool] = field(repr=False, compare=False)

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        """Compress an (H, W, 3) uint8 RGB image at ``quality`` (higher means better)."""
        self._require_available()
        rgb = np.ascontiguousarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise BaselineError(f"{self.name}: expected an (H, W, 3) uint8 array, "
                                f"got {rgb.shape} {rgb.dtype}")
        return bytes(self.encoder(rgb, self._check_quality(quality)))

    def decode(self, data: bytes) -> np.ndarray:
        """Decompress to an (H, W, 3) uint8 RGB array."""
        self._require_available()
        rgb = np.asarray(self.decoder(data))
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise BaselineError(f"{self.name}: decoder returned {rgb.shape} {rgb.dtype}, not (H, W, 3) uint8")
        return rgb

    def _require_available(self) -> None:
        if not self.is_available():
            raise BaselineError(f"codec {self.name!r} is not available: its library or plugin is missing")

    def _check_quality(self, quality: float) -> float:
        """Reject out-of-range or fractional qualities rather than let a library clamp or round them."""
        lo, hi = self.quality_range
        q = float(quality)
        if not lo <= q <= hi:
            raise BaselineError(f"{self.name}: quality {quality!r} is outside [{lo:g}, {hi:g}]")
        if self.integer_quality:
            if not q.is_integer():
                raise BaselineError(f"{self.name}: quality must be an integer, got {quality!r}")
            return int(q)
        return q


def _version(dist: str) -> str:
    """Installed version of a distribution, for the description that goes into result files."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# --- Pillow (jpeg, webp, avif) ----------------------------------------------------------------------


def _pil_encoder(fmt: str, **options: object) -> Callable[[np.ndarray, float], bytes]:
    def encode(rgb: np.ndarray, quality: float) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buffer, fmt, quality=quality, **options)
        return buffer.getvalue()

    return encode


def _pil_decode(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _pil_feature(name: str) -> Callable[[], bool]:
    def check() -> bool:
        from PIL import features

        return bool(features.check(name))

    return check


def _avif_available() -> bool:
    """Pillow >= 11.3 with AVIF support and the aom encoder (``tune`` is an aom option)."""
    try:
        from PIL import _avif, features

        return bool(features.check("avif")) and bool(_avif.encoder_codec_available("aom"))
    except (ImportError, AttributeError):
        return False


_avif_encode = _pil_encoder("AVIF", subsampling="4:4:4", speed=_AVIF_SPEED, codec="aom", range="full",
                            advanced=(("tune", "psnr"),))


# --- pillow-heif (heic) -----------------------------------------------------------------------------


def _heic_available() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    return "x265" in pillow_heif.libheif_info().get("encoders", {})


def _heic_encode(rgb: np.ndarray, quality: float) -> bytes:
    import pillow_heif

    height, width, _ = rgb.shape
    buffer = io.BytesIO()
    # A fresh enc_params dict each call: pillow-heif writes the chroma setting into it.
    pillow_heif.encode("RGB", (width, height), rgb.tobytes(), buffer, quality=quality, chroma=444,
                       enc_params={"preset": "slower", "tune": "psnr"}, tile_size=0)
    return buffer.getvalue()


def _heic_decode(data: bytes) -> np.ndarray:
    import pillow_heif

    return np.asarray(pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True))


# --- imagecodecs (jxl, jp2) -------------------------------------------------------------------------


def _imagecodecs_available(codec: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            import imagecodecs
        except ImportError:
            return False
        return bool(getattr(getattr(imagecodecs, codec, None), "available", False))

    return check


def _jxl_encode(rgb: np.ndarray, quality: float) -> bytes:
    import imagecodecs

    return imagecodecs.jpegxl_encode(rgb, level=quality, effort=_JXL_EFFORT, lossless=False)


def _jxl_decode(data: bytes) -> np.ndarray:
    import imagecodecs

    return imagecodecs.jpegxl_decode(data)


def _jp2_encode(rgb: np.ndarray, quality: float) -> bytes:
    import imagecodecs

    # level is OpenJPEG's fixed-quality target (PSNR in dB); imagecodecs has no fixed-rate mode.
    return imagecodecs.jpeg2k_encode(rgb, level=quality, codecformat="J2K", reversible=False, mct=True)


def _jp2_decode(data: bytes) -> np.ndarray:
    import imagecodecs

    return imagecodecs.jpeg2k_decode(data)


# --- the table ----------------------------------------------------------------------------------------


def _codecs() -> dict[str, Codec]:
    pillow, imagecodecs, heif = _version("pillow"), _version("imagecodecs"), _version("pillow-heif")
    table = [
        Codec("jpeg", (3, 5, 8, 12, 18, 25, 35, 50, 65, 75, 85, 90),
              f"Pillow {pillow} JPEG, {_JPEG_CHROMA} (subsampling={_JPEG_SUBSAMPLING}), optimize=True, "
              "quality 1-95",
              (1, 95), True, _pil_encoder("JPEG", subsampling=_JPEG_SUBSAMPLING, optimize=True), _pil_decode,
              _pil_feature("jpg")),
        Codec("webp", (0, 2, 5, 10, 20, 30, 45, 60, 70, 80, 86, 91),
              f"Pillow {pillow} WebP, lossy (YUV 4:2:0 only), method=6, quality 0-100",
              (0, 100), False, _pil_encoder("WEBP", lossless=False, method=6), _pil_decode,
              _pil_feature("webp")),
        Codec("avif", (3, 6, 10, 15, 20, 30, 40, 50, 58, 65, 72, 78),
              f"Pillow {pillow} AVIF (libavif+aom), 4:4:4, speed={_AVIF_SPEED}, tune=psnr, full range, "
              "quality 0-100",
              (0, 100), True, _avif_encode, _pil_decode, _avif_available),
        Codec("heic", (2, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55),
              f"pillow-heif {heif} HEIC (libheif+x265, HEVC intra), 4:4:4, preset=slower, tune=psnr, "
              "quality 0-100",
              (0, 100), True, _heic_encode, _heic_decode, _heic_available),
        Codec("jxl", (0, 5, 10, 20, 30, 45, 60, 70, 78, 85, 90, 94),
              f"imagecodecs {imagecodecs} JPEG XL (libjxl), lossy, effort={_JXL_EFFORT}, "
              "quality 0-99 (libjxl quality-to-distance), bare codestream",
              (0, 99), False, _jxl_encode, _jxl_decode, _imagecodecs_available("JPEGXL")),
        Codec("jp2", (23, 24, 25, 26, 28, 30, 32, 34, 36, 38, 40, 42),
              f"imagecodecs {imagecodecs} JPEG 2000 (OpenJPEG), irreversible 9/7 + colour transform (mct), "
              "1 layer, J2K codestream, quality = target PSNR dB",
              (10, 60), False, _jp2_encode, _jp2_decode, _imagecodecs_available("JPEG2K")),
    ]
    return {codec.name: codec for codec in table}


CODECS: dict[str, Codec] = _codecs()


def available_codecs() -> list[str]:
    """Names of the codecs whose library or plugin is present now, in table order."""
    return [name for name, codec in CODECS.items() if codec.is_available()]


def get_codec(name: str) -> Codec:
    """The codec called ``name``; raises BaselineError if it is unknown or cannot run here."""
    codec = CODECS.get(name)
    if codec is None:
        raise BaselineError(f"unknown codec {name!r}; known: {', '.join(CODECS)}")
    codec._require_available()
    return codec
