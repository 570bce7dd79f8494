"""Every picture kind the README promises, through the command line and real files.

Input PNGs are written, and `c3 decode`'s PNGs read back, by a reader and writer written from the
PNG specification (png_spec.py), not by the libraries the codec uses: these tests check the
bytes on disk. They caught 16-bit colour images, whose decoded pixels reached imagecodecs as a
strided view it refused.
"""

from __future__ import annotations

import numpy as np
import pytest

import c3codec.encoder
from c3codec.cli import main
from conftest import synthetic
from png_spec import read_png, write_png

MODES = {1: "grey", 3: "rgb", 4: "rgba"}
KINDS = [(c, b) for b in (8, 16) for c in (1, 3, 4)]


@pytest.mark.parametrize("size", [(1, 1), (7, 5)], ids=["1x1", "5x7"])
@pytest.mark.parametrize("channels,bit_depth", KINDS, ids=[f"{MODES[c]}{b}" for c, b in KINDS])
def test_decode_writes_the_reconstruction(channels, bit_depth, size, tmp_path, monkeypatch):
    picture = synthetic(*size, channels=channels, bit_depth=bit_depth, seed=channels + bit_depth)
    source, coded, decoded = tmp_path / "in.png", tmp_path / "in.c3", tmp_path / "out.png"
    source.write_bytes(write_png(picture.pixels, bit_depth))

    results = []
    real_encode = c3codec.encoder.encode

    def spy(pic, *args, **kwargs):
        results.append((pic, real_encode(pic, *args, **kwargs)))
        return results[-1][1]

    monkeypatch.setattr(c3codec.encoder, "encode", spy)
    assert main(["encode", str(source), "-o", str(coded), "--lmbda", "1e-3", "--steps", "3",
                 "--quiet", "--threads", "1"]) == 0
    assert main(["decode", str(coded), "-o", str(decoded)]) == 0

    (read, result), = results
    assert read.bit_depth == bit_depth and np.array_equal(read.pixels, picture.pixels)
    png = read_png(decoded.read_bytes())
    assert png.mode == MODES[channels]
    assert png.bit_depth == bit_depth
    assert png.pixels.shape == (*size, channels)
    assert np.array_equal(png.pixels, result.reconstruction.pixels)
