"""Shared fixtures: small synthetic images and a few encodings reused across tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from c3codec.config import ArchitectureConfig, preset_fit_config
from c3codec.encoder import EncodeResult, encode
from c3codec.io.images import Picture

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KODAK = SHARED / "kodak"


def synthetic(height: int, width: int, channels: int = 3, bit_depth: int = 8, seed: int = 0) -> Picture:
    """A smooth image with some texture, deterministic."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    planes = []
    for c in range(channels):
        base = 0.5 + 0.3 * np.sin(x / (3.0 + c) + y / 5.0) * np.cos(y / (4.0 + c))
        planes.append(base + 0.01 * rng.standard_normal((height, width)))
    img = np.clip(np.stack(planes, axis=-1), 0, 1)
    max_value = (1 << bit_depth) - 1
    return Picture(np.round(img * max_value).astype(np.int64), bit_depth)


def quick_encode(picture: Picture, lmbda: float = 1e-3, steps: int = 40,
                 arch: ArchitectureConfig | None = None, **fit_overrides) -> EncodeResult:
    return encode(picture, lmbda, arch=arch,
                  fit_config=preset_fit_config("fast", steps=steps, **fit_overrides))


@pytest.fixture(scope="session")
def small_picture() -> Picture:
    return synthetic(40, 48)


@pytest.fixture(scope="session")
def small_encoding(small_picture: Picture) -> EncodeResult:
    return quick_encode(small_picture, steps=100)


def kodak_crop(name: str, height: int, width: int) -> Picture:
    from c3codec.io.images import load_image

    path = KODAK / name
    if not path.exists():
        pytest.skip("../shared/data/kodak is not available")
    pic = load_image(path)
    return Picture(pic.pixels[:height, :width], pic.bit_depth)
