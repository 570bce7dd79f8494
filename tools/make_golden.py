"""Write the golden .c3 files of tests/golden and the hashes of their decoded pixels.

Golden files pin the format: every later decoder must give the same pixels for them, on any
machine and thread count (tests/test_golden.py). The version-1 files were written by the
encoder and decoded by the numpy decoder of 6f54dec, the last revision before the compiled
decoder, so they also prove that files written before it still decode to the same pixels:

    git worktree add /tmp/c3_old 6f54dec
    PYTHONPATH=/tmp/c3_old/src python tools/make_golden.py tests/golden

The MARM files (version 2) did not exist before; ``--marm`` writes them with the revision at
hand (``python tools/make_golden.py tests/golden --marm``), and ``--video`` the ``.c3v`` video
files likewise. Each entry of pixels.json records the
revision that wrote it; existing entries are kept. Only the public encoder and decoder API is
used, so the script runs on old revisions too.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

import c3codec
from c3codec.config import ArchitectureConfig, SynthesisConfig, default_architecture, preset_fit_config
from c3codec.decoder import decode
from c3codec.encoder import encode
from c3codec.io.images import Picture


def picture(height: int, width: int, channels: int, bit_depth: int, seed: int) -> Picture:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    planes = [0.5 + 0.35 * np.sin(x / (2.5 + c) + y / (3.0 + seed)) * np.cos(y / (4.0 + c))
              + 0.05 * rng.standard_normal((height, width)) for c in range(channels)]
    max_value = (1 << bit_depth) - 1
    return Picture(np.round(np.clip(np.stack(planes, -1), 0, 1) * max_value).astype(np.int64), bit_depth)


def pixel_hash(pixels: np.ndarray, bit_depth: int) -> str:
    """sha256 of the pixels as little-endian uint8/uint16, (H, W, C) row-major, and the shape."""
    dtype = "<u2" if bit_depth == 16 else "u1"
    data = np.ascontiguousarray(np.asarray(pixels).astype(dtype))
    return hashlib.sha256(repr(data.shape).encode() + data.tobytes()).hexdigest()


def cases() -> dict[str, tuple[Picture, float, ArchitectureConfig]]:
    base = ArchitectureConfig()
    budget = default_architecture(budget=True)
    return {
        "rgb8_c3_37x29": (picture(29, 37, 3, 8, 1), 1e-3, base),
        "grey16_budget_31x23": (picture(23, 31, 1, 16, 2), 3e-3, budget),
        "rgba8_prevgrid_ctx5_dropfinest_19x17": (
            picture(17, 19, 4, 8, 3), 1e-3,
            replace(base, latents=replace(base.latents, drop_finest=True),
                    entropy=replace(base.entropy, context=5, use_prev_grid=True))),
        "rgb8_w24_ctx9_k5_40x24": (
            picture(24, 40, 3, 8, 4), 3e-4,
            replace(base.with_widths(24), entropy=replace(base.with_widths(24).entropy, context=9),
                    synthesis=SynthesisConfig(widths=(24, 24), num_residual=2, residual_kernel=5))),
        "rgb16_deep_nores_ctx3_21x26": (
            picture(26, 21, 3, 16, 5), 1e-2,
            replace(base, synthesis=SynthesisConfig(widths=(8, 16, 8), num_residual=0),
                    entropy=replace(base.entropy, widths=(16,), context=3))),
        "grey8_1x1": (picture(1, 1, 1, 8, 6), 1e-3, base),
        "rgb8_res1x1_3res_9x64": (
            picture(9, 64, 3, 8, 7), 1e-2,
            replace(base, synthesis=SynthesisConfig(widths=(12,), num_residual=3, residual_kernel=1))),
    }


def marm_cases() -> dict[str, tuple[Picture, float, ArchitectureConfig]]:
    budget = default_architecture(budget=True)
    base = ArchitectureConfig()
    return {
        "marm2_rgb8_budget_33x27": (picture(27, 33, 3, 8, 8), 1e-3, budget.with_marm(2)),
        "marm7_rgb8_all_aru_30x41": (picture(41, 30, 3, 8, 9), 3e-3, budget.with_marm(7)),
        "marm4_grey16_prevgrid_deep_aru_25x22": (
            picture(22, 25, 1, 16, 10), 3e-4,
            replace(base, entropy=replace(base.entropy, use_prev_grid=True, aru_grids=4, aru_widths=(8, 6)))),
    }


def video_cases() -> dict[str, tuple[np.ndarray, float, dict]]:
    from c3codec.video_encoder import default_video_architecture

    def clip(frames: int, height: int, width: int, bit_depth: int, seed: int) -> np.ndarray:
        pictures = [picture(height, width, 3, bit_depth, seed + t).pixels for t in range(frames)]
        moving = [np.roll(p, t, axis=1) // 2 + pictures[0] // 2 for t, p in enumerate(pictures)]
        return np.stack(moving).astype(np.uint8 if bit_depth == 8 else np.uint16)

    base = default_video_architecture()
    moved = replace(base, entropy=replace(base.entropy, prev_frame=5,
                                          prev_frame_offsets=((1, -2), (0, 1), None, None, (-1, 0), None)))
    return {
        "video_rgb8_patches212_7x17x33": (clip(7, 17, 33, 8, 11), 1e-2, {"counts": (2, 1, 2)}),
        "video_rgb16_offsets_4x10x12": (clip(4, 10, 12, 16, 12), 3e-3, {"arch": moved}),
    }


def write_videos(out: Path, hashes: dict, revision: str) -> None:
    from c3codec.video_decoder import decode_video
    from c3codec.video_encoder import encode_video

    for name, (frames, lmbda, options) in video_cases().items():
        result = encode_video(frames, lmbda, fit_config=preset_fit_config("fast", steps=60, seed=3), **options)
        decoded = np.stack(list(decode_video(result.data)[1]))
        assert np.array_equal(decoded, result.reconstruction)
        (out / f"{name}.c3v").write_bytes(result.data)
        depth = 16 if decoded.dtype == np.uint16 else 8
        hashes[name] = {"sha256": pixel_hash(decoded, depth), "shape": list(decoded.shape), "bit_depth": depth,
                        "bytes": len(result.data), "written_by": revision}
        print(name, len(result.data), "bytes")


def main() -> None:
    out = Path(sys.argv[1])
    marm = "--marm" in sys.argv[2:]
    video = "--video" in sys.argv[2:]
    out.mkdir(parents=True, exist_ok=True)
    revision = subprocess.run(["git", "-C", str(Path(c3codec.__file__).parent), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    record = out / "pixels.json"
    hashes = json.loads(record.read_text())["files"] if record.exists() else {}
    if video:
        write_videos(out, hashes, revision)
        record.write_text(json.dumps({"files": hashes}, indent=1) + "\n")
        return
    for name, (pic, lmbda, arch) in (marm_cases() if marm else cases()).items():
        result = encode(pic, lmbda, arch=arch, fit_config=preset_fit_config("fast", steps=60, seed=3))
        decoded = decode(result.data)
        assert np.array_equal(np.asarray(decoded.pixels), np.asarray(result.reconstruction.pixels))
        (out / f"{name}.c3").write_bytes(result.data)
        hashes[name] = {"sha256": pixel_hash(decoded.pixels, decoded.bit_depth),
                        "shape": list(np.asarray(decoded.pixels).shape), "bit_depth": decoded.bit_depth,
                        "bytes": len(result.data), "written_by": revision}
        print(name, len(result.data), "bytes")
    record.write_text(json.dumps({"files": hashes}, indent=1) + "\n")


if __name__ == "__main__":
    main()
