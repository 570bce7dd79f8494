"""ARM context ablation: would the entropy model gain from seeing another grid's latents?

    python benchmarks/ablation_arm_context.py --variants base coarse3 coarse1 finer3 --lmbda 1e-3

Cool-chic 5 conditions the ARM of its finer latent grids on features of the coarser ones
("inter-feature context extractors"); C3's option (``EntropyConfig.use_prev_grid``, off by
default) does the opposite and shows a coarser grid a downsampled neighbourhood of the finer one.
Variants, all with the budget settings (``h30_pretrained`` of ``ablation_fit.py``) and the
shipped pretrained networks (the ARM's first layer widened with zero weights where a variant adds
inputs):

- ``base``: the codec's 24 causal neighbours;
- ``coarseK``: plus the K x K neighbourhood of the next coarser grid, bilinearly upsampled 2x to
  this grid (zeros for the coarsest grid), which a decoder going coarse to fine could read;
- ``finerK``: plus C3's previous-grid context (``use_prev_grid`` with ``prev_kernel`` K).

The codec cannot decode the ``coarseK`` context, so no file is written: J is measured on the
fitted model, MSE of the image synthesised from the rounded latents plus lambda times the ARM's
estimated latent bits per pixel (the network parameters, about 100 more for K = 3, are not
counted). Fixed steps: the extra context runs through PyTorch, not the fused rate kernel, so its
steps take about 1.6 times as long. Appends JSON lines to
benchmarks/results/ablation_arm_context.jsonl and prints the mean change of J against ``base``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ablation_fit  # noqa: E402  (the crops, the budget settings and the result lines)

OUT = ablation_fit.ROOT / "benchmarks" / "results" / "ablation_arm_context.jsonl"
VARIANTS = ("base", "coarse1", "coarse3", "finer1", "finer3")


def coarse_contexts(grids: list[torch.Tensor], config, selection=None) -> torch.Tensor:
    """:func:`c3codec.model.entropy.grid_contexts` with the extra inputs of grid k taken from
    grid k + 1, upsampled 2x (instead of from grid k - 1, downsampled)."""
    from c3codec.model.entropy import causal_offsets, gather_offsets, prev_offsets
    from c3codec.model.latents import upsample

    chosen = range(len(grids)) if selection is None else selection
    ctx = gather_offsets([grids[k] for k in chosen], causal_offsets(config.context))
    coarser = [torch.zeros_like(grids[k]) if k == len(grids) - 1
               else upsample(grids[k + 1][None, None], 1, tuple(grids[k].shape))[0, 0] for k in chosen]
    return torch.cat([ctx, gather_offsets(coarser, prev_offsets(config.prev_kernel))], dim=0)


def use_contexts(contexts) -> None:
    """Make ``C3Model.rate`` gather the extra ARM inputs with ``contexts`` (all grids scaled)."""
    from c3codec.model import c3, entropy

    original = getattr(c3.C3Model, "_codec_rate", c3.C3Model.rate)
    c3.C3Model._codec_rate = original

    def rate(self, bins, grids=None):
        if not self.config.entropy.use_prev_grid:
            return original(self, bins, grids)
        step = self.config.latents.step
        chosen = list(range(len(bins))) if grids is None else list(grids)
        inputs = contexts([b * step for b in bins], self.config.entropy, chosen)
        values = torch.cat([bins[k].reshape(-1) for k in chosen])
        bits = entropy.latent_bits(values, self.entropy(inputs), self.config.entropy, step)
        per_grid = torch.split(bits, [bins[k].numel() for k in chosen])
        return bits.sum(), [g.sum() for g in per_grid]

    c3.C3Model.rate = rate


def fitted_cost(picture, variant: str, lmbda: float, steps: int) -> dict[str, float]:
    """Fit ``picture`` with ``variant``'s ARM inputs; MSE, latent bpp and J of the rounded latents."""
    from c3codec.encoder import _target
    from c3codec.fitting.fit import fit
    from c3codec.fitting.pretrained import load_pretrained_networks
    from c3codec.model.c3 import C3Model

    arch, config = ablation_fit.variant_configs("h30_pretrained", steps)
    config = replace(config, network_init="random")  # the pretrained networks are copied below
    size = (picture.height, picture.width)
    pretrained = C3Model(size, picture.channels, arch)
    if load_pretrained_networks(pretrained) is None:
        raise RuntimeError("no pretrained networks for the budget architecture")
    if variant != "base":
        arch = replace(arch, entropy=replace(arch.entropy, use_prev_grid=True, prev_kernel=int(variant[-1])))
    model = C3Model(size, picture.channels, arch)
    with torch.no_grad():
        model.synthesis.load_state_dict(pretrained.synthesis.state_dict())
        for layer, start in zip(model.entropy.layers, pretrained.entropy.layers):
            layer.weight.zero_()
            layer.weight[:, :start.weight.shape[1]] = start.weight
            layer.bias.copy_(start.bias)
    target = _target(picture, torch.device("cpu"))
    report = fit(model, target, lmbda, config)
    with torch.no_grad():
        bins = [torch.round(b) for b in model.latents.in_bins()]
        mse = float(torch.mean((model.synthesize(bins) - target) ** 2))
        bpp = float(model.rate(bins)[0]) / (picture.height * picture.width)
    return {"mse": mse, "latent_bpp": bpp, "cost": mse + lmbda * bpp, "seconds": report.seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["base", "coarse3"], choices=VARIANTS)
    parser.add_argument("--lmbda", type=float, default=1e-3)
    ablation_fit.add_crop_arguments(parser, OUT)
    args = parser.parse_args()
    done = ablation_fit.start_run(args.output, ("variant", "image", "lmbda", "steps", "crop"))
    if done is None:
        return 0
    from c3codec.io.images import load_image
    from c3codec.model.entropy import grid_contexts

    for variant in args.variants:
        use_contexts(coarse_contexts if variant.startswith("coarse") else grid_contexts)
        for name in args.images:
            key = (variant, name, args.lmbda, args.steps, args.crop)
            if key not in done:
                picture = ablation_fit.crop(load_image(ablation_fit.KODAK / f"{name}.png"), args.crop)
                done[key] = {"variant": variant, "image": name, "lmbda": args.lmbda, "steps": args.steps,
                             "crop": args.crop, **fitted_cost(picture, variant, args.lmbda, args.steps)}
                ablation_fit.append_row(args.output, done[key])
    print(f"\n| variant | {' | '.join(args.images)} | mean J vs base (lambda {args.lmbda:g}) |")
    print("|---|" + "---|" * (len(args.images) + 1))
    for variant in args.variants:
        pairs = [(done.get((variant, n, args.lmbda, args.steps, args.crop)),
                  done.get(("base", n, args.lmbda, args.steps, args.crop))) for n in args.images]
        changes = [100 * (row["cost"] / base["cost"] - 1) for row, base in pairs if row and base]
        if variant != "base" and changes:
            print(f"| {variant} | {' | '.join(f'{c:+.1f} %' for c in changes)} | {statistics.mean(changes):+.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
