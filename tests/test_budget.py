import json
import time

import pytest
import torch

from c3codec.cli import main
from c3codec.coding.bitstream import read
from c3codec.config import BUDGET_GAIN, ArchitectureConfig, ConfigError, default_architecture, preset_fit_config
from c3codec.encoder import _target, encode, plan_budget
from c3codec.fitting.fit import _replan, fit, stage1_lr
from c3codec.model.c3 import C3Model
from conftest import synthetic


def _setup(size: int = 24):
    picture = synthetic(size, size)
    target = _target(picture, torch.device("cpu"))
    return target, C3Model((size, size), 3, ArchitectureConfig())


def test_budget_plan_scales_with_the_time_given():
    target, model = _setup()
    config = preset_fit_config("fast")
    tiny = plan_budget(model, target, 1e-3, config, 0.5)
    large = plan_budget(model, target, 1e-3, config, 1000.0)
    assert tiny.steps == 0 and tiny.stage1_seconds == 0.0 and tiny.step_seconds > 0
    assert large.steps > 100 and 800.0 < large.stage1_seconds < 1000.0
    assert all(p.abs().sum() == 0 for p in model.latents.parameters())  # probe used a copy


def test_replan_follows_the_measured_rate():
    plan = preset_fit_config("fast", steps=100)
    assert _replan(plan, 10, 1.0, 5.0).steps == 50  # 10 steps/s for 5 s
    assert _replan(plan, 10, 2.0, 1.0).steps == 10  # time is up: stop now
    assert _replan(plan, 50, 5.0, 10.0) is plan  # on plan: same config


def test_stage1_learning_rate_holds_then_decays_to_zero():
    cosine = preset_fit_config("fast", steps=100, lr=1e-2, lr_hold=0.0)
    held = preset_fit_config("fast", steps=100, lr=1e-2, lr_hold=0.3)
    assert stage1_lr(cosine, 0) == 1e-2 and abs(stage1_lr(cosine, 50) - 5e-3) < 1e-12  # C3's cosine
    assert all(stage1_lr(held, i) == 1e-2 for i in range(31))  # at the peak for 30 % of the steps
    rates = [stage1_lr(held, i) for i in range(30, 100)]
    assert all(a > b for a, b in zip(rates, rates[1:])) and rates[-1] < 1e-4  # then cosine to ~0
    assert abs(stage1_lr(held, 65) - 5e-3) < 1e-12  # half-way through the decay: half the peak
    with pytest.raises(ConfigError, match="lr_hold"):
        preset_fit_config("fast", lr_hold=1.0)


def test_timed_stage1_ends_on_time_from_any_first_plan():
    target, model = _setup(16)
    # a first plan far too small grows (one 16x16 step takes milliseconds, not seconds)
    short = fit(model, target, 1e-3, preset_fit_config("fast", steps=1), stage1_seconds=2.0)
    assert short.stage1_steps > 1
    assert short.stage2_steps <= int(0.1 * short.stage1_steps)
    # a first plan far too large stops when the time is up
    target, model = _setup(16)
    start = time.perf_counter()
    long = fit(model, target, 1e-3, preset_fit_config("fast", steps=10**6), stage1_seconds=0.3)
    assert 1 <= long.stage1_steps < 10**6 and time.perf_counter() - start < 60


def test_encode_with_budget_reports_what_it_did():
    result = encode(synthetic(16, 16), 1e-3, budget_seconds=3.0)
    assert result.stats.steps == result.stats.fit_report.stage1_steps
    assert result.stats.step_seconds > 0
    # budgets default to the cheaper (12, 12) networks; an explicit architecture is kept
    assert read(result.data).arch == default_architecture(budget=True)
    assert default_architecture(budget=True).entropy.widths == (12, 12)
    assert default_architecture(budget=True).latents.gain_factor == BUDGET_GAIN != 2.0
    assert default_architecture() == ArchitectureConfig()  # C3's, gain 2 and (18, 18) networks


def test_cli_budget_width(tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "in.png"
    Image.fromarray(synthetic(16, 16).pixels.astype("uint8")).save(src)
    for extra, width in (([], 12), (["--width", "18"], 18)):
        out = tmp_path / f"out{width}.c3"
        assert main(["encode", str(src), "-o", str(out), "--lmbda", "1e-3", "--budget", "2s",
                     *extra]) == 0
        assert f"networks {width} wide" in capsys.readouterr().out
        arch = read(out.read_bytes()).arch
        assert arch.synthesis.widths == (width, width)
        assert arch.latents.gain_factor == BUDGET_GAIN  # the CLI keeps the budget's latent gain


def test_low_complexity_setting_decodes_exactly_under_500_macs(tmp_path, capsys):
    """--complexity low (issue 26 item 4): one hidden layer per network and a 5x5 ARM context,
    under 500 MACs/pixel at Kodak's size; the file decodes to the encoder's pixels."""
    from PIL import Image

    from c3codec.decoder import decode
    from c3codec.evaluation.macs import macs_per_pixel
    from c3codec.evaluation.metrics import psnr

    low = default_architecture(budget=True, complexity="low")
    assert macs_per_pixel(low, 512, 768)["total"] < 500 < macs_per_pixel(default_architecture(True), 512, 768)["total"]
    assert low.latents == default_architecture(budget=True).latents
    src, out = tmp_path / "in.png", tmp_path / "out.c3"
    Image.fromarray(synthetic(24, 20).pixels.astype("uint8")).save(src)
    assert main(["encode", str(src), "-o", str(out), "--lmbda", "1e-3", "--budget", "2s",
                 "--complexity", "low", "--json"]) == 0
    assert read(out.read_bytes()).arch == low
    stats = json.loads(capsys.readouterr().out)
    assert stats["macs_per_pixel"] == macs_per_pixel(low, 20, 24)["total"]
    original = synthetic(24, 20)
    assert psnr(decode(out.read_bytes()).pixels, original.pixels, 255) == pytest.approx(stats["psnr"], abs=1e-9)
    for extra in (["--width", "18"], ["--context", "5"], ["--adaptive"]):
        assert main(["encode", str(src), "-o", str(tmp_path / "x.c3"), "--lmbda", "1e-3",
                     "--complexity", "low", *extra]) == 2
        assert "--complexity low" in capsys.readouterr().err
    assert not (tmp_path / "x.c3").exists()
