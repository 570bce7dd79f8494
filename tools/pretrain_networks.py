"""Make the pretrained network weights shipped in ``src/c3codec/data/`` (see
:mod:`c3codec.fitting.pretrained`).

    python tools/pretrain_networks.py                 # writes src/c3codec/data/networks_budget_rgb.npz
    python tools/pretrain_networks.py --arch default  # C3's architecture: networks_default_rgb.npz
    python tools/pretrain_networks.py --arch low      # --complexity low: networks_low_rgb.npz
    python tools/pretrain_networks.py --width 8       # other widths (ablations): networks_budget8_rgb.npz
    python tools/pretrain_networks.py --aru           # MARM's ARU networks: networks_budget_aru_rgb.npz

Fits the networks of the budget architecture (or of C3's default one) to three video frames in turn (foreman CIF frame 0, then
the openh264 video-conference clip's frames 0 and 8; at most 288x288 pixels of each), 1500 steps
each at lambda 1e-3 with the short-schedule settings. Video frames, never Kodak images: the
Kodak set is what the codec is evaluated on. Needs ../shared/data/video. With ``--aru`` it fits
a MARM model whose ARU codes every grid, starting from the shipped synthesis and ARM, and saves
only the ARU's two networks (they then serve any number of ARU grids).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "data" / "video"
DATA = ROOT / "src" / "c3codec" / "data"
FRAMES = [("foreman_cif_352x288_yuv420p_2f.yuv", 352, 288, 0),
          ("CiscoVT2people_320x192_yuv420p_9f.yuv", 320, 192, 0),
          ("CiscoVT2people_320x192_yuv420p_9f.yuv", 320, 192, 8)]
"""(file, width, height, frame index) of each picture, in fitting order."""
MAX_SIDE = 288


def yuv420_frame_rgb(path: Path, width: int, height: int, index: int) -> np.ndarray:
    """Frame ``index`` of a raw 8-bit I420 file as (H, W, 3) uint8 RGB (BT.601, video range)."""
    size = width * height
    raw = np.fromfile(path, np.uint8, count=size * 3 // 2, offset=index * size * 3 // 2)
    y = raw[:size].reshape(height, width).astype(np.float64) - 16.0
    chroma = [raw[start:start + size // 4].reshape(height // 2, width // 2).repeat(2, 0).repeat(2, 1)
              .astype(np.float64) - 128.0 for start in (size, size * 5 // 4)]
    u, v = chroma
    rgb = np.stack([1.164 * y + 1.596 * v, 1.164 * y - 0.392 * u - 0.813 * v, 1.164 * y + 2.017 * u], -1)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=["budget", "default", "low"], default="budget",
                        help="the budget architecture (12-wide networks, latent gain 1.75), C3's, or "
                             "the budget's low-complexity setting")
    parser.add_argument("--output", type=Path, default=None,
                        help="default: src/c3codec/data/networks_<arch>[<width>]_rgb.npz")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lmbda", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=None,
                        help="width of both hidden layers of synthesis and ARM (default: the architecture's)")
    parser.add_argument("--aru", action="store_true", help="fit and save MARM's ARU networks")
    args = parser.parse_args()
    if not VIDEO.is_dir():
        print(f"error: {VIDEO} not found", file=sys.stderr)
        return 1
    from c3codec import runtime
    from c3codec.config import default_architecture, preset_fit_config
    from c3codec.encoder import _target
    from c3codec.fitting.pretrained import pretrain_networks, save_networks
    from c3codec.io.images import Picture

    runtime.configure(None)
    targets = []
    for name, width, height, index in FRAMES:
        rgb = yuv420_frame_rgb(VIDEO / name, width, height, index)[:MAX_SIDE, :MAX_SIDE]
        targets.append(_target(Picture(rgb.copy(), 8), torch.device("cpu")))
    config = preset_fit_config("fast", steps=args.steps, network_init="pretrained" if args.aru else "random")
    arch = default_architecture(budget=args.arch != "default", complexity="low" if args.arch == "low" else "default")
    if args.width is not None:
        arch = arch.with_widths(args.width)
    if args.aru:
        arch = arch.with_marm(arch.latents.num_grids)
    model = pretrain_networks(targets, arch, args.lmbda, config)
    suffix = ("" if args.width is None else str(args.width)) + ("_aru" if args.aru else "")  # never overwrite
    output = args.output or DATA / f"networks_{args.arch}{suffix}_rgb.npz"
    save_networks(model, output, aru=args.aru)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
