"""C3: an overfitted neural image codec (Kim et al., 2024), usable on a CPU.

Python API::

    import c3codec
    data = c3codec.encode("photo.png", lmbda=1e-3)      # bytes of a .c3 file
    pixels = c3codec.decode(data)                        # (H, W, C) uint8 or uint16 array
    result = c3codec.encode_video("clip.y4m", lmbda=1e-2, budget=600)  # .data: bytes of a .c3v file
    for frame in c3codec.decode_video(result.data): ...  # (H, W, 3) frames as they are decoded
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np

from .config import ArchitectureConfig, FitConfig, preset_fit_config
from .io.images import Picture, as_picture, load_image

__version__ = "0.1.0"

ImageLike = str | os.PathLike | np.ndarray | Picture


def sample_image_path() -> Path:
    """The small sample image shipped with the package (a 128x128 crop of Kodak kodim23)."""
    return Path(str(resources.files("c3codec") / "data" / "sample.png"))


def _picture(image: ImageLike) -> Picture:
    if isinstance(image, Picture):
        return image
    if isinstance(image, np.ndarray):
        return as_picture(image)
    return load_image(image)


def encode_image(image: ImageLike, lmbda: float = 1e-3, *, preset: str = "fast",
                 steps: int | None = None, seed: int = 0, arch: ArchitectureConfig | None = None,
                 fit_config: FitConfig | None = None, progress: bool = False,
                 device: str = "cpu"):
    """Encode and return an :class:`~c3codec.encoder.EncodeResult` (bytes, stats, reconstruction)."""
    from .encoder import encode as _encode

    fit_config = fit_config or preset_fit_config(preset, steps=steps, seed=seed)
    return _encode(_picture(image), lmbda, arch=arch, fit_config=fit_config, progress=progress,
                   device=device)


def encode(image: ImageLike, lmbda: float = 1e-3, **kwargs) -> bytes:
    """Compress an image (path, uint8/uint16 array or Picture) to the bytes of a .c3 file."""
    return encode_image(image, lmbda, **kwargs).data


def decode(data: bytes) -> np.ndarray:
    """Decode .c3 bytes to an (H, W, C) uint8 or uint16 array."""
    from .decoder import decode as _decode

    picture = _decode(data)
    return picture.pixels.astype(np.uint16 if picture.bit_depth == 16 else np.uint8)


def encode_video(video: str | os.PathLike | np.ndarray, lmbda: float = 1e-2, *, frames: str | None = None,
                 preset: str = "fast", steps: int | None = None, budget: float | None = None, seed: int = 0,
                 fps: float | None = None, progress: bool = False, device: str = "cpu"):
    """Encode a video (a file or PNG folder that :func:`c3codec.io.video.open_video` reads, or a
    (T, H, W, 3) uint8/uint16 RGB array) and return a
    :class:`~c3codec.video_encoder.VideoEncodeResult` (``.data``: the bytes of a .c3v file,
    stats, reconstruction). ``frames`` selects ``"A:B"``; ``budget`` is in seconds."""
    from fractions import Fraction

    from .io.video import open_video
    from .video_encoder import encode_video as _encode_video

    fit_config = preset_fit_config(preset, steps=steps, seed=seed)
    rate = None if fps is None else Fraction(fps).limit_denominator(1001)
    if isinstance(video, np.ndarray):
        pixels, yuv, depth = video, None, None
    else:
        source = open_video(video, frames=frames)
        pixels, yuv, depth = source.read_all(), source.info.yuv, source.info.rgb_bit_depth
        rate = rate or source.info.fps
    return _encode_video(pixels, lmbda, fps=rate or Fraction(25), yuv=yuv, bit_depth=depth, fit_config=fit_config,
                         budget_seconds=budget, progress=progress, device=device)


def decode_video(data: bytes):
    """Decode .c3v bytes: an iterator over (H, W, 3) uint8 / uint16 RGB frames, yielded as each
    time slab of patches is decoded (the header is checked first)."""
    from .video_decoder import decode_video as _decode_video

    return _decode_video(data)[1]


__all__ = ["encode", "encode_image", "decode", "encode_video", "decode_video", "ArchitectureConfig", "FitConfig",
           "preset_fit_config", "Picture", "load_image", "sample_image_path", "__version__"]
