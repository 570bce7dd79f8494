"""Fitting step time per million pixels, video against image, measured in one run (issue 25).

    python benchmarks/video/step_time.py [--rounds 3] [--out benchmarks/video/step_time.json]

The image: kodim01 (768x512) with the budget architecture (what `--budget` fits); the video: a
30-frame carphone patch (176x144, 0.76 Mpx) with the video architecture. Rounds alternate
image and video, each the median of a few stage-1 steps after a warm-up step, all threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from c3codec import runtime
from c3codec.compiled import cpu_name
from c3codec.config import default_architecture, preset_fit_config
from c3codec.encoder import _target as image_target
from c3codec.fitting.fit import make_optimizer, stage1_step
from c3codec.io.images import load_image
from c3codec.io.video import open_video
from c3codec.model.c3 import C3Model
from c3codec.video_encoder import _target as video_target
from c3codec.video_encoder import default_video_architecture

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def step_seconds(target: torch.Tensor, arch, steps: int) -> float:
    torch.manual_seed(0)
    model = C3Model(tuple(target.shape[1:]), target.shape[0], arch)
    config = preset_fit_config("fast", steps=1000)
    optimizer = make_optimizer(model.parameters(), config, config.lr)
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        stage1_step(model, optimizer, target, 1e-3, config, i, None)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).with_name("step_time.json")))
    args = parser.parse_args()
    runtime.configure(None)
    image = image_target(load_image(DATA / "kodak" / "kodim01.png"), torch.device("cpu"))
    video = video_target(open_video(DATA / "video" / "carphone_qcif_120f.y4m", frames="0:30").read_all(), 255,
                         torch.device("cpu"))
    cases = {"image kodim01, budget architecture": (image, default_architecture(budget=True)),
             "video carphone 30 frames, video architecture": (video, default_video_architecture())}
    measured: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (target, arch) in cases.items():
            measured[name].append(step_seconds(target, arch, args.steps) / (target[0].numel() / 1e6))
    result = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "seconds_per_mpx": measured,
              "median_seconds_per_mpx": {k: statistics.median(v) for k, v in measured.items()}}
    names = list(cases)
    result["ratio_video_to_image"] = (result["median_seconds_per_mpx"][names[1]]
                                      / result["median_seconds_per_mpx"][names[0]])
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for name in names:
        print(f"{name}: {result['median_seconds_per_mpx'][name]:.3f} s per Mpx per step (rounds {measured[name]})")
    print(f"video / image: {result['ratio_video_to_image']:.2f} ({result['cpu']}, {result['threads']} threads)")


if __name__ == "__main__":
    main()
