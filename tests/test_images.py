"""Every input kind Pillow reads, 8/16 bit, grey/RGB/alpha, and clear errors for the rest."""

import numpy as np
import pytest
from PIL import Image

from c3codec.io.images import ImageError, Picture, as_picture, encode_png, load_image, save_png
from conftest import synthetic

RGB = synthetic(12, 10).pixels.astype(np.uint8)


@pytest.mark.parametrize("fmt,lossless", [("PNG", True), ("PPM", True), ("TIFF", True),
                                          ("BMP", True), ("WEBP", False), ("JPEG", False)])
def test_rgb_formats(tmp_path, fmt, lossless):
    path = tmp_path / f"img.{fmt.lower()}"
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    Image.fromarray(RGB).save(path, format=fmt, **kwargs)
    pic = load_image(path)
    assert pic.pixels.shape == (12, 10, 3) and pic.bit_depth == 8
    if lossless or fmt == "WEBP":
        assert np.array_equal(pic.pixels, RGB)


def test_grey_palette_bilevel_and_alpha(tmp_path):
    Image.fromarray(RGB[..., 0]).save(tmp_path / "g.png")
    assert load_image(tmp_path / "g.png").pixels.shape == (12, 10, 1)
    Image.fromarray(RGB).convert("P").save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").pixels.shape == (12, 10, 3)
    Image.fromarray(RGB[..., 0] > 128).save(tmp_path / "b.png")
    assert load_image(tmp_path / "b.png").pixels.shape == (12, 10, 1)
    rgba = np.concatenate([RGB, RGB[..., :1]], axis=2)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    pic = load_image(tmp_path / "a.png")
    assert pic.pixels.shape == (12, 10, 4) and np.array_equal(pic.pixels, rgba)
    Image.fromarray(rgba).convert("LA").save(tmp_path / "la.png")
    assert load_image(tmp_path / "la.png").pixels.shape == (12, 10, 4)


def test_16_bit_png_grey_and_rgb_roundtrip(tmp_path):
    for channels in (1, 3):
        pic = synthetic(9, 7, channels=channels, bit_depth=16)
        save_png(tmp_path / "x.png", pic)
        back = load_image(tmp_path / "x.png")
        assert back.bit_depth == 16
        assert np.array_equal(back.pixels, pic.pixels)


def test_strided_pixels_are_written_correctly(tmp_path):
    """A transposed (non-contiguous) array, as the decoder's synthesis produces, writes fine."""
    for channels in (1, 3, 4):
        for bit_depth in (8, 16):
            planes = synthetic(6, 5, channels=channels, bit_depth=bit_depth).pixels.transpose(2, 0, 1).copy()
            pic = Picture(planes.transpose(1, 2, 0), bit_depth)
            assert pic.pixels.flags.c_contiguous
            pic.pixels = planes.transpose(1, 2, 0)  # bypass the normalisation: encode_png copes too
            save_png(tmp_path / "s.png", pic)
            back = load_image(tmp_path / "s.png")
            assert back.bit_depth == bit_depth and np.array_equal(back.pixels, planes.transpose(1, 2, 0))


def test_unexpected_library_layout_is_an_error(tmp_path, monkeypatch):
    """16-bit colour files go through imagecodecs; a layout other than (H, W, C) is refused."""
    import imagecodecs

    pic = synthetic(6, 5, channels=3, bit_depth=16)
    save_png(tmp_path / "x.png", pic)
    planar = np.ascontiguousarray(pic.pixels.transpose(2, 0, 1), dtype=np.uint16)
    monkeypatch.setattr(imagecodecs, "imread", lambda path: planar)
    with pytest.raises(ImageError, match="unexpected sample layout"):
        load_image(tmp_path / "x.png")


def test_out_of_range_pixels_are_not_written(tmp_path):
    with pytest.raises(ValueError, match="outside 0..255"):
        save_png(tmp_path / "bad.png", Picture(np.full((2, 2, 3), 256), 8))
    assert not (tmp_path / "bad.png").exists()


def test_8_bit_png_roundtrip(tmp_path):
    pic = Picture(RGB.astype(np.int64), 8)
    save_png(tmp_path / "y.png", pic)
    assert np.array_equal(load_image(tmp_path / "y.png").pixels, RGB)
    assert encode_png(pic)[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_are_clear(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "text.png")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)
    good = tmp_path / "good.png"
    Image.fromarray(RGB).save(good)
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:60])
    with pytest.raises(ImageError):
        load_image(tmp_path / "cut.png")
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(ImageError, match="floating-point"):
        load_image(tmp_path / "f.tiff")


def test_as_picture_validates_arrays():
    assert as_picture(RGB).bit_depth == 8
    assert as_picture(RGB[..., 0].astype(np.uint16)).channels == 1
    with pytest.raises(ImageError):
        as_picture(RGB.astype(np.float32))
    with pytest.raises(ImageError):
        as_picture(np.zeros((0, 3, 3), np.uint8))
