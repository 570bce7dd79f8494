"""Classical video codecs to draw RD curves against, through PyAV (its wheels bundle FFmpeg with
libx265, libx264, SVT-AV1 and libvpx), without command-line binaries like the image baselines.

Frames go in as the 8-bit 4:2:0 planes :mod:`c3codec.io.colour` makes of the RGB frames (the
same conversion the codec's reader uses: a Y4M source goes in with its own planes, to within one
code value of rounding), and the decoded planes come back through the same conversion, so every
codec is measured by the same PSNR code on the same RGB frames. Sizes are padded to multiples of
16 and at least 64x64 (edge replication: 4:2:0 needs even sizes, and libx265 in PyAV 18.1
corrupted its heap on some frames smaller than that) and cropped after decoding; the padding's
bits are counted (none for the usual video sizes). Each encode runs in a child process (see
:meth:`VideoCodec.encode`).

========= ========== ================================================================
name      encoder    settings
========= ========== ================================================================
x265      libx265    preset=medium, **no B-frames** (bframes=0): the C3 paper's HEVC anchor
x265-default libx265 preset=medium, x265's defaults (B-frames on)
x264      libx264    preset=medium
svtav1    libsvtav1  preset=8 (SVT-AV1's default speed)
vp9       libvpx-vp9 constant quality (b:v=0), deadline=good, cpu-used=2
========= ========== ================================================================

The setting is the CRF: unlike the image baselines' qualities, lower means better quality.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..io.colour import YuvFormat, rgb_to_yuv, yuv_to_rgb
from ..io.video import pyav_planes


class VideoBaselineError(ValueError):
    """A video baseline cannot be used as asked (unknown codec, bad CRF, codec not in FFmpeg)."""


FORMAT = YuvFormat("420", 8, "bt601")
PAD = 16  # frame sizes padded to a multiple of this (4:2:0 needs even; libx265 is happiest at 16)
MIN_SIDE = 64  # and to at least this: libx265 corrupted its heap now and then on 48x32 frames


@dataclass(frozen=True)
class VideoCodec:
    name: str
    encoder: str  # FFmpeg encoder name
    container: str  # FFmpeg muxer
    options: dict[str, str] = field(hash=False)
    crfs: tuple[int, ...] = ()
    crf_range: tuple[int, int] = (0, 51)
    description: str = ""

    def available(self) -> bool:
        import av

        return self.encoder in av.codecs_available

    def require_available(self) -> None:
        if not self.available():
            raise VideoBaselineError(f"{self.name}: FFmpeg in this PyAV build has no {self.encoder}")

    def encode(self, frames: np.ndarray, fps: Fraction, crf: float) -> tuple[bytes, float]:
        """Compress (T, H, W, 3) uint8 RGB frames at ``crf``: the file's bytes and the encoder's
        seconds. Runs in a child process: libx265 in PyAV 18.1 corrupts its heap when one
        process encodes small frames repeatedly (seen at 48x32, aborting the interpreter), and
        a crash there must fail one task with a message, not the whole evaluation."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        self.require_available()
        lo, hi = self.crf_range
        if crf != int(crf) or not lo <= crf <= hi:
            raise VideoBaselineError(f"{self.name}: CRF must be an integer in {lo}..{hi}, got {crf:g}")
        context = multiprocessing.get_context("spawn")
        try:
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                return pool.submit(_encode, self, np.ascontiguousarray(frames), Fraction(fps), int(crf)).result()
        except BrokenProcessPool:
            raise VideoBaselineError(f"{self.name}: {self.encoder} crashed on {frames.shape[2]}x"
                                     f"{frames.shape[1]} frames") from None

    def decode(self, data: bytes, height: int, width: int) -> np.ndarray:
        """(T, H, W, 3) uint8 RGB frames of a file written by :meth:`encode`."""
        import av

        out = []
        with av.open(io.BytesIO(data), "r") as container:
            for frame in container.decode(container.streams.video[0]):
                y, u, v = pyav_planes(frame, FORMAT)
                ch, cw = FORMAT.chroma_size(height, width)
                out.append(yuv_to_rgb((y[:height, :width], u[:ch, :cw], v[:ch, :cw]), FORMAT))
        return np.stack(out)


def _encode(codec: VideoCodec, frames: np.ndarray, fps: Fraction, crf: int) -> tuple[bytes, float]:
    import time

    import av

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration otherwise
    start = time.perf_counter()
    t, h, w, _ = frames.shape
    hp, wp = max(-(-h // PAD) * PAD, MIN_SIDE), max(-(-w // PAD) * PAD, MIN_SIDE)
    buf = io.BytesIO()
    with av.open(buf, "w", format=codec.container) as container:
        stream = container.add_stream(codec.encoder, rate=fps.limit_denominator(1 << 16))
        stream.width, stream.height, stream.pix_fmt = wp, hp, "yuv420p"
        stream.options = {**codec.options, "crf": str(crf)}
        for index, rgb in enumerate(frames):
            padded = np.pad(rgb, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")
            frame = _yuv_frame(rgb_to_yuv(padded, 8, FORMAT), wp, hp)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue(), time.perf_counter() - start


def _yuv_frame(planes, width: int, height: int):
    import av

    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, data in zip(frame.planes, planes):
        rows = np.zeros((plane.height, plane.line_size), np.uint8)
        rows[: data.shape[0], : data.shape[1]] = data
        plane.update(rows.tobytes())
    return frame


_QUIET_X265 = "log-level=error"
VIDEO_CODECS: dict[str, VideoCodec] = {c.name: c for c in [
    VideoCodec("x265", "libx265", "mp4", {"preset": "medium", "x265-params": f"bframes=0:{_QUIET_X265}"},
               (22, 27, 32, 37), description="x265 (libx265 via PyAV), preset medium, no B-frames, CRF"),
    VideoCodec("x265-default", "libx265", "mp4", {"preset": "medium", "x265-params": _QUIET_X265},
               (22, 27, 32, 37), description="x265 (libx265 via PyAV), preset medium, default GOP, CRF"),
    VideoCodec("x264", "libx264", "mp4", {"preset": "medium"}, (20, 25, 30, 35),
               description="x264 (libx264 via PyAV), preset medium, CRF"),
    VideoCodec("svtav1", "libsvtav1", "mp4", {"preset": "8"}, (27, 35, 43, 51), (1, 63),
               description="SVT-AV1 (libsvtav1 via PyAV), preset 8, CRF"),
    VideoCodec("vp9", "libvpx-vp9", "webm", {"b": "0", "deadline": "good", "cpu-used": "2"},
               (25, 33, 41, 49), (0, 63), description="VP9 (libvpx via PyAV), constant quality, cpu-used 2, CRF"),
]}


def get_video_codec(name: str) -> VideoCodec:
    codec = VIDEO_CODECS.get(name)
    if codec is None:
        raise VideoBaselineError(f"unknown video codec {name!r}; known: {', '.join(VIDEO_CODECS)}")
    codec.require_available()
    return codec
