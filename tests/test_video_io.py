"""Video reading and writing (io/video.py, io/colour.py): every container, odd sizes, 10-bit,
frame ranges, bad input. Small synthetic clips; the shared test videos where present."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from c3codec.io.colour import YuvFormat, rgb_to_yuv, yuv_to_rgb
from c3codec.io.video import (RawOptions, VideoError, VideoInfo, open_video, parse_frames,
                              raw_options_from_name, write_video)

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"


def smooth_clip(frames: int, height: int, width: int, seed: int = 0, depth: int = 8) -> np.ndarray:
    """Smooth RGB frames (chroma subsampling loses little on them), uint8 or uint16."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    out = []
    for t in range(frames):
        channels = [0.5 + 0.4 * np.sin((x + 2 * t) / (5 + 3 * c) + rng.uniform(0, 6)) *
                    np.cos((y - t) / (6 + 2 * c)) for c in range(3)]
        out.append(np.stack(channels, axis=2))
    top = (1 << depth) - 1
    return np.rint(np.stack(out) * top).astype(np.uint8 if depth == 8 else np.uint16)


def write_y4m(path: Path, planes: list[tuple], width: int, height: int, tag: str, depth: int = 8,
              extra: str = "") -> None:
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C{tag}{extra}\n".encode())
        for frame in planes:
            f.write(b"FRAME\n")
            for p in frame:
                f.write(p.astype(np.uint8 if depth == 8 else "<u2").tobytes())


@pytest.mark.parametrize("chroma,depth,size", [("420", 8, (17, 33)), ("444", 8, (16, 24)),
                                               ("420", 10, (17, 33)), ("444", 10, (5, 7)),
                                               ("mono", 8, (9, 11)), ("420", 8, (1, 1))])
def test_yuv_planes_survive_rgb_round_trip(chroma, depth, size):
    """YUV -> RGB -> YUV returns the source planes within one code value (rounding only)."""
    h, w = size
    fmt = YuvFormat(chroma, depth)
    rgb = smooth_clip(1, h, w, depth=fmt.rgb_bit_depth)[0]
    planes = rgb_to_yuv(rgb, fmt.rgb_bit_depth, fmt)
    again = rgb_to_yuv(yuv_to_rgb(planes, fmt), fmt.rgb_bit_depth, fmt)
    for a, b in zip(planes, again):
        if a is None:
            assert b is None
            continue
        assert a.dtype == b.dtype == fmt.dtype
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_known_colours_bt601_limited():
    fmt = YuvFormat("444", 8, "bt601")
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], dtype=np.uint8)
    y, u, v = rgb_to_yuv(rgb, 8, fmt)
    assert y.tolist() == [[235, 16, 81]] and u.tolist() == [[128, 128, 90]] and v.tolist() == [[128, 128, 240]]
    # 8-bit Y'CbCr cannot hold every RGB value: back within one code value
    assert np.abs(yuv_to_rgb((y, u, v), fmt).astype(int) - rgb).max() <= 1


@pytest.mark.parametrize("chroma,depth,size,frames", [("420", 8, (17, 33), 7), ("444", 8, (16, 24), 4),
                                                      ("420", 10, (16, 24), 3), ("mono", 8, (9, 11), 2)])
def test_y4m_write_read(tmp_path, chroma, depth, size, frames):
    h, w = size
    fmt = YuvFormat(chroma, depth)
    clip = smooth_clip(frames, h, w, depth=fmt.rgb_bit_depth)
    info = VideoInfo(w, h, Fraction(25), frames, fmt)
    out = tmp_path / "a.y4m"
    assert write_video(out, iter(clip), info) == frames
    src = open_video(out)
    assert (src.info.width, src.info.height, src.info.num_frames, src.info.fps) == (w, h, frames, 25)
    assert src.info.yuv == fmt
    back = src.read_all()
    assert back.shape == clip.shape and back.dtype == clip.dtype
    # the planes written from what was read are the file's planes, within rounding
    out2 = tmp_path / "b.y4m"
    write_video(out2, iter(back), src.info)
    a = np.frombuffer(out.read_bytes(), np.uint8).astype(int)
    b = np.frombuffer(out2.read_bytes(), np.uint8).astype(int)
    assert a.shape == b.shape
    if depth == 8:
        assert np.abs(a - b).max() <= 1


def test_y4m_exact_planes_and_frame_range(tmp_path):
    rng = np.random.default_rng(1)
    h, w = 6, 10
    frames = [(rng.integers(16, 236, (h, w)), rng.integers(16, 241, (3, 5)), rng.integers(16, 241, (3, 5)))
              for _ in range(5)]
    path = tmp_path / "r.y4m"
    write_y4m(path, frames, w, h, "420jpeg")
    fmt = YuvFormat("420", 8)
    sel = open_video(path, frames="1:3")
    assert sel.info.num_frames == 2
    got = sel.read_all()
    for k, t in enumerate((1, 2)):
        assert np.array_equal(got[k], yuv_to_rgb(frames[t], fmt))
    assert open_video(path, frames="2").read_all().shape[0] == 2


def test_raw_yuv_from_name_and_flags(tmp_path):
    clip = smooth_clip(3, 8, 12)
    info = VideoInfo(12, 8, Fraction(50), 3, YuvFormat("420", 8))
    path = tmp_path / "clip_12x8_50fps_420_8bit.yuv"
    write_video(path, iter(clip), info)
    assert path.stat().st_size == 3 * (96 + 2 * 24)
    src = open_video(path)
    assert (src.info.width, src.info.height, src.info.fps, src.info.num_frames) == (12, 8, 50, 3)
    plain = tmp_path / "plain.yuv"
    plain.write_bytes(path.read_bytes())
    with pytest.raises(VideoError, match="needs a frame size"):
        open_video(plain)
    assert np.array_equal(open_video(plain, raw=RawOptions(size=(12, 8))).read_all(), src.read_all())
    with pytest.raises(VideoError, match="not a whole number"):
        open_video(plain, raw=RawOptions(size=(12, 10)))


def test_raw_names():
    o = raw_options_from_name("Beauty_1920x1080_120fps_420_8bit_YUV.yuv")
    assert o.size == (1920, 1080) and o.fps == 120 and o.chroma == "420" and o.bit_depth == 8
    o = raw_options_from_name("foreman_qcif_176x144_yuv420p_10f.yuv")
    assert o.size == (176, 144) and o.chroma == "420" and o.bit_depth is None and o.fps is None
    o = raw_options_from_name("x_352x288_yuv444p10le.yuv")
    assert o.chroma == "444" and o.bit_depth == 10


def test_png_folder_and_mkv(tmp_path):
    clip = smooth_clip(4, 9, 13)
    info = VideoInfo(13, 9, Fraction(24), 4, None)
    folder = tmp_path / "frames"
    write_video(folder, iter(clip), info)
    assert sorted(p.name for p in folder.iterdir()) == [f"frame_{k:05d}.png" for k in range(1, 5)]
    assert np.array_equal(open_video(folder).read_all(), clip)
    mkv = tmp_path / "a.mkv"
    write_video(mkv, iter(clip), info)
    src = open_video(mkv)
    assert np.array_equal(src.read_all(), clip)  # FFV1 RGB is lossless


def test_sixteen_bit_mkv(tmp_path):
    clip = smooth_clip(2, 6, 8, depth=16)
    info = VideoInfo(8, 6, Fraction(25), 2, None, _rgb_depth=16)
    write_video(tmp_path / "a", iter(clip), info)
    assert np.array_equal(open_video(tmp_path / "a").read_all(), clip)


def test_mp4_through_pyav(tmp_path):
    import av

    clip = smooth_clip(5, 16, 24)
    path = tmp_path / "a.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 24, 16, "yuv420p"
        s.options = {"qp": "0"}
        for f in clip:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    src = open_video(path, frames="1:4")
    got = src.read_all()
    assert got.shape == (3, 16, 24, 3) and src.info.fps == 25
    assert np.abs(got.astype(int) - clip[1:4].astype(int)).mean() < 4


@pytest.mark.parametrize("content,match", [
    (b"", "not a Y4M"),
    (b"YUV4MPEG2 W16 H8\n", None),  # header only: no frames
    (b"YUV4MPEG2 H8 F25:1\nFRAME\n", "width and height"),
    (b"YUV4MPEG2 W99999999 H99999999\nFRAME\n", "outside what the codec handles"),
    (b"YUV4MPEG2 W16 H8 C411\nFRAME\n", "not supported"),
    (b"YUV4MPEG2 W16 H8 F25:0\nFRAME\n", "frame rate"),
    (b"YUV4MPEG2 W16 H8 It\nFRAME\n", "interlaced"),
    (b"YUV4MPEG2 W16 H8\nFRAME\n" + bytes(100), "truncated"),
    (b"YUV4MPEG2 W16 H8\nFRAMX\n" + bytes(192), "FRAME marker"),
])
def test_bad_y4m(tmp_path, content, match):
    path = tmp_path / "bad.y4m"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=match or "none selected"):
        open_video(path).read_all()


def test_bad_inputs(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        open_video(tmp_path / "missing.y4m")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    with pytest.raises(VideoError):
        open_video(corrupt).read_all()
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="without frames"):
        open_video(tmp_path / "empty")
    with pytest.raises(VideoError, match="selects no frames"):
        parse_frames("5:3")
    with pytest.raises(VideoError, match="expected A:B"):
        parse_frames("a:b")


def test_failed_write_leaves_nothing(tmp_path):
    info = VideoInfo(8, 6, Fraction(25), 3, YuvFormat())

    def frames():
        yield smooth_clip(1, 6, 8)[0]
        raise RuntimeError("decoder failed")

    for name in ("out.y4m", "out.yuv", "out.mkv", "out"):
        with pytest.raises(RuntimeError):
            write_video(tmp_path / name, frames(), info)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not VIDEO.exists(), reason="../shared/data/video not present")
def test_shared_clips():
    car = open_video(VIDEO / "carphone_qcif_120f.y4m", frames="0:3")
    assert (car.info.width, car.info.height, car.info.num_frames) == (176, 144, 3)
    assert car.info.fps == Fraction(30000, 1001)
    y4m = car.read_all()
    mp4 = open_video(VIDEO / "carphone_pristine.mp4", frames="0:3").read_all()
    assert np.abs(y4m.astype(int) - mp4.astype(int)).mean() < 1  # the Y4M was decoded from the mp4
    foreman = open_video(VIDEO / "foreman_qcif_176x144_yuv420p_10f.yuv")
    assert foreman.info.num_frames == 10 and foreman.read_all().shape == (10, 144, 176, 3)
    bikes = open_video(VIDEO / "bikes.mp4", frames="0:2")
    assert bikes.read_all().shape == (2, 272, 640, 3)
