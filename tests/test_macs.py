from c3codec.config import ArchitectureConfig, EntropyConfig
from c3codec.evaluation.macs import macs_per_pixel


def test_default_kodak_config_matches_paper():
    # c3-supplementary B.4 / Table 7 at 512x768: (18, 18) gives 1770, (24, 24) gives 2626.
    assert round(macs_per_pixel(ArchitectureConfig(), 512, 768)["total"]) == 1770
    wide = macs_per_pixel(ArchitectureConfig().with_widths(24), 512, 768)
    assert round(wide["total"]) == 2626
    assert round(wide["entropy"]) == 1600
    assert wide["upsampling"] == 48
    assert wide["synthesis"] == 978


def test_previous_grid_conditioning_costs_more():
    base = macs_per_pixel(ArchitectureConfig(), 512, 768)["entropy"]
    cond = ArchitectureConfig(entropy=EntropyConfig(use_prev_grid=True))
    assert macs_per_pixel(cond, 512, 768)["entropy"] > base
