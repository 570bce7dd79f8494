import torch

from c3codec.config import ArchitectureConfig, preset_fit_config
from c3codec.encoder import _target, encode, steps_for_budget
from c3codec.model.c3 import C3Model
from conftest import synthetic


def test_budget_scales_the_step_count():
    picture = synthetic(24, 24)
    target = _target(picture, torch.device("cpu"))
    model = C3Model((24, 24), 3, ArchitectureConfig())
    config = preset_fit_config("fast")
    tiny, step = steps_for_budget(model, target, 1e-3, config, 0.5)
    large, _ = steps_for_budget(model, target, 1e-3, config, 1000.0)
    assert tiny == 0 and step > 0
    assert large > 100
    assert all(p.abs().sum() == 0 for p in model.latents.parameters())  # probe used a copy


def test_encode_with_budget_reports_what_it_did():
    result = encode(synthetic(16, 16), 1e-3, budget_seconds=3.0)
    assert result.stats.steps == result.stats.fit_report.stage1_steps
    assert result.stats.step_seconds > 0
