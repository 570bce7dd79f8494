"""Speed measurements behind ``c3 bench speed`` (numbers for benchmarks, never for tests)."""

from __future__ import annotations

import statistics
import time

import torch

from ..config import ArchitectureConfig, preset_fit_config
from ..io.images import Picture
from ..model.c3 import C3Model


def time_fitting_steps(picture: Picture, steps: int = 20, warmup: int = 3, lmbda: float = 1e-3,
                       arch: ArchitectureConfig | None = None, device: str = "cpu") -> list[float]:
    """Seconds of each of ``steps`` stage-1 steps (after ``warmup`` untimed ones)."""
    from ..encoder import _target
    from ..fitting.fit import make_optimizer, stage1_step

    arch = arch or ArchitectureConfig()
    target = _target(picture, torch.device(device))
    model = C3Model((picture.height, picture.width), picture.channels, arch).to(device)
    config = preset_fit_config("fast", steps=max(steps + warmup, 1000))
    optimizer = make_optimizer(model.parameters(), config, config.lr)
    generator = torch.Generator(device=device)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        stage1_step(model, optimizer, target, lmbda, config, i, generator)
        if device != "cpu":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


DECODE_STAGES = ("parse", "parameters", "tables", "latents", "synthesis", "png")


def time_decoding(data: bytes, repeats: int = 3, threads: int | None = None) -> list[dict[str, float]]:
    """Seconds of each decode of ``data`` ("total", then each of :data:`DECODE_STAGES`: the
    decoder's own stages and the PNG written from its pixels)."""
    from ..decoder import DecodeTimes, decode
    from ..io.images import encode_png

    runs = []
    for _ in range(repeats):
        stages = DecodeTimes()
        start = time.perf_counter()
        picture = decode(data, threads=threads, times=stages)
        png_start = time.perf_counter()
        encode_png(picture)
        end = time.perf_counter()
        run = {name: getattr(stages, name) for name in DECODE_STAGES if name != "png"}
        run.update(png=end - png_start, decode=png_start - start, total=end - start)
        runs.append(run)
    return runs


def measure_speed(picture: Picture, steps: int = 20, encode_steps: int = 300,
                  data: bytes | None = None, lmbda: float = 1e-3,
                  arch: ArchitectureConfig | None = None, decode_repeats: int = 5) -> dict:
    """Median stage-1 step time, and decode time of ``data`` (or of a fresh short encoding),
    with ``arch`` (default: C3's Kodak architecture): the whole decode and each stage."""
    step_times = time_fitting_steps(picture, steps=steps, lmbda=lmbda, arch=arch)
    if data is None:
        from ..encoder import encode

        data = encode(picture, lmbda, arch=arch or ArchitectureConfig(),
                      fit_config=preset_fit_config("fast", steps=encode_steps)).data
    decode_runs = time_decoding(data, repeats=decode_repeats)
    return {
        "width": picture.width, "height": picture.height,
        "step_seconds_median": statistics.median(step_times), "step_seconds": step_times,
        "decode_seconds_median": statistics.median(r["decode"] for r in decode_runs),
        "decode_seconds": [r["decode"] for r in decode_runs],
        "decode_stages_median": {name: statistics.median(r[name] for r in decode_runs) for name in DECODE_STAGES},
        "decode_bpp": 8.0 * len(data) / (picture.width * picture.height),
        "encode_steps": encode_steps,
    }


