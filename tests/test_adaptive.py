"""C3 adaptive (adaptive.py): trial encodings of a few architectures, the lowest RD cost chosen
and written into the file, for images and video patches."""

from __future__ import annotations

import numpy as np

from c3codec.cli import main
from c3codec.coding.bitstream import read
from c3codec.config import preset_fit_config
from c3codec.decoder import decode
from c3codec.encoder import encode
from c3codec.video_decoder import decode_video, describe
from c3codec.video_encoder import encode_video

from conftest import synthetic
from test_video_io import smooth_clip


def test_image_adaptive_chooses_the_cheapest_trial_and_writes_it():
    picture = synthetic(24, 32)
    result = encode(picture, 1e-2, fit_config=preset_fit_config("test", steps=20), adaptive=True)
    trials = result.stats.adaptive_trials
    assert len(trials) == 4 and sum(t.chosen for t in trials) == 1
    best = next(t for t in trials if t.chosen)
    assert best.cost == min(t.cost for t in trials)
    assert all(t.steps == 2 for t in trials)  # 30 % of the steps shared by the four
    assert read(result.data).arch == best.arch
    assert np.array_equal(decode(result.data).pixels, result.reconstruction.pixels)


def test_video_adaptive_per_patch(tmp_path, capsys):
    clip = smooth_clip(4, 10, 12, seed=4)
    result = encode_video(clip, 1e-2, counts=(2, 1, 1), fit_config=preset_fit_config("test", steps=10),
                          adaptive=True)
    labels = [p.setting for p in result.stats.patches]
    assert all(labels)
    archs = [p["architecture"] for p in describe(result.data)["patches"]]
    assert (archs[0].entropy.prev_frame == 5) == (labels[0] == "previous-frame window 5x5")
    assert np.array_equal(np.stack(list(decode_video(result.data)[1])), result.reconstruction)
    source = tmp_path / "a.png"
    from c3codec.io.images import Picture, save_png

    save_png(source, Picture(synthetic(16, 16).pixels.astype(np.uint8), 8))
    assert main(["encode", str(source), "-o", str(tmp_path / "a.c3"), "--lmbda", "1e-2", "--steps", "10",
                 "--adaptive"]) == 0
    out = capsys.readouterr().out
    assert out.count("adaptive trial") == 4 and out.count("<- chosen") == 1
