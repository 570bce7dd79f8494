"""Golden files: .c3 files written by older revisions decode to the same pixels, forever.

tests/golden holds small files of several architectures and formats, written and decoded by the
revision named with each in pixels.json (tools/make_golden.py): the version-1 files by 6f54dec,
before the compiled decoder; the MARM files by the revision that introduced MARM. Every decoder,
compiled or reference, on any machine and thread count, must reproduce the hash of their pixels;
a change of the format or of the exact arithmetic that breaks one is a break of every file
users have. The ``.c3v`` videos were written by the revision that introduced video.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from c3codec.decoder import decode
from c3codec.exact import native

GOLDEN = Path(__file__).parent / "golden"
RECORD = json.loads((GOLDEN / "pixels.json").read_text())


def pixel_hash(pixels: np.ndarray, bit_depth: int) -> str:
    import hashlib

    dtype = "<u2" if bit_depth == 16 else "u1"
    data = np.ascontiguousarray(np.asarray(pixels).astype(dtype))
    return hashlib.sha256(repr(data.shape).encode() + data.tobytes()).hexdigest()


DECODERS = [("reference", True, 1), ("native", False, 1), ("native", False, 2)]


IMAGES = sorted(name for name in RECORD["files"] if (GOLDEN / f"{name}.c3").exists())
VIDEOS = sorted(name for name in RECORD["files"] if (GOLDEN / f"{name}.c3v").exists())


def test_every_recorded_file_is_there():
    assert len(IMAGES) + len(VIDEOS) == len(RECORD["files"]) and VIDEOS


def _decoded(name: str, reference: bool, threads: int) -> tuple[np.ndarray, int]:
    """The pixels (a video's frames stacked) of golden file ``name`` and their bit depth."""
    if name in VIDEOS:
        from c3codec.video_decoder import decode_video

        frames = decode_video((GOLDEN / f"{name}.c3v").read_bytes(), threads, reference)[1]
        return np.stack(list(frames)), RECORD["files"][name]["bit_depth"]
    picture = decode((GOLDEN / f"{name}.c3").read_bytes(), reference=reference, threads=threads)
    return picture.pixels, picture.bit_depth


@pytest.mark.parametrize("name", IMAGES + VIDEOS)
@pytest.mark.parametrize("decoder,reference,threads", DECODERS, ids=[f"{d}-{t}" for d, _, t in DECODERS])
def test_golden_file_decodes_to_its_pixels(name, decoder, reference, threads):
    if decoder == "native" and not native.available():
        pytest.skip("no C compiler for the native decoder")
    expected = RECORD["files"][name]
    pixels, bit_depth = _decoded(name, reference, threads)
    assert list(pixels.shape) == expected["shape"]
    assert bit_depth == expected["bit_depth"]
    assert pixel_hash(pixels, bit_depth) == expected["sha256"]


def test_golden_hash_is_the_tool_s():
    """The test hashes pixels the way tools/make_golden.py recorded them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN.parents[1] / "tools" / "make_golden.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    pixels = np.arange(24, dtype=np.int64).reshape(2, 4, 3)
    assert tool.pixel_hash(pixels, 8) == pixel_hash(pixels, 8)
    assert tool.pixel_hash(pixels, 16) == pixel_hash(pixels, 16)
