import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from c3codec.config import ConfigError, default_architecture, preset_fit_config
from c3codec.decoder import decode
from c3codec.encoder import _target, encode
from c3codec.fitting.pretrained import (load_pretrained_networks, network_state, pretrain_networks,
                                        save_networks, shipped_network_files)
from c3codec.model.c3 import C3Model
from conftest import synthetic

BUDGET = default_architecture(budget=True)


def _model(arch=BUDGET, channels: int = 3, seed: int = 0) -> C3Model:
    torch.manual_seed(seed)
    return C3Model((24, 24), channels, arch)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("arch, name", [(BUDGET, "budget"), (default_architecture(), "default"),
                                        (default_architecture(budget=True, complexity="low"), "low")])
def test_shipped_networks_fit_the_budget_default_and_low_architectures(arch, name):
    """Guards the shipped files against architecture drift: rerun tools/pretrain_networks.py."""
    assert len(shipped_network_files()) == 4
    model, random_start = _model(arch), network_state(_model(arch))
    used = load_pretrained_networks(model)
    assert used is not None and used.name == f"networks_{name}_rgb.npz"
    with np.load(used) as data:
        assert _same(network_state(model), {k: data[k] for k in data.files if k != "__key__"})
    assert not _same(network_state(model), random_start)
    assert all(float(p.detach().abs().sum()) == 0.0 for p in model.latents.parameters())  # latents untouched


def test_shipped_aru_networks_serve_every_m():
    """MARM models get the shipped synthesis and ARM of their architecture and the shipped ARU."""
    from c3codec.fitting.pretrained import ARU_PREFIXES

    for marm in (1, 4, 7):
        model = _model(BUDGET.with_marm(marm))
        assert load_pretrained_networks(model).name == "networks_budget_rgb.npz"
        with np.load(Path(shipped_network_files()[0]).with_name("networks_budget_aru_rgb.npz")) as data:
            assert _same(network_state(model, ARU_PREFIXES), {k: data[k] for k in data.files if k != "__key__"})


@pytest.mark.parametrize("kernel", [1, 3])
def test_previous_grid_models_start_from_the_plain_networks(kernel):
    """With the previous-grid context the ARM gets the shipped networks plus zero weights for
    its extra inputs: at the start it predicts what the plain ARM predicts, whatever they hold."""
    from dataclasses import replace

    from c3codec.model.entropy import grid_contexts

    arch = replace(BUDGET, entropy=replace(BUDGET.entropy, use_prev_grid=True, prev_kernel=kernel))
    model, plain = _model(arch), _model()
    assert load_pretrained_networks(model).name == load_pretrained_networks(plain).name == "networks_budget_rgb.npz"
    first = model.entropy.layers[0].weight
    assert first.shape[1] == plain.entropy.layers[0].weight.shape[1] + kernel**2
    assert torch.equal(first[:, -kernel**2:], torch.zeros(first.shape[0], kernel**2))
    grids = [torch.randn(g.shape) for g in model.latents.grids]
    with torch.no_grad():
        assert torch.allclose(model.entropy(grid_contexts(grids, arch.entropy)),
                              plain.entropy(grid_contexts(grids, BUDGET.entropy)), atol=1e-6)
        assert torch.equal(model.synthesis.mlp[0].weight, plain.synthesis.mlp[0].weight)


@pytest.mark.parametrize("prev_grid", [0, 1])
def test_per_grid_arms_each_start_from_the_shared_network(prev_grid):
    """One ARM per grid: every grid's ARM starts as the shipped shared ARM (widened with zeros
    for the previous-grid inputs), so the model starts where the shared one does."""
    arch = BUDGET.with_per_grid(True).with_prev_grid(prev_grid)
    model, plain = _model(arch), _model()
    assert load_pretrained_networks(model).name == load_pretrained_networks(plain).name == "networks_budget_rgb.npz"
    assert len(model.entropy) == arch.latents.num_grids
    shared = plain.entropy.layers[0].weight
    for k in range(arch.latents.num_grids):
        first = model.arm(k).layers[0].weight
        assert torch.equal(first[:, : shared.shape[1]], shared)
        assert torch.equal(first[:, shared.shape[1]:], torch.zeros(first.shape[0], prev_grid**2))
        assert torch.equal(model.arm(k).layers[-1].bias, plain.entropy.layers[-1].bias)


@pytest.mark.parametrize("arch, channels", [(default_architecture(), 1), (BUDGET, 1),
                                            (BUDGET.with_widths(18), 3)])
def test_other_architectures_keep_their_random_networks(arch, channels):
    model = _model(arch, channels)
    before = network_state(model)
    assert load_pretrained_networks(model) is None
    assert _same(network_state(model), before)


def test_saved_networks_load_only_into_the_same_architecture(tmp_path):
    path = tmp_path / "networks_test.npz"
    save_networks(_model(seed=1), path)
    same, other = _model(seed=2), _model(BUDGET.with_widths(18), seed=2)
    assert load_pretrained_networks(same, [path]) == path
    assert _same(network_state(same), network_state(_model(seed=1)))
    assert load_pretrained_networks(other, [path]) is None


def test_encode_reports_its_start_and_decodes_exactly():
    picture = synthetic(24, 24)
    for init in ("pretrained", "random"):
        config = preset_fit_config("fast", steps=20, network_init=init)
        result = encode(picture, 1e-3, arch=BUDGET, fit_config=config)
        assert result.stats.network_init == init
        assert np.array_equal(decode(result.data).pixels, result.reconstruction.pixels)
    # an architecture without shipped networks starts at random even when asked for pretrained
    result = encode(picture, 1e-3, arch=BUDGET.with_widths(18),
                    fit_config=preset_fit_config("fast", steps=5))
    assert result.stats.network_init == "random"
    with pytest.raises(ConfigError, match="network_init"):
        preset_fit_config("fast", network_init="imagenet")


def test_pretraining_chains_fits_over_pictures():
    targets = [_target(synthetic(16, 16, seed=s), torch.device("cpu")) for s in (0, 1)]
    config = preset_fit_config("fast", steps=5)
    first = pretrain_networks(targets[:1], BUDGET, 1e-3, config)
    chained = pretrain_networks(targets, BUDGET, 1e-3, config)
    alone = pretrain_networks(targets[1:], BUDGET, 1e-3, config)
    # the second fit started from the first one's networks, not from the random initialisation
    assert not _same(network_state(chained), network_state(alone))
    assert not _same(network_state(chained), network_state(first))
    with pytest.raises(ValueError, match="no pictures"):
        pretrain_networks([], BUDGET, 1e-3, config)


def test_video_frames_convert_to_rgb(tmp_path):
    path = Path(__file__).resolve().parents[1] / "tools" / "pretrain_networks.py"
    spec = importlib.util.spec_from_file_location("pretrain_networks", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    frame = np.concatenate([np.full(16, 235), np.full(4, 128), np.full(4, 128),  # white frame
                            np.full(16, 16), np.full(4, 128), np.full(4, 240)])  # then red
    raw = tmp_path / "two.yuv"
    frame.astype(np.uint8).tofile(raw)
    assert (tool.yuv420_frame_rgb(raw, 4, 4, 0) == 255).all()
    red = tool.yuv420_frame_rgb(raw, 4, 4, 1)
    assert red.shape == (4, 4, 3) and (red[..., 0] > 170).all() and (red[..., 2] == 0).all()
