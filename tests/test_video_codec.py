"""The C3 video codec: exact round trips through the API and the CLI (every input container,
one frame, odd sizes and frame counts, several patches, 10-bit), the .c3v container, and bad
input. Tiny synthetic clips and a few fitting steps: these test the codec, not its quality."""

from __future__ import annotations

import json
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from c3codec.cli import main
from c3codec.coding import container
from c3codec.coding.bitstream import BitstreamError
from c3codec.coding.container import VideoHeader
from c3codec.config import preset_fit_config
from c3codec.evaluation.metrics import video_psnr
from c3codec.exact import native
from c3codec.io.colour import YuvFormat
from c3codec.io.video import VideoInfo, open_video, write_video
from c3codec.video_decoder import decode_video, describe
from c3codec.video_encoder import encode_video, patch_counts

from test_video_io import smooth_clip


@lru_cache(maxsize=None)
def encoded(frames: int, height: int, width: int, counts: tuple[int, int, int] = (1, 1, 1),
            depth: int = 8, lmbda: float = 1e-2):
    clip = smooth_clip(frames, height, width, seed=frames + height, depth=depth)
    return clip, encode_video(clip, lmbda, counts=counts, fit_config=preset_fit_config("test", steps=12))


def decoded(data: bytes, **kwargs) -> np.ndarray:
    return np.stack(list(decode_video(data, **kwargs)[1]))


@pytest.mark.parametrize("frames,height,width,counts", [(4, 16, 24, (1, 1, 1)), (1, 8, 8, (1, 1, 1)),
                                                        (7, 17, 33, (2, 1, 2)), (5, 9, 7, (1, 2, 1))])
def test_api_round_trip_is_exact_for_any_decoder_and_thread_count(frames, height, width, counts):
    clip, result = encoded(frames, height, width, counts)
    assert result.reconstruction.shape == clip.shape
    assert len(result.stats.patches) == counts[0] * counts[1] * counts[2]
    assert result.stats.psnr == pytest.approx(video_psnr(result.reconstruction, clip, 255))
    assert np.array_equal(decoded(result.data, reference=True), result.reconstruction)
    if native.available():
        for threads in (1, 2, 3):
            assert np.array_equal(decoded(result.data, threads=threads), result.reconstruction)


def test_arms_by_patch_size():
    """One ARM per grid by default only on large patches; 0 and W override either way."""
    from c3codec.video_encoder import VIDEO_PER_GRID_MIN_PIXELS, choose_arms, default_video_architecture

    base = default_video_architecture()
    assert choose_arms(base, None, VIDEO_PER_GRID_MIN_PIXELS - 1) == base
    large = choose_arms(base, None, VIDEO_PER_GRID_MIN_PIXELS)
    assert large.entropy.per_grid and large.entropy.widths == base.entropy.widths
    assert choose_arms(base, 0, 10 * VIDEO_PER_GRID_MIN_PIXELS) == base
    small = choose_arms(base, 2, 100)
    assert small.entropy.per_grid and small.entropy.widths == (2, 2)
    assert choose_arms(large, 0, 100) == base


@pytest.mark.parametrize("width", [2, 8])
def test_one_arm_per_grid_round_trips_exactly(width):
    """C3's E2/E3 entropy settings: every video grid under its own ARM, decoded exactly by
    both decoders and any thread count (the compiled one batches each wave by ARM)."""
    clip = smooth_clip(5, 17, 23, seed=4)
    result = encode_video(clip, 1e-3, counts=(1, 1, 1), per_grid_arm=width, drop_finest=False,
                          fit_config=preset_fit_config("test", steps=12))
    assert np.array_equal(decoded(result.data, reference=True), result.reconstruction)
    if native.available():
        for threads in (1, 2, 3):
            assert np.array_equal(decoded(result.data, threads=threads), result.reconstruction)


def test_sixteen_bit_frames_round_trip():
    clip, result = encoded(3, 10, 12, depth=16)
    out = decoded(result.data)
    assert out.dtype == np.uint16 and np.array_equal(out, result.reconstruction)
    # fitted at its own scale: about as well as the same clip at 8 bits (misread, it would be ~0 dB)
    eight = encode_video((clip >> 8).astype(np.uint8), 1e-2, counts=(1, 1, 1),
                         fit_config=preset_fit_config("test", steps=12))
    assert abs(result.stats.psnr - eight.stats.psnr) < 2


def test_encoding_is_deterministic():
    clip, result = encoded(4, 16, 24)
    again = encode_video(clip, 1e-2, counts=(1, 1, 1), fit_config=preset_fit_config("test", steps=12))
    assert again.data == result.data


def test_fitting_learns_the_video():
    """More steps, better reconstruction: the model really fits frames (not a constant)."""
    clip = smooth_clip(4, 16, 24, seed=3)
    short = encode_video(clip, 1e-3, fit_config=preset_fit_config("test", steps=5))
    longer = encode_video(clip, 1e-3, fit_config=preset_fit_config("test", steps=150))
    assert longer.stats.psnr > short.stats.psnr + 3
    assert longer.stats.psnr > 20  # the mean colour scores 14.5 dB here


def test_describe_reports_patches_and_bytes():
    _, result = encoded(7, 17, 33, (2, 1, 2))
    info = describe(result.data)
    assert info["bytes"] == len(result.data)
    assert len(info["patches"]) == 4
    assert sum(p["bytes"] for p in info["patches"]) < len(result.data)
    assert [p["frames"] for p in info["patches"]] == ["0:3", "0:3", "3:7", "3:7"]


# ---------------------------------------------------------------------------------------------
# the container


def test_split_covers_evenly():
    for size in (1, 7, 30, 272):
        for count in range(1, min(size, 5) + 1):
            parts = container.split(size, count)
            assert parts[0].start == 0 and parts[-1].stop == size
            assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
            lengths = [p.stop - p.start for p in parts]
            assert max(lengths) - min(lengths) <= 1 and min(lengths) >= 1


def test_patch_counts_follow_lambda():
    # carphone (120 QCIF frames): longer patches at lower rates; bikes (272x640): two columns
    assert patch_counts(120, 144, 176, 1e-4) == (4, 1, 1)
    assert patch_counts(120, 144, 176, 1e-2) == (2, 1, 1)
    assert patch_counts(30, 272, 640, 1e-2) == (1, 1, 2)


def test_header_round_trip():
    header = VideoHeader(30, 144, 176, 16, Fraction(30000, 1001), YuvFormat("420", 10, "bt709", True), (2, 1, 3))
    payloads = [bytes([k]) * (k + 1) for k in range(6)]
    data = container.write(header, payloads)
    parsed, table = container.read_header(data)
    assert parsed == header
    assert [container.payload(data, table, k) for k in range(6)] == payloads


@pytest.mark.parametrize("fields", [(0, 10, 10), (1 << 21, 10, 10), (5, 1 << 17, 10), (5, 60000, 60000)])
def test_absurd_headers_are_refused_before_allocating(fields):
    frames, height, width = fields
    with pytest.raises(BitstreamError):
        VideoHeader(frames, height, width, 8, Fraction(25), None, (1, 1, 1))


def test_every_truncation_and_bit_flip_is_an_error_or_the_same_video():
    _, result = encoded(4, 16, 24)
    data = result.data
    rng = np.random.default_rng(0)
    for cut in sorted({1, 3, 5, 10, len(data) // 2, len(data) - 1, *rng.integers(1, len(data), 6)}):
        with pytest.raises(BitstreamError):
            decoded(data[:cut])
    for position in rng.integers(0, len(data), 24):
        mutated = bytearray(data)
        mutated[position] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(BitstreamError):
            decoded(bytes(mutated))
    with pytest.raises(BitstreamError):
        decoded(data + b"\0")


# ---------------------------------------------------------------------------------------------
# the command line


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def write_source(kind: str, folder: Path, clip: np.ndarray) -> tuple[Path, list[str]]:
    """The clip in a container, and the flags ``c3 encode`` needs to read it."""
    t, h, w = clip.shape[:3]
    depth = 16 if clip.dtype == np.uint16 else 8
    if kind == "png":
        path = folder / "frames"
        write_video(path, iter(clip), VideoInfo(w, h, Fraction(25), t, None, _rgb_depth=depth))
        return path, ["--fps", "25"]
    if kind == "mkv":
        path = folder / "clip.mkv"
        write_video(path, iter(clip), VideoInfo(w, h, Fraction(25), t, None, _rgb_depth=depth))
        return path, []
    chroma, bits = {"y4m420": ("420", 8), "y4m444": ("444", 8), "y4m10": ("420", 10), "yuv": ("420", 8)}[kind]
    fmt = YuvFormat(chroma, bits)
    if kind == "yuv":
        path = folder / f"clip_{w}x{h}_25fps_420_8bit.yuv"
    else:
        path = folder / "clip.y4m"
    write_video(path, iter(clip), VideoInfo(w, h, Fraction(25), t, fmt))
    return path, []


@pytest.mark.parametrize("kind", ["y4m420", "y4m444", "y4m10", "yuv", "png", "mkv"])
def test_cli_round_trip_from_every_container(kind, tmp_path, capsys):
    depth = 16 if kind == "y4m10" else 8
    clip = smooth_clip(3, 10, 14, seed=5, depth=depth)
    source, flags = write_source(kind, tmp_path, clip)
    coded = tmp_path / "clip.c3v"
    code, out, err = run(["encode", source, "-o", coded, "--lmbda", "1e-2", "--steps", "8", *flags], capsys)
    assert code == 0, err
    assert "3 frames of 14x10" in out
    expected = decoded(coded.read_bytes())
    assert expected.dtype == (np.uint16 if depth == 16 else np.uint8)
    # decoded to a lossless RGB container: the decoder's frames exactly
    for target in (tmp_path / "out_frames", tmp_path / "out.mkv"):
        code, out, err = run(["decode", coded, "-o", target], capsys)
        assert code == 0, err
        frames = open_video(target).read_all()
        assert np.array_equal(frames, expected)
    # to YUV: the source's format
    code, out, err = run(["decode", coded, "-o", tmp_path / "out.y4m"], capsys)
    assert code == 0, err
    info = open_video(tmp_path / "out.y4m").info
    source_info = open_video(source, raw=None).info if kind != "png" else None
    if source_info is not None and source_info.yuv is not None:
        assert info.yuv == source_info.yuv
    code, out, err = run(["info", coded], capsys)
    assert code == 0 and "3 frames of 14x10" in out and "patch 0" in out


def test_cli_frame_range_and_patches(tmp_path, capsys):
    clip = smooth_clip(6, 12, 16, seed=2)
    source, _ = write_source("y4m420", tmp_path, clip)
    coded = tmp_path / "part.c3v"
    code, out, err = run(["encode", source, "-o", coded, "--lmbda", "1e-2", "--steps", "5", "--frames", "1:5",
                          "--patches", "2,1,1"], capsys)
    assert code == 0, err
    header, frames = decode_video(coded.read_bytes())
    assert header.frames == 4 and header.patch_counts == (2, 1, 1)
    assert len(list(frames)) == 4
    for lmbda, flag, dropped in (("1e-2", [], True), ("1e-3", [], False), ("1e-3", ["--drop-finest"], True),
                                 ("1e-2", ["--finest-grid", "on"], False)):  # VIDEO_FINEST_GRID_MAX_LAMBDA: 2e-3
        code, out, err = run(["encode", source, "-o", tmp_path / "f.c3v", "--lmbda", lmbda, "--steps", "2",
                              "--frames", "1:3", *flag], capsys)
        assert code == 0, err
        code, out, err = run(["info", tmp_path / "f.c3v", "--json"], capsys)
        assert code == 0 and json.loads(out)["patches"][0]["architecture"]["latents"]["drop_finest"] is dropped
    code, out, err = run(["encode", source, "-o", tmp_path / "g.c3v", "--lmbda", "1e-3", "--steps", "3",
                          "--frames", "1:4", "--per-grid-arm", "2"], capsys)  # C3's E2: one (2, 2) ARM per grid
    assert code == 0, err
    code, out, err = run(["info", tmp_path / "g.c3v", "--json"], capsys)
    entropy = json.loads(out)["patches"][0]["architecture"]["entropy"]
    assert code == 0 and entropy["per_grid"] is True and entropy["widths"] == [2, 2]
    code, out, err = run(["info", tmp_path / "g.c3v"], capsys)
    assert code == 0 and "one ARM per grid" in out
    header, frames = decode_video((tmp_path / "g.c3v").read_bytes())
    assert len(list(frames)) == 3
    code, out, err = run(["encode", source, "-o", tmp_path / "x.c3v", "--lmbda", "1e-2", "--steps", "3",
                          "--drop-finest", "--adaptive"], capsys)
    assert code == 2 and "--drop-finest" in err and not (tmp_path / "x.c3v").exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "not-c3"])
def test_cli_bad_c3v_fails_cleanly(damage, tmp_path, capsys):
    _, result = encoded(4, 16, 24)
    data = bytearray(result.data)
    if damage == "truncate":
        data = data[: len(data) - 7]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x10
    else:
        data = bytearray(b"C3VD" + b"\xff" * 20)
    bad = tmp_path / "bad.c3v"
    bad.write_bytes(bytes(data))
    for target in ("out.y4m", "out_frames"):
        code, out, err = run(["decode", bad, "-o", tmp_path / target], capsys)
        assert code == 2
        assert err.startswith("c3: error:") and err.count("\n") == 1
        assert not (tmp_path / target).exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize("content,name", [(b"YUV4MPEG2 W16 H8 F25:1 C420\nFRAME\n\x00\x01", "short.y4m"),
                                          (b"\x00" * 1000, "clip_16x8_25fps_420_8bit.yuv"),
                                          (b"not a video at all", "broken.mp4")])
def test_cli_bad_video_input_fails_cleanly(content, name, tmp_path, capsys):
    source = tmp_path / name
    source.write_bytes(content)
    code, out, err = run(["encode", source, "-o", tmp_path / "x.c3v", "--lmbda", "1e-2", "--steps", "2"], capsys)
    assert code == 2
    assert err.startswith("c3: error:") and err.count("\n") == 1
    assert not (tmp_path / "x.c3v").exists()


def test_cli_eval_codes_videos_with_c3(tmp_path, capsys):
    clip = smooth_clip(3, 10, 14, seed=7)
    source, _ = write_source("y4m420", tmp_path, clip)
    out = tmp_path / "eval"
    code, _, err = run(["eval", source, "--lmbda", "1e-2", "--steps", "5", "--out", out, "--keep-files"], capsys)
    assert code == 0, err
    import csv

    with (out / "results.tsv").open() as f:
        (row,) = list(csv.DictReader(f, delimiter="\t"))
    assert row["codec"] == "c3" and float(row["frames"]) == 3 and float(row["kbps"]) > 0
    assert 0 < float(row["psnr_yuv"]) < 100 and float(row["macs_per_pixel"]) > 0
    kept = next((out / "files").iterdir())
    assert kept.suffix == ".c3v" and len(kept.read_bytes()) == int(row["bytes"])
    assert np.array_equal(decoded(kept.read_bytes()).shape, clip.shape)
    # the finest grid: off by default at lambda 1e-2 (above VIDEO_FINEST_GRID_MAX_LAMBDA), on when
    # asked: about twice the MACs; both decode to the same shape
    keep = tmp_path / "keep"
    code, _, err = run(["eval", source, "--lmbda", "1e-2", "--steps", "5", "--finest-grid", "on", "--out", keep,
                        "--keep-files"], capsys)
    assert code == 0, err
    with (keep / "results.tsv").open() as f:
        (kept_row,) = list(csv.DictReader(f, delimiter="\t"))
    assert float(row["macs_per_pixel"]) < 0.7 * float(kept_row["macs_per_pixel"])
    assert decoded(next((keep / "files").iterdir()).read_bytes()).shape == clip.shape


def test_python_api_from_a_file_and_an_array(tmp_path):
    import c3codec

    clip = smooth_clip(3, 8, 12, seed=9)
    source, _ = write_source("y4m444", tmp_path, clip)
    result = c3codec.encode_video(source, 1e-2, steps=4)
    frames = list(c3codec.decode_video(result.data))
    assert len(frames) == 3 and np.array_equal(np.stack(frames), result.reconstruction)
    header = decode_video(result.data)[0]
    assert header.yuv == YuvFormat("444", 8) and header.fps == 25
    from_array = c3codec.encode_video(clip, 1e-2, steps=4, fps=30)
    assert decode_video(from_array.data)[0].fps == 30 and from_array.reconstruction.shape == clip.shape


def test_patches_in_processes_and_on_dask_give_the_same_bytes():
    from c3codec.runtime import torch_threads

    clip = smooth_clip(4, 12, 16, seed=11)
    config = preset_fit_config("test", steps=6)
    with torch_threads(1):
        here = encode_video(clip, 1e-2, counts=(2, 1, 1), fit_config=config)
    processes = encode_video(clip, 1e-2, counts=(2, 1, 1), fit_config=config, jobs=2, threads=1)
    assert processes.data == here.data
    assert np.array_equal(processes.reconstruction, here.reconstruction)
    pytest.importorskip("distributed")
    cluster = encode_video(clip, 1e-2, counts=(2, 1, 1), fit_config=config, scheduler="local:2")
    assert cluster.data == here.data


def test_cli_encode_video_on_a_local_cluster(tmp_path, capsys):
    pytest.importorskip("distributed")
    clip = smooth_clip(4, 10, 12, seed=12)
    source, _ = write_source("y4m420", tmp_path, clip)
    code, out, err = run(["encode", source, "-o", tmp_path / "a.c3v", "--lmbda", "1e-2", "--steps", "4",
                          "--patches", "2,1,1", "--scheduler", "local:2"], capsys)
    assert code == 0, err
    code, out, err = run(["encode", source, "-o", tmp_path / "b.c3v", "--lmbda", "1e-2", "--steps", "4",
                          "--patches", "2,1,1", "--jobs", "2", "--threads", "1"], capsys)
    assert code == 0, err
    assert (tmp_path / "a.c3v").read_bytes() == (tmp_path / "b.c3v").read_bytes()
    code, out, err = run(["encode", source, "-o", tmp_path / "c.c3v", "--lmbda", "1e-2", "--scheduler", "nowhere"],
                         capsys)
    assert code == 2 and "--scheduler" in err
