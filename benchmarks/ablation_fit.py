"""Fitting ablation: which schedule / optimiser / architecture settings reach a lower RD cost in
a fixed number of steps (``--steps``) or a fixed wall-clock time (``--budget``, the fair test for
anything that changes the step time). Each variant encodes the same crops at the same lambda; the
figure of merit is the RD cost of the real file, J = MSE + lambda * bpp (MSE on [0, 1] pixels),
lower is better.

    python benchmarks/ablation_fit.py --variants base lr2e-2 clip1 --steps 1500
    python benchmarks/ablation_fit.py --variants fast ctx5 --budget 90
    python benchmarks/ablation_fit.py --variants h30_pretrained h30p_gain2 --budget 60 \
        --lmbda 1e-2 3e-3 1e-3 3e-4        # four lambdas: BD-rates too

Appends one JSON line per (variant, image) to benchmarks/results/ablation_fit.jsonl (so a long
run can be resumed or extended) and prints a table of the mean relative change of J against the
first variant. Needs ../shared/data/kodak (skips cleanly if absent).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
OUT = ROOT / "benchmarks" / "results" / "ablation_fit.jsonl"

FAST = {"lr": 2e-2}  # peak learning rate of the short presets, chosen by the first rows here
B95 = {**FAST, "adam_betas": (0.9, 0.95)}  # Adam beta2 of the short presets, chosen below
W12 = {**B95, "arch": {"width": 12}}  # the budget networks, chosen below


def _gain(gain: float) -> dict[str, object]:
    """The budget networks with latent gain ``gain`` (the ``arch`` entry of a variant)."""
    return {"width": 12, "latents": {"gain_factor": gain}}


def _low(synthesis: tuple[int, ...], residual: int, entropy: tuple[int, ...]) -> dict[str, object]:
    """A low-complexity architecture: the budget latents, the given hidden widths, the ARM's 5x5
    context (the ``arch`` entry of a variant)."""
    return {"latents": {"gain_factor": 1.75}, "synthesis": {"widths": synthesis, "num_residual": residual},
            "entropy": {"widths": entropy, "context": 5}}


G175 = {**W12, "arch": _gain(1.75)}  # budget settings since 27235cc
H30 = {**G175, "lr_hold": 0.3}  # budget settings since fbac0fe
H30P = {**H30, "network_init": "pretrained"}  # the shipped budget settings

VARIANTS: dict[str, dict[str, object]] = {
    "base": {},  # C3's settings: peak lr 1e-2, Adam betas (0.9, 0.999), gradient clip 0.1
    "lr2e-2": FAST,
    "lr5e-3": {"lr": 5e-3},
    "lr3e-2": {"lr": 3e-2},
    "clip1": {"grad_clip": 1.0},
    "seed1": {**FAST, "seed": 1},  # how much J moves with the random initialisation alone
    "stage2_5pct": {**FAST, "stage2_fraction": 0.05, "steps_scale": 1.05},  # same total steps
    "beta2_0.99": {**FAST, "adam_betas": (0.9, 0.99)},
    "beta2_0.95": B95,
    "beta2_0.95_seed1": {**B95, "seed": 1},
    "beta2_0.9": {**FAST, "adam_betas": (0.9, 0.9)},
    "b95_lr3e-2": {**B95, "lr": 3e-2},
    "b95_beta1_0.8": {**B95, "adam_betas": (0.8, 0.95)},
    "b95_ctx5": {**B95, "arch": {"entropy": {"context": 5}}},  # 12 causal neighbours, not 24
    "b95_width12": W12,  # both networks 12 wide instead of 18
    "w12_t0.5": {**W12, "temperature": (0.5, 0.1)},
    "w12_kum1.5": {**W12, "kumaraswamy": (1.5, 1.0)},
    "w12_kum3": {**W12, "kumaraswamy": (3.0, 1.0)},
    "w12_c0f35a9": W12,  # the same, run on the code of c0f35a9 (fused rate and quantiser kernels)
    "w12_s2lr3e-4": {**W12, "stage2_lr": 3e-4},
    "w12_hash_noise": W12,  # the same, run on the code of 301aa45 (the quantiser draws its own noise)
    "w12_eps1e-10": {**W12, "adam_eps": 1e-10},  # Adam's eps was near the finest grid's sqrt(v)
    "w12_eps1e-12": {**W12, "adam_eps": 1e-12},
    "w12_eps3e-8": {**W12, "adam_eps": 3e-8},
    "w12_eps1e-7": {**W12, "adam_eps": 1e-7},
    "w12_gain1.5": {**W12, "arch": _gain(1.5)},
    "w12_gain2.5": {**W12, "arch": _gain(2.5)},
    "w12_gain1.25": {**W12, "arch": _gain(1.25)},
    "w12_gain1.75": G175,
    "w12_gain1.75_lr2.5e-2": {**G175, "lr": 2.5e-2},
    "w12_gain1.75_lr3e-2": {**G175, "lr": 3e-2},
    "w12_seed1": {**W12, "seed": 1},
    "w12_gain1.75_seed1": {**G175, "seed": 1},
    "w12_steps1.3": {**W12, "steps_scale": 1.3},  # what 30 % more steps are worth
    "g175_steps1.3": {**G175, "steps_scale": 1.3},
    "g175_clip0.05": {**G175, "grad_clip": 0.05},
    "g175_clip0.2": {**G175, "grad_clip": 0.2},
    "g175_hold0.3": {**G175, "lr_hold": 0.3},  # peak lr for 30 % of stage 1, then the cosine
    "g175_hold0.6": {**G175, "lr_hold": 0.6},
    "g175_hold0.2": {**G175, "lr_hold": 0.2},
    "g175_hold0.3_seed1": {**G175, "lr_hold": 0.3, "seed": 1},
    "h30_lr1.5e-2": {**H30, "lr": 1.5e-2},
    "h30_lr2.5e-2": {**H30, "lr": 2.5e-2},
    "h30_beta2_0.9": {**H30, "adam_betas": (0.9, 0.9)},
    "h30_gain1.5": {**H30, "arch": _gain(1.5)},
    "h30_pretrained": H30P,  # shipped networks (budget settings since this)
    # Low complexity (issue 26 item 4, <= 500 MACs/pixel), random starting networks, 5x5 ARM context:
    "low_s12_a8": {**H30, "arch": _low((12,), 2, (8,))},  # 479 MACs/pixel at 768x512
    "low_s8r1_a88": {**H30, "arch": _low((8,), 1, (8, 8))},  # 443
    "low_s16r1_a8": {**H30, "arch": _low((16,), 1, (8,))},  # 438
    "h30_random": H30,  # the budget settings with random networks, for the rows above
    # Knock-outs of the shipped budget settings (issue 26 item 5, C3's Table 3), each one feature
    # set back to C3's or Cool-chic's choice (h30_random above knocks out the pretrained networks):
    "h30p_kumaraswamy_off": {**H30P, "kumaraswamy": (1.0, 1.0)},  # uniform noise under the soft-round
    "h30p_coolchic": {**H30P, "approximation": "coolchic"},  # no soft-round, no Kumaraswamy: noise + STE
    "h30p_coolchic_v2": {**H30P, "approximation": "coolchic_v2"},  # Cool-chic v2: noise + epsilon-STE
    "h30p_gain2": {**H30P, "arch": _gain(2.0)},  # C3's latent gain
    "h30p_gain1": {**H30P, "arch": _gain(1.0)},  # no gain between the grids' latent scales
    "h30p_adam_c3": {**H30P, "adam_betas": (0.9, 0.999)},  # C3's Adam beta2
    "h30p_lr_c3": {**H30P, "lr": 1e-2, "lr_hold": 0.0},  # C3's learning-rate schedule
    "h30p_no_stage2": {**H30P, "stage2_fraction": 0.0, "steps_scale": 1.1},  # its steps go to stage 1
    # C3's previous-grid ARM context (each grid's ARM also reads a K x K window of the finer grid
    # before it, downsampled) on the fused rate kernel, from the shipped networks widened with zeros:
    "h30p_prev_grid1": {**H30P, "arch": {**_gain(1.75), "entropy": {"use_prev_grid": True, "prev_kernel": 1}}},
    "h30p_prev_grid3": {**H30P, "arch": {**_gain(1.75), "entropy": {"use_prev_grid": True, "prev_kernel": 3}}},
    "h30p_prev_grid1_fast": {**H30P, "arch": {**_gain(1.75), "entropy": {"use_prev_grid": True, "prev_kernel": 1}}},
    # the same as h30p_prev_grid1, after the downsampling and its backward were made 4-5x faster
    "h30p_again": H30P,  # the shipped settings again, measured in the same run as the rows above
    "b95_hold0.3": {**B95, "lr_hold": 0.3},  # the fast preset: short schedule, C3's architecture
    "b95_hold0.3_pretrained": {**B95, "lr_hold": 0.3, "network_init": "pretrained"},
}
"""FitConfig overrides of each variant on top of C3's settings (the FitConfig defaults; unknown
fields fail loudly), plus two special
keys: ``steps_scale`` multiplies the step count, ``arch`` changes the architecture (``width``
for both networks, or fields of ``entropy`` / ``synthesis``). The warm-up
variant (4 candidate initialisations, 5 % of the steps each) was measured at commit b74d079 and
then removed from the codec because it did not pay for its extra steps; the latent learning-rate
scale variants (``w12_latlr2``, ``w12_lr1e-2_latlr2``, ``w12_latlr0.5``: the latents' learning
rate times 2 or 0.5 against the networks') at c549d46, and removed likewise."""


def crop(picture, size: int):
    """Centre crop of ``size`` x ``size`` pixels (a cheap stand-in for a whole Kodak image)."""
    from c3codec.io.images import Picture

    top = (picture.height - size) // 2
    left = (picture.width - size) // 2
    return Picture(picture.pixels[top:top + size, left:left + size].copy(), picture.bit_depth)


def variant_configs(variant: str, steps: int):
    """(ArchitectureConfig, FitConfig) of a variant."""
    from dataclasses import replace

    from c3codec.config import ArchitectureConfig, FitConfig

    overrides = dict(VARIANTS[variant])
    steps = round(steps * float(overrides.pop("steps_scale", 1.0)))  # type: ignore[arg-type]
    arch_changes = dict(overrides.pop("arch", {}))  # type: ignore[arg-type]
    arch = ArchitectureConfig()
    if "width" in arch_changes:
        arch = arch.with_widths(int(arch_changes.pop("width")))
    arch = replace(arch, **{part: replace(getattr(arch, part), **fields)
                            for part, fields in arch_changes.items()})
    return arch, FitConfig(**{"steps": steps, **overrides})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["base", "lr2e-2", "lr3e-2", "lr5e-3", "clip1"],
                        choices=sorted(VARIANTS))
    parser.add_argument("--images", nargs="+", default=["kodim05", "kodim23"])
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds per encoding instead of a step count")
    parser.add_argument("--lmbda", type=float, nargs="+", default=[1e-3],
                        help="one or more lambdas; with four or more, also BD-rates against the first variant")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args()
    if not KODAK.is_dir():
        print(f"skipping: {KODAK} not found")
        return 0
    from c3codec import runtime
    from c3codec.encoder import encode
    from c3codec.io.images import load_image

    runtime.configure(args.threads)
    done = {}
    if args.output.exists():
        for line in args.output.read_text().splitlines():
            row = json.loads(line)
            done[_key(row["variant"], row["image"], row)] = row
    settings = [{**vars(args), "lmbda": lmbda} for lmbda in args.lmbda]
    for setting in settings:
        for variant in args.variants:
            for name in args.images:
                key = _key(variant, name, setting)
                if key in done:
                    continue
                picture = crop(load_image(KODAK / f"{name}.png"), args.crop)
                arch, config = variant_configs(variant, args.steps)
                stats = encode(picture, setting["lmbda"], arch=arch, fit_config=config,
                               budget_seconds=args.budget).stats
                row = {"variant": variant, "image": name, "steps": args.steps, "lmbda": setting["lmbda"],
                       "crop": args.crop, "budget": args.budget, "stage1_steps": stats.steps,
                       **measured(stats, setting["lmbda"])}
                done[key] = row
                append_row(args.output, row)
    for setting in settings:
        print_cost_table(done, args.variants, args.images, setting)
    if len(settings) >= 4:
        print_bd_table(done, args.variants, args.images, settings)
    return 0


def print_cost_table(done: dict[tuple, dict], variants: list[str], images: list[str], setting: dict) -> None:
    """Mean bpp, PSNR and relative RD cost J of each variant against the first, at one lambda."""
    base = variants[0]
    print(f"\nlambda {setting['lmbda']:g}\n| variant | mean bpp | mean PSNR (dB) | J vs {base} | mean encode (s) "
          "| stage-1 steps |")
    print("|---|---|---|---|---|---|")
    for variant in variants:
        names = [n for n in images if _key(base, n, setting) in done and _key(variant, n, setting) in done]
        if not names:
            continue
        rows = [done[_key(variant, n, setting)] for n in names]
        refs = [done[_key(base, n, setting)] for n in names]
        change = statistics.mean(r["cost"] / b["cost"] - 1 for r, b in zip(rows, refs))
        print(f"| {variant} | {statistics.mean(r['bpp'] for r in rows):.4f} "
              f"| {statistics.mean(r['psnr'] for r in rows):.2f} | {100 * change:+.2f} % "
              f"| {statistics.mean(r['seconds'] for r in rows):.0f} "
              f"| {statistics.mean(r.get('stage1_steps', r['steps']) for r in rows):.0f} |")


def print_bd_table(done: dict[tuple, dict], variants: list[str], images: list[str], settings: list[dict]) -> None:
    """BD-rate (cubic, PSNR) of each variant against the first, per crop over the lambdas, and
    the mean over the crops (C3's Tables 2-3 report BD-rates the same way)."""
    from c3codec.evaluation.bdrate import bd

    base = variants[0]
    lambdas = ", ".join(f"{setting['lmbda']:g}" for setting in settings)
    print(f"\nBD-rate against {base}, lambdas {lambdas}")
    print("| variant | " + " | ".join(images) + " | mean |")
    print("|---" * (len(images) + 2) + "|")
    for variant in variants[1:]:
        rates = []
        for name in images:
            keys = [(_key(base, name, s), _key(variant, name, s)) for s in settings]
            if not all(a in done and b in done for a, b in keys):
                rates.append(None)
                continue
            anchor, test = [done[a] for a, _ in keys], [done[b] for _, b in keys]
            rates.append(bd([r["bpp"] for r in anchor], [r["psnr"] for r in anchor],
                            [r["bpp"] for r in test], [r["psnr"] for r in test]).rate_cubic)
        known = [r for r in rates if r is not None]
        cells = ["" if r is None else f"{r:+.1f} %" for r in rates]
        mean = f"{statistics.mean(known):+.1f} %" if known else ""
        print(f"| {variant} | " + " | ".join(cells) + f" | {mean} |")


def add_crop_arguments(parser: argparse.ArgumentParser, output: Path) -> None:
    """The options of the model-swap ablations (fixed steps on centre crops)."""
    parser.add_argument("--images", nargs="+", default=["kodim01", "kodim05", "kodim14", "kodim23"])
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--output", type=Path, default=output)


def start_run(output: Path, fields: tuple[str, ...]) -> dict[tuple, dict] | None:
    """Set up a model-swap ablation: None where the Kodak images are absent (the caller skips),
    else one fitting thread and the rows already in ``output`` keyed by ``fields`` (so a long
    run resumes where it was)."""
    if not KODAK.is_dir():
        print(f"skipping: {KODAK} not found")
        return None
    from c3codec import runtime

    runtime.configure(1)
    rows = [json.loads(line) for line in output.read_text().splitlines()] if output.exists() else []
    return {tuple(row[f] for f in fields): row for row in rows}


def measured(stats, lmbda: float) -> dict[str, float]:
    """The figures of one encoding (``EncodeStats``) that a row records, RD cost J included."""
    mse = 10 ** (-stats.psnr / 10)
    return {"bpp": stats.bpp, "psnr": stats.psnr, "cost": mse + lmbda * stats.bpp,
            "seconds": stats.encode_seconds}


def append_row(output: Path, row: dict) -> None:
    """Append one result line to ``output`` (so a long run can be resumed) and print it."""
    with output.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def _key(variant: str, image: str, setting: dict) -> tuple:
    budget = setting.get("budget")
    return (variant, image, None if budget else setting["steps"], budget, setting["lmbda"],
            setting["crop"])


if __name__ == "__main__":
    sys.exit(main())
