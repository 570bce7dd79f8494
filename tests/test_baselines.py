"""Classical baseline codecs: round trips, rate ordering and error reporting on a tiny image."""

from __future__ import annotations

import numpy as np
import pytest

from c3codec.evaluation.baselines import CODECS, BaselineError, Codec, available_codecs, get_codec
from c3codec.evaluation.metrics import psnr


@pytest.fixture(scope="module")
def smooth_rgb() -> np.ndarray:
    """A 32x48 image of smooth gradients with a little texture: easy but not trivial to code."""
    y, x = np.mgrid[0:32, 0:48].astype(np.float64)
    channels = [
        40 + 150 * x / 47 + 10 * np.sin(y / 3),
        200 - 120 * y / 31 + 8 * np.cos(x / 4),
        90 + 60 * np.sin((x + y) / 9),
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 255).round().astype(np.uint8)


def _available(name: str) -> Codec:
    if name not in available_codecs():
        pytest.skip(f"codec {name} is not available here")
    return get_codec(name)


def test_codec_table() -> None:
    assert set(CODECS) == {"jpeg", "webp", "avif", "heic", "jxl", "jp2"}
    for name, codec in CODECS.items():
        assert codec.name == name
        assert 8 <= len(codec.qualities) <= 12
        assert list(codec.qualities) == sorted(set(codec.qualities)), "sweep must rise strictly"
        lo, hi = codec.quality_range
        assert all(lo <= q <= hi for q in codec.qualities)
        assert codec.description and "\n" not in codec.description


def test_jpeg_and_webp_always_available() -> None:
    assert {"jpeg", "webp"} <= set(available_codecs())


@pytest.mark.parametrize("name", sorted(CODECS))
def test_round_trip(name: str, smooth_rgb: np.ndarray) -> None:
    codec = _available(name)
    low, high = codec.qualities[0], codec.qualities[-1]
    data_low, data_high = codec.encode(smooth_rgb, low), codec.encode(smooth_rgb, high)
    for data in (data_low, data_high):
        decoded = codec.decode(data)
        assert decoded.shape == smooth_rgb.shape
        assert decoded.dtype == np.uint8
    assert psnr(smooth_rgb, codec.decode(data_high), 255) > 30.0
    assert len(data_high) > len(data_low)


def test_unknown_codec() -> None:
    with pytest.raises(BaselineError, match="unknown codec"):
        get_codec("bpg")


@pytest.mark.parametrize("quality", [-1, 1000])
def test_quality_out_of_range(quality: float, smooth_rgb: np.ndarray) -> None:
    with pytest.raises(BaselineError, match="outside"):
        get_codec("jpeg").encode(smooth_rgb, quality)


def test_fractional_quality_for_integer_codec(smooth_rgb: np.ndarray) -> None:
    with pytest.raises(BaselineError, match="integer"):
        get_codec("jpeg").encode(smooth_rgb, 50.5)


def test_bad_array(smooth_rgb: np.ndarray) -> None:
    with pytest.raises(BaselineError):
        get_codec("jpeg").encode(smooth_rgb.astype(np.float32), 50)
    with pytest.raises(BaselineError):
        get_codec("jpeg").encode(smooth_rgb[..., :2], 50)


def test_unavailable_codec(smooth_rgb: np.ndarray) -> None:
    jpeg = CODECS["jpeg"]
    missing = Codec("missing", jpeg.qualities, "never installed", jpeg.quality_range, True,
                    jpeg.encoder, jpeg.decoder, lambda: False)
    with pytest.raises(BaselineError, match="not available"):
        missing.encode(smooth_rgb, 50)
