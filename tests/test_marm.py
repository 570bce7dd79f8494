"""MARM (marm-fast-decoding.md): the M coarsest grids coded by ARU blocks.

Round trips for every M, the file format (version 2 only with ARU grids, the ARM's parameters
left out when every grid is an ARU grid), the ARU's inputs, and the fitting path's rate.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from c3codec.coding.bitstream import VERSION, VERSION_MARM, BitstreamError, num_tensors, read
from c3codec.config import ArchitectureConfig, ConfigError, default_architecture
from c3codec.decoder import decode, decode_parsed
from c3codec.exact.aru import anchor_mask, aru_levels, level_encoding, position_encoding
from c3codec.model.c3 import C3Model
from conftest import quick_encode, synthetic

BUDGET = default_architecture(budget=True)


@pytest.mark.parametrize("marm", range(8))
def test_every_m_round_trips(marm):
    picture = synthetic(29, 35, seed=marm)
    result = quick_encode(picture, steps=20, arch=BUDGET.with_marm(marm))
    f = read(result.data)
    assert f.arch.entropy.aru_grids == marm
    assert (f.arch.entropy.aru_grids > 0) == (result.data[4] == VERSION_MARM)
    picture_back, latents = decode_parsed(f, reference=True)
    assert np.array_equal(picture_back.pixels, result.reconstruction.pixels)
    assert all(np.array_equal(a, b) for a, b in zip(latents, result.latents))
    assert np.array_equal(decode(result.data).pixels, result.reconstruction.pixels)


def test_files_without_aru_keep_version_1(small_encoding):
    assert small_encoding.data[4] == VERSION


def test_all_aru_files_carry_no_arm():
    arch = BUDGET.with_marm(7)
    assert num_tensors(arch) == num_tensors(BUDGET) - 2 * (len(BUDGET.entropy.widths) + 1) + 4 * 2
    assert ArchitectureConfig().arm_grids == 7 and arch.arm_grids == 0


def test_too_many_aru_grids_is_an_error():
    with pytest.raises(ConfigError):
        replace(BUDGET, entropy=replace(BUDGET.entropy, aru_grids=8))
    result = quick_encode(synthetic(17, 19), steps=5, arch=BUDGET.with_marm(2))
    forged = bytearray(result.data)
    # the ARU grid count follows the entropy config; any other count breaks the header or CRC
    forged[-5] ^= 0xFF
    with pytest.raises(BitstreamError):
        decode(bytes(forged))


def test_coding_order_and_encodings():
    assert aru_levels(BUDGET.with_marm(3)) == [6, 5, 4]
    mask = anchor_mask((3, 4))
    assert mask[0, 0] and not mask[0, 1] and mask[1, 1]
    assert list(position_encoding(4)) == [-32768, -16384, 0, 16384]
    assert position_encoding(3)[0] == -32768 and position_encoding(1)[0] == -32768
    assert level_encoding(0, 7) == 0 and level_encoding(6, 7) == (12 << 16) // 7


def test_fitting_rate_covers_aru_grids_and_has_gradients():
    torch.manual_seed(0)
    model = C3Model((23, 31), 3, BUDGET.with_marm(4))
    bins = [(torch.randn(g.shape) * 2).requires_grad_() for g in model.latents.grids]
    total, per_grid = model.rate(bins)
    assert len(per_grid) == 7 and all(float(b.detach()) > 0 for b in per_grid)
    assert torch.allclose(total, torch.stack(per_grid).sum())
    total.backward()
    assert all(b.grad is not None and b.grad.abs().sum() > 0 for b in bins)
    assert all(p.grad is not None for p in model.aru.parameters())
    only_aru = model.rate([b.detach() for b in bins], grids=[5, 6])[1]
    assert torch.allclose(torch.stack(only_aru), torch.stack([per_grid[5], per_grid[6]]).detach())


def test_cli_marm_encode_info_and_plot(tmp_path, capsys):
    from PIL import Image

    from c3codec.cli import main

    source, coded, plot = tmp_path / "in.png", tmp_path / "x.c3", tmp_path / "grids.png"
    Image.fromarray(synthetic(24, 30, seed=4).pixels.astype(np.uint8)).save(source)
    assert main(["encode", str(source), "-o", str(coded), "--lmbda", "1e-3", "--steps", "10",
                 "--marm", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", str(coded), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert out.count("(ARU)") == 2 and out.count("(ARM)") == 5 and "MARM" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit) as exc:
        main(["encode", str(source), "-o", str(tmp_path / "y.c3"), "--lmbda", "1e-3", "--marm", "8"])
    assert exc.value.code == 2 and "--marm" in capsys.readouterr().err


@pytest.mark.parametrize("arch", [ArchitectureConfig(), BUDGET.with_marm(3), BUDGET.with_marm(7),
                                  replace(ArchitectureConfig(), entropy=replace(ArchitectureConfig().entropy,
                                          use_prev_grid=True, aru_grids=2, aru_widths=(5, 7))),
                                  BUDGET.with_per_grid(True), BUDGET.with_marm(3).with_per_grid(True)])
@pytest.mark.parametrize("channels", [1, 4])
def test_decoder_network_shapes_are_the_model_s(arch, channels):
    """The decoder derives the coded tensors' shapes from the header alone (no PyTorch)."""
    from c3codec.coding.parameters import network_tensors
    from c3codec.decoder import network_shapes

    model = C3Model((8, 8), channels, arch)
    assert network_shapes(arch, channels) == [tuple(t.shape) for t in network_tensors(model.network_modules())]
