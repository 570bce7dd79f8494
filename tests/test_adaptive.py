"""C3 adaptive (adaptive.py): trial encodings of a few architectures, the lowest RD cost chosen
and written into the file, for images and video patches."""

from __future__ import annotations

import numpy as np

from c3codec.cli import main
from c3codec.coding.bitstream import read
from c3codec.config import preset_fit_config
from c3codec.decoder import decode
from c3codec.encoder import encode
from c3codec.evaluation.macs import macs_per_pixel
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
    assert all(a.entropy.per_grid == (label == "one ARM per grid") for a, label in zip(archs, labels))
    for patch, arch in zip(result.stats.patches, archs):  # each patch's MACs are those of its chosen networks
        frames, rows, cols = (s.stop - s.start for s in (patch.frames, patch.rows, patch.cols))
        assert patch.macs_per_pixel == macs_per_pixel(arch, rows, cols, 3, frames=frames)["total"]
    eps = 1e-9 * result.stats.macs_per_pixel  # a pixel-weighted mean, up to rounding
    assert min(p.macs_per_pixel for p in result.stats.patches) - eps <= result.stats.macs_per_pixel
    assert result.stats.macs_per_pixel <= max(p.macs_per_pixel for p in result.stats.patches) + eps
    assert np.array_equal(np.stack(list(decode_video(result.data)[1])), result.reconstruction)
    source = tmp_path / "a.png"
    from c3codec.io.images import Picture, save_png

    save_png(source, Picture(synthetic(16, 16).pixels.astype(np.uint8), 8))
    assert main(["encode", str(source), "-o", str(tmp_path / "a.c3"), "--lmbda", "1e-2", "--steps", "10",
                 "--adaptive"]) == 0
    out = capsys.readouterr().out
    assert out.count("adaptive trial") == 4 and out.count("<- chosen") == 1


def test_best_window_finds_the_heaviest_square():
    import torch

    from c3codec.adaptive import best_window

    scores = torch.zeros(9, 9)
    assert best_window(scores, 3) == (0, 0)  # the centred one among equals
    scores[1:4, 5:8] = 1.0  # a 3x3 block centred at (2, 6): offset (-2, +2) from (4, 4)
    assert best_window(scores, 3) == (-2, 2)
    scores[8, 0] = 10.0
    assert best_window(scores, 3) == (3, -3)


def test_learned_mask_is_written_and_decodes_exactly():
    from c3codec.adaptive import MASK_GRIDS

    clip = smooth_clip(4, 12, 14, seed=6)
    result = encode_video(clip, 1e-2, counts=(1, 1, 1), fit_config=preset_fit_config("test", steps=20),
                          learn_mask=True)
    offsets = describe(result.data)["patches"][0]["architecture"].entropy.prev_frame_offsets
    assert len(offsets) == 6 and all(o is None for o in offsets[MASK_GRIDS:])
    assert all(o is not None and max(map(abs, o)) <= 3 for o in offsets[:MASK_GRIDS])
    for reference in (False, True):
        assert np.array_equal(np.stack(list(decode_video(result.data, reference=reference)[1])),
                              result.reconstruction)


def test_offset_windows_round_trip_and_match_the_pytorch_rate():
    """Windows moved per grid (and grids without one): exact decoding and the fused rate kernel
    agree with the PyTorch path (contexts gathered from the moved previous frames)."""
    from dataclasses import replace

    import torch

    from c3codec.model.c3 import C3Model
    from c3codec.model.entropy import grid_contexts, grid_rates, latent_bits
    from c3codec.video_encoder import default_video_architecture

    arch = default_video_architecture()
    arch = replace(arch, entropy=replace(arch.entropy, prev_frame_offsets=(None, (1, -2), (0, 0), None, (-1, 1), None)))
    clip = smooth_clip(5, 14, 18, seed=3)
    result = encode_video(clip, 1e-2, arch=arch, fit_config=preset_fit_config("test", steps=10))
    assert describe(result.data)["patches"][0]["architecture"] == arch
    for reference in (False, True):
        assert np.array_equal(np.stack(list(decode_video(result.data, reference=reference)[1])), result.reconstruction)
    torch.manual_seed(0)
    model = C3Model((6, 13, 17), 3, arch)
    step = arch.latents.step
    bins = [torch.randn(g.shape).mul(2).round().requires_grad_() for g in model.latents.grids]
    fused = grid_rates(bins, model.entropy, step)
    (fused * torch.arange(1.0, 7.0)).sum().backward()
    fused_grads = [b.grad.clone() for b in bins]
    for b in bins:
        b.grad = None
    contexts = grid_contexts([b * step for b in bins], arch.entropy)
    bits = latent_bits(torch.cat([b.reshape(-1) for b in bins]), model.entropy(contexts), arch.entropy, step)
    per_grid = torch.stack([part.sum() for part in torch.split(bits, [b.numel() for b in bins])])
    (per_grid * torch.arange(1.0, 7.0)).sum().backward()
    assert torch.allclose(fused, per_grid, rtol=1e-5)
    for a, b in zip(fused_grads, bins):
        assert torch.allclose(a, b.grad, atol=1e-3, rtol=1e-4)
