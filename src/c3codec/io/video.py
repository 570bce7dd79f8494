"""Reading and writing videos: Y4M, raw ``.yuv``, folders of PNG frames, and whatever PyAV
(FFmpeg) reads (mp4, mkv, webm ...).

A source is opened with :func:`open_video`, which reads only the header: its
:class:`VideoInfo` (size, frame rate, frame count where the container says, the YUV format of
YUV sources) and an iterator over RGB frames, ``(H, W, 3)`` uint8 or uint16 arrays, read one at
a time so that a long video never has to fit in memory. :func:`write_video` takes such an
iterator and writes Y4M, ``.yuv``, a lossless FFV1 ``.mkv`` or a folder of PNGs, through a
temporary name renamed at the end: never a half-written output.

Bad input (unknown or truncated Y4M, a ``.yuv`` whose size is not a whole number of frames, a
file FFmpeg cannot decode, absurd sizes) raises :class:`VideoError` with a one-line message
before any large allocation.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from .colour import Planes, YuvFormat, rgb_to_yuv, yuv_to_rgb
from .images import ImageError, Picture, load_image, save_png

MAX_PIXELS = 1 << 26  # per frame, as for images
MAX_SIDE = 1 << 15
DEFAULT_FPS = Fraction(30)
RAW_SUFFIXES = (".yuv", ".raw")


class VideoError(ValueError):
    """The video is missing, unreadable, malformed or in a format the codec does not handle."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    num_frames: int | None  # None where the container does not say (some PyAV streams)
    yuv: YuvFormat | None = None  # None for RGB sources (PNG frames, RGB streams)

    @property
    def rgb_bit_depth(self) -> int:
        return self.yuv.rgb_bit_depth if self.yuv else self._rgb_depth

    _rgb_depth: int = field(default=8, repr=False)


@dataclass
class VideoSource:
    """An opened video: its info and a one-pass iterator over the selected frames."""

    info: VideoInfo
    _frames: Iterator[np.ndarray]

    def frames(self) -> Iterator[np.ndarray]:
        return self._frames

    def read_all(self) -> np.ndarray:
        """All selected frames as one (T, H, W, 3) array."""
        frames = list(self._frames)
        if not frames:
            raise VideoError("no frames selected")
        return np.stack(frames)


# ---------------------------------------------------------------------------------------------
# frame ranges

def parse_frames(text: str | None) -> tuple[int, int | None]:
    """``"A:B"`` (frames A to B-1, either side may be empty) or ``"N"`` (the first N frames)."""
    if text is None or text == "":
        return 0, None
    match = re.fullmatch(r"\s*(\d*)\s*(:\s*(\d*)\s*)?", text)
    if not match:
        raise VideoError(f"--frames {text!r}: expected A:B (e.g. 0:30) or a frame count")
    if match.group(2) is None:
        return 0, int(match.group(1))
    start = int(match.group(1) or 0)
    stop = int(match.group(3)) if match.group(3) else None
    if stop is not None and stop <= start:
        raise VideoError(f"--frames {text!r} selects no frames")
    return start, stop


def _selected(count: int | None, start: int, stop: int | None) -> int | None:
    if count is None:
        return None
    end = count if stop is None else min(stop, count)
    return max(end - start, 0)


def _check_size(width: int, height: int, where: str) -> None:
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise VideoError(f"{where}: frame size {width}x{height} is outside what the codec handles "
                         f"(1 to {MAX_SIDE} per side, {MAX_PIXELS} pixels)")


def _read_planes(buf: bytes, fmt: YuvFormat, height: int, width: int) -> Planes:
    samples = np.frombuffer(buf, dtype=np.uint8 if fmt.bit_depth == 8 else "<u2")
    if fmt.bit_depth > 8 and samples.size and samples.max() >= 1 << fmt.bit_depth:
        raise VideoError(f"samples above the {fmt.bit_depth}-bit range")
    y = samples[: height * width].reshape(height, width)
    if fmt.chroma == "mono":
        return y, None, None
    ch, cw = fmt.chroma_size(height, width)
    n = ch * cw
    u = samples[height * width: height * width + n].reshape(ch, cw)
    v = samples[height * width + n: height * width + 2 * n].reshape(ch, cw)
    return y, u, v


# ---------------------------------------------------------------------------------------------
# Y4M (YUV4MPEG2)

Y4M_CHROMA = {"420jpeg": ("420", 8), "420paldv": ("420", 8), "420mpeg2": ("420", 8),
              "420": ("420", 8), "444": ("444", 8), "mono": ("mono", 8),
              "420p10": ("420", 10), "444p10": ("444", 10), "mono10": ("mono", 10),
              "420p12": ("420", 12), "444p12": ("444", 12), "420p16": ("420", 16),
              "444p16": ("444", 16), "mono16": ("mono", 16)}
Y4M_TAGS = {("420", 8): "420jpeg", ("444", 8): "444", ("mono", 8): "mono"}


def _y4m_header(f, path: Path) -> tuple[int, int, Fraction, YuvFormat]:
    line = f.readline(4096)
    if not line.startswith(b"YUV4MPEG2") or not line.endswith(b"\n"):
        raise VideoError(f"{path}: not a Y4M file (no YUV4MPEG2 header line)")
    params = {}
    for token in line[9:].split():
        params[token[:1].decode("ascii", "replace")] = token[1:].decode("ascii", "replace")
    try:
        width, height = int(params["W"]), int(params["H"])
    except (KeyError, ValueError):
        raise VideoError(f"{path}: Y4M header without a valid width and height") from None
    _check_size(width, height, str(path))
    fps = DEFAULT_FPS
    if "F" in params:
        try:
            num, den = (int(x) for x in params["F"].split(":"))
            fps = Fraction(num, den)
        except (ValueError, ZeroDivisionError):
            raise VideoError(f"{path}: Y4M frame rate {params['F']!r} is not N:D") from None
        if fps <= 0:
            raise VideoError(f"{path}: Y4M frame rate {params['F']!r} is not positive")
    tag = params.get("C", "420jpeg")
    if tag not in Y4M_CHROMA:
        raise VideoError(f"{path}: Y4M colour space C{tag} is not supported "
                         f"({', '.join(sorted(Y4M_CHROMA))})")
    if params.get("I", "p") not in ("p", "?"):
        raise VideoError(f"{path}: interlaced Y4M (I{params['I']}) is not supported")
    chroma, depth = Y4M_CHROMA[tag]
    full = b"XCOLORRANGE=FULL" in line.upper()
    return width, height, fps, YuvFormat(chroma, depth, "bt601", full)


def _open_y4m(path: Path, start: int, stop: int | None, matrix: str | None) -> VideoSource:
    f = open(path, "rb")
    try:
        width, height, fps, fmt = _y4m_header(f, path)
        if matrix:
            fmt = replace(fmt, matrix=matrix)
        data_bytes = fmt.frame_samples(height, width) * (1 if fmt.bit_depth == 8 else 2)
        first = f.tell()
        size = os.fstat(f.fileno()).st_size
        # frame headers are almost always bare "FRAME\n": count on that, checked while reading
        count = (size - first) // (data_bytes + 6) if data_bytes + 6 else 0
    except BaseException:
        f.close()
        raise
    info = VideoInfo(width, height, fps, _selected(count, start, stop), fmt)

    def frames() -> Iterator[np.ndarray]:
        with f:
            index = 0
            while stop is None or index < stop:
                head = f.readline(1024)
                if not head:
                    break
                if not head.startswith(b"FRAME") or not head.endswith(b"\n"):
                    raise VideoError(f"{path}: frame {index}: no FRAME marker (malformed Y4M)")
                if index < start:
                    f.seek(data_bytes, os.SEEK_CUR)
                    if f.tell() > size:
                        raise VideoError(f"{path}: frame {index} is truncated")
                else:
                    buf = f.read(data_bytes)
                    if len(buf) != data_bytes:
                        raise VideoError(f"{path}: frame {index} is truncated "
                                         f"({len(buf)} of {data_bytes} bytes)")
                    yield yuv_to_rgb(_read_planes(buf, fmt, height, width), fmt)
                index += 1
            if index <= start:
                raise VideoError(f"{path}: has {index} frames, none selected from frame {start}")

    return VideoSource(info, frames())


# ---------------------------------------------------------------------------------------------
# raw .yuv

@dataclass(frozen=True)
class RawOptions:
    """What a raw ``.yuv`` file cannot say about itself (flags win over the file name)."""

    size: tuple[int, int] | None = None  # (width, height)
    fps: Fraction | None = None
    chroma: str | None = None
    bit_depth: int | None = None


def raw_options_from_name(name: str) -> RawOptions:
    """The usual ``name_WxH_FPSfps_420_8bit.yuv`` / ``name_WxH_yuv420p10le.yuv`` conventions."""
    size = re.search(r"(?<![0-9])(\d{1,5})x(\d{1,5})(?![0-9])", name)
    fps = re.search(r"(?<![0-9.])(\d+(?:\.\d+)?)fps", name, re.IGNORECASE)
    fmt = re.search(r"yuv(420|444)p(\d+)?|(?<![0-9])(420|444)(?![0-9])", name, re.IGNORECASE)
    depth = re.search(r"(?<![0-9])(8|10|12|16)[-_]?bit", name, re.IGNORECASE)
    chroma = bit_depth = None
    if fmt:
        chroma = fmt.group(1) or fmt.group(3)
        if fmt.group(2):
            bit_depth = int(fmt.group(2))
    if depth:
        bit_depth = int(depth.group(1))
    return RawOptions(size=(int(size.group(1)), int(size.group(2))) if size else None,
                      fps=Fraction(fps.group(1)) if fps else None, chroma=chroma, bit_depth=bit_depth)


def _open_raw(path: Path, options: RawOptions, start: int, stop: int | None,
              matrix: str | None) -> VideoSource:
    named = raw_options_from_name(path.name)
    size = options.size or named.size
    if size is None:
        raise VideoError(f"{path}: raw YUV needs a frame size: --size WxH, or WxH in the file name")
    width, height = size
    _check_size(width, height, str(path))
    try:
        fmt = YuvFormat(options.chroma or named.chroma or "420", options.bit_depth or named.bit_depth or 8,
                        matrix or "bt601")
    except ValueError as e:
        raise VideoError(f"{path}: {e}") from None
    frame_bytes = fmt.frame_samples(height, width) * (1 if fmt.bit_depth == 8 else 2)
    total = path.stat().st_size
    if total == 0 or total % frame_bytes:
        raise VideoError(f"{path}: {total} bytes is not a whole number of {width}x{height} "
                         f"{fmt.chroma} {fmt.bit_depth}-bit frames ({frame_bytes} bytes each): "
                         f"check --size and --pix-fmt")
    count = total // frame_bytes
    if start >= count:
        raise VideoError(f"{path}: has {count} frames, none selected from frame {start}")
    info = VideoInfo(width, height, options.fps or named.fps or DEFAULT_FPS, _selected(count, start, stop), fmt)

    def frames() -> Iterator[np.ndarray]:
        with open(path, "rb") as f:
            f.seek(start * frame_bytes)
            for _ in range(info.num_frames or 0):
                yield yuv_to_rgb(_read_planes(f.read(frame_bytes), fmt, height, width), fmt)

    return VideoSource(info, frames())


# ---------------------------------------------------------------------------------------------
# folders of PNG (or other image) frames

FRAME_SUFFIXES = (".png", ".tif", ".tiff", ".ppm", ".bmp")


def _open_folder(path: Path, fps: Fraction | None, start: int, stop: int | None) -> VideoSource:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise VideoError(f"{path}: folder without frames ({', '.join(FRAME_SUFFIXES)} files)")
    selected = files[start:stop]
    if not selected:
        raise VideoError(f"{path}: has {len(files)} frames, none selected from frame {start}")

    def load(p: Path) -> Picture:
        try:
            picture = load_image(p)
        except ImageError as e:
            raise VideoError(str(e)) from None
        if picture.channels == 4:
            raise VideoError(f"{p}: frames with alpha are not supported in videos")
        return picture

    first = load(selected[0])
    info = VideoInfo(first.width, first.height, fps or DEFAULT_FPS, len(selected), None,
                     _rgb_depth=first.bit_depth)

    def frames() -> Iterator[np.ndarray]:
        for p in selected:
            picture = first if p == selected[0] else load(p)
            if (picture.height, picture.width, picture.bit_depth) != (first.height, first.width, first.bit_depth):
                raise VideoError(f"{p}: {picture.width}x{picture.height} {picture.bit_depth}-bit, "
                                 f"the first frame is {first.width}x{first.height} {first.bit_depth}-bit")
            pixels = picture.pixels
            yield np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels

    return VideoSource(info, frames())


# ---------------------------------------------------------------------------------------------
# anything FFmpeg reads, through PyAV

PYAV_YUV = {"yuv420p": ("420", 8, False), "yuvj420p": ("420", 8, True), "yuv444p": ("444", 8, False),
            "yuvj444p": ("444", 8, True), "gray": ("mono", 8, False),
            "yuv420p10le": ("420", 10, False), "yuv444p10le": ("444", 10, False)}


def _open_pyav(path: Path, start: int, stop: int | None, matrix: str | None) -> VideoSource:
    import av

    try:
        container = av.open(str(path))
        streams = container.streams.video
        if not streams:
            container.close()
            raise VideoError(f"{path}: no video stream")
        stream = streams[0]
        ctx = stream.codec_context
        width, height = ctx.width, ctx.height
        rate = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
    except av.error.FFmpegError as e:
        raise VideoError(f"{path}: not a video FFmpeg can read ({e.strerror or e})") from None
    if not width or not height:
        container.close()
        raise VideoError(f"{path}: the video stream has no frame size")
    _check_size(width, height, str(path))
    fmt = None
    if ctx.pix_fmt in PYAV_YUV:
        chroma, depth, full = PYAV_YUV[ctx.pix_fmt]
        if matrix is None:  # FFmpeg's AVColorSpace: 1 is BT.709; unspecified is read as BT.601
            matrix = "bt709" if int(getattr(ctx, "colorspace", 0) or 0) == 1 else "bt601"
        full = full or int(getattr(ctx, "color_range", 0) or 0) == 2  # AVCOL_RANGE_JPEG
        fmt = YuvFormat(chroma, depth, matrix, full)
    deep = fmt is None and _pyav_bits(ctx.pix_fmt) > 8  # e.g. 16-bit RGB FFV1: read as 16-bit RGB
    info = VideoInfo(width, height, Fraction(rate), _selected(stream.frames or None, start, stop), fmt,
                     _rgb_depth=16 if deep else 8)

    def frames() -> Iterator[np.ndarray]:
        index = 0
        try:
            with container:
                for frame in container.decode(stream):
                    if stop is not None and index >= stop:
                        break
                    if index >= start:
                        if (frame.width, frame.height) != (width, height):
                            raise VideoError(f"{path}: frame {index} changes size to "
                                             f"{frame.width}x{frame.height}")
                        yield _pyav_rgb(frame, fmt, deep)
                    index += 1
        except av.error.FFmpegError as e:
            raise VideoError(f"{path}: frame {index} cannot be decoded ({e.strerror or e})") from None
        if index <= start:
            raise VideoError(f"{path}: has {index} frames, none selected from frame {start}")

    return VideoSource(info, frames())


def _pyav_bits(pix_fmt: str | None) -> int:
    """Bits per sample of an FFmpeg pixel format (8 where PyAV does not say)."""
    import av

    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, TypeError, AttributeError):
        return 8


def _pyav_rgb(frame, fmt: YuvFormat | None, deep: bool = False) -> np.ndarray:
    if fmt is None or frame.format.name not in PYAV_YUV:
        return np.ascontiguousarray(frame.to_ndarray(format="rgb48le" if deep else "rgb24"))
    return yuv_to_rgb(pyav_planes(frame, fmt), fmt)


def pyav_planes(frame, fmt: YuvFormat) -> Planes:
    """A decoded PyAV frame's planes as arrays in ``fmt`` (views of the frame, without the
    padding FFmpeg adds at the end of each line)."""
    dtype = np.dtype(np.uint8 if fmt.bit_depth == 8 else "<u2")
    planes = [np.frombuffer(p, dtype=dtype).reshape(p.height, p.line_size // dtype.itemsize)[:, : p.width]
              for p in frame.planes[: 1 if fmt.chroma == "mono" else 3]]
    if fmt.chroma == "mono":
        return planes[0], None, None
    return planes[0], planes[1], planes[2]


# ---------------------------------------------------------------------------------------------

def open_video(path: str | os.PathLike[str], frames: str | tuple[int, int | None] | None = None,
               raw: RawOptions | None = None, matrix: str | None = None) -> VideoSource:
    """Open a video for reading: Y4M, raw YUV (size etc. from ``raw`` or the file name), a
    folder of frames, or anything PyAV reads. ``frames`` selects ``"A:B"``; ``matrix`` overrides
    the YUV matrix (BT.601 unless the container says BT.709)."""
    path = Path(path)
    start, stop = frames if isinstance(frames, tuple) else parse_frames(frames)
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder")
    if path.is_dir():
        return _open_folder(path, raw.fps if raw else None, start, stop)
    suffix = path.suffix.lower()
    if suffix == ".y4m":
        return _open_y4m(path, start, stop, matrix)
    if suffix in RAW_SUFFIXES:
        return _open_raw(path, raw or RawOptions(), start, stop, matrix)
    return _open_pyav(path, start, stop, matrix)


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a video file rather than an image, by its suffix (a folder may hold
    either images or frames: the caller decides)."""
    return Path(path).suffix.lower() in (".y4m", *RAW_SUFFIXES, ".mp4", ".mkv", ".webm",
                                         ".mov", ".avi", ".m4v", ".ts")


# ---------------------------------------------------------------------------------------------
# writing

def output_yuv_format(info: VideoInfo) -> YuvFormat:
    """The YUV format decoded frames are written in: the source's, or 8/16-bit 4:2:0 BT.601."""
    if info.yuv is not None:
        return info.yuv
    return YuvFormat("420", 8 if info.rgb_bit_depth == 8 else 16)


def write_video(path: str | os.PathLike[str], frames: Iterable[np.ndarray], info: VideoInfo) -> int:
    """Write RGB frames (uint8 or uint16 at ``info.rgb_bit_depth``) as they come: ``.y4m``,
    ``.yuv``, ``.mkv`` (lossless FFV1 RGB) or, for a path without a suffix, a folder of PNGs.
    Atomic: a temporary name renamed once the last frame is written. Returns the frame count."""
    path = Path(path)
    suffix = path.suffix.lower()
    folder = suffix == ""
    if suffix not in ("", ".y4m", *RAW_SUFFIXES, ".mkv"):
        raise VideoError(f"{path}: write .y4m, .yuv, .mkv or a folder (a path without suffix)")
    parent = path.parent if str(path.parent) else Path(".")
    if folder:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=parent)
        os.close(fd)
        tmp = Path(name)
    try:
        if folder:
            count = _write_folder(tmp, frames, info)
        elif suffix == ".mkv":
            count = _write_mkv(tmp, frames, info)
        else:
            count = _write_yuv(tmp, frames, info, y4m=suffix == ".y4m")
        if folder and path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(tmp, path)
        return count
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True) if folder else tmp.unlink(missing_ok=True)
        raise


def _write_yuv(path: Path, frames: Iterable[np.ndarray], info: VideoInfo, y4m: bool) -> int:
    fmt = output_yuv_format(info)
    count = 0
    with open(path, "wb") as f:
        if y4m:
            tag = Y4M_TAGS.get((fmt.chroma, fmt.bit_depth)) or (
                f"{fmt.chroma}p{fmt.bit_depth}" if fmt.chroma != "mono" else f"mono{fmt.bit_depth}")
            fps = Fraction(info.fps)
            extra = " XCOLORRANGE=FULL" if fmt.full_range else ""
            f.write(f"YUV4MPEG2 W{info.width} H{info.height} F{fps.numerator}:{fps.denominator} "
                    f"Ip A1:1 C{tag}{extra}\n".encode("ascii"))
        for rgb in frames:
            planes = rgb_to_yuv(rgb, info.rgb_bit_depth, fmt)
            if y4m:
                f.write(b"FRAME\n")
            for plane in planes:
                if plane is not None:
                    f.write(np.ascontiguousarray(plane, dtype=np.uint8 if fmt.bit_depth == 8 else "<u2").tobytes())
            count += 1
    return count


def _write_folder(folder: Path, frames: Iterable[np.ndarray], info: VideoInfo) -> int:
    count = 0
    for count, rgb in enumerate(frames, start=1):
        save_png(folder / f"frame_{count:05d}.png", Picture(rgb, info.rgb_bit_depth))
    return count


def _write_mkv(path: Path, frames: Iterable[np.ndarray], info: VideoInfo) -> int:
    import av

    deep = info.rgb_bit_depth > 8
    count = 0
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=Fraction(info.fps).limit_denominator(1 << 16))
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = "gbrp16le" if deep else "bgr0"
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb, dtype="<u2" if deep else np.uint8),
                                               format="rgb48le" if deep else "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
    return count
