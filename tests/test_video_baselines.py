"""Classical video baselines through PyAV (evaluation/video_baselines.py) and `c3 eval` on videos."""

from __future__ import annotations

import csv
import math
from fractions import Fraction

import numpy as np
import pytest

from c3codec.cli import main
from c3codec.evaluation.metrics import psnr, video_psnr, yuv_psnr
from c3codec.evaluation.results import ResultRow, append_row, read_rows
from c3codec.evaluation.video_baselines import VIDEO_CODECS, VideoBaselineError, get_video_codec
from c3codec.io.colour import YuvFormat
from c3codec.io.video import VideoInfo, write_video

from test_video_io import smooth_clip


@pytest.mark.parametrize("name", list(VIDEO_CODECS))
def test_codec_round_trip_odd_size(name):
    codec = get_video_codec(name)
    clip = smooth_clip(3, 17, 33)
    data, seconds = codec.encode(clip, Fraction(25), codec.crfs[0])
    assert len(data) > 0 and seconds > 0
    decoded = codec.decode(data, 17, 33)
    assert decoded.shape == clip.shape and decoded.dtype == np.uint8
    assert video_psnr(decoded, clip, 255) > 30  # a smooth clip at the sweep's best quality


def test_lower_crf_costs_more_bits():
    codec = get_video_codec("x264")
    clip = smooth_clip(4, 32, 48, seed=3)
    hi, _ = codec.encode(clip, Fraction(25), 20)
    lo, _ = codec.encode(clip, Fraction(25), 40)
    assert len(hi) > len(lo)


def test_bad_crf_and_unknown_codec():
    with pytest.raises(VideoBaselineError, match="CRF"):
        get_video_codec("x265").encode(smooth_clip(1, 16, 16), Fraction(25), 99)
    with pytest.raises(VideoBaselineError, match="CRF"):
        get_video_codec("x265").encode(smooth_clip(1, 16, 16), Fraction(25), 22.5)
    with pytest.raises(VideoBaselineError, match="unknown"):
        get_video_codec("h266")


def test_video_psnr_conventions():
    a = smooth_clip(2, 8, 8)
    b = a.copy()
    b[1, 0, 0, 0] ^= 1
    assert video_psnr(a, a, 255) == 100.0  # exact frames count as 100 dB, not infinity
    assert video_psnr(a, b, 255) == pytest.approx((100.0 + psnr(a[1], b[1], 255)) / 2)
    y = np.zeros((4, 4), np.uint8)
    c = np.zeros((2, 2), np.uint8)
    worse = c + 3
    expected = (6 * 100.0 + psnr(c[..., None], worse[..., None], 255) + 100.0) / 8
    assert yuv_psnr((y, c, c), (y, worse, c), 255) == pytest.approx(expected)


def test_cli_eval_video(tmp_path):
    clip = smooth_clip(5, 16, 24, seed=1)
    source = tmp_path / "tiny.y4m"
    write_video(source, iter(clip), VideoInfo(24, 16, Fraction(25), 5, YuvFormat()))
    out = tmp_path / "res"
    assert main(["eval", str(source), "--codec", "x264", "--crf", "20", "30", "--frames", "1:4",
                 "--out", str(out), "--keep-files"]) == 0
    rows = read_rows(out / "results.tsv")
    assert sorted(r.setting for r in rows) == [20.0, 30.0]
    for r in rows:
        assert r.frames == 3 and r.fps == 25 and r.width == 24 and r.height == 16
        assert r.bpp == pytest.approx(8 * r.bytes / (3 * 24 * 16))
        assert r.kbps == pytest.approx(8 * r.bytes / (3 / 25) / 1000)
        assert 20 < r.psnr <= 100 and 20 < r.psnr_yuv <= 100
    assert (out / "files" / "tiny_20.mp4").exists()
    assert main(["eval", str(source), "--codec", "x264", "--crf", "20", "30", "--frames", "1:4",
                 "--out", str(out)]) == 0  # resumed: nothing to do, same rows
    assert len(read_rows(out / "results.tsv")) == 2


def test_cli_eval_video_errors(tmp_path, capsys):
    clip = smooth_clip(2, 8, 8)
    source = tmp_path / "v.y4m"
    write_video(source, iter(clip), VideoInfo(8, 8, Fraction(25), 2, YuvFormat()))
    assert main(["eval", str(source), "--lmbda", "1e-3", "--marm", "2", "--out", str(tmp_path / "a")]) == 2
    assert "--marm is for images" in capsys.readouterr().err
    assert main(["eval", str(source), "--lmbda", "1e-3", "--complexity", "low", "--out", str(tmp_path / "a")]) == 2
    assert "--complexity is for images" in capsys.readouterr().err
    assert main(["eval", str(source), "--codec", "jpeg", "--out", str(tmp_path / "a")]) == 2
    assert "image codec" in capsys.readouterr().err
    assert main(["eval", str(source), "--codec", "x265", "--lmbda", "1e-3", "--out", str(tmp_path / "b")]) == 2
    assert main(["eval", str(tmp_path / "missing.y4m"), "--codec", "x265", "--out", str(tmp_path / "c")]) == 2
    bad = tmp_path / "bad.y4m"
    bad.write_bytes(b"YUV4MPEG2 W8 H8\nFRAME\n" + bytes(10))
    assert main(["eval", str(bad), "--codec", "x264", "--out", str(tmp_path / "d")]) == 2
    assert "truncated" in capsys.readouterr().err
    assert not (tmp_path / "d" / "results.tsv").exists()


def test_results_written_before_video_columns_still_append(tmp_path):
    """A results.tsv from before the video columns keeps its header when rows are appended."""
    table = tmp_path / "results.tsv"
    old = ["codec", "image", "setting", "bpp", "psnr", "ms_ssim", "bytes", "width", "height",
           "encode_seconds", "decode_seconds", "macs_per_pixel", "stage1_steps"]
    table.write_text("\t".join(old) + "\n" + "\t".join(["c3", "a", "0.01", "0.5", "30.0", "nan", "100",
                                                          "8", "8", "1.0", "0.1", "1000.0", "10.0"]) + "\n")
    append_row(table, ResultRow("c3", "b", 0.01, 0.6, 31.0, math.nan, 120, 8, 8, 1.0, 0.1, 1000.0, 12.0))
    with table.open() as f:
        lines = list(csv.reader(f, delimiter="\t"))
    assert all(len(line) == len(old) for line in lines)
    assert [r.image for r in read_rows(table)] == ["a", "b"]
