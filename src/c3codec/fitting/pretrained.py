"""Pretrained starting weights for the synthesis and entropy networks.

C3 starts every encoding from randomly initialised networks, so the first few hundred steps of a
short schedule are spent learning what every image shares (how upsampled latents map to colour,
how latents are distributed given their neighbours). Starting instead from networks fitted to
other pictures skips that: in the fitting ablation (benchmarks/README.md) it lowers the RD cost
by about 5 % after 500 steps and 1 % after 1500. The decoder is unaffected: the fitted networks
are quantised and sent as before, whatever they started from.

The shipped weights (``c3codec/data/networks_*.npz``) are made by ``tools/pretrain_networks.py``
from video frames, never from the Kodak test images. Each file records the architecture and
channel count it was fitted for and is used only for exactly that model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..config import ArchitectureConfig, FitConfig
from ..model.c3 import C3Model

NETWORK_PREFIXES = ("synthesis.", "entropy.")
ARU_PREFIXES = ("aru.",)


ARU_FIELDS = ("aru_grids", "aru_widths")
VIDEO_FIELDS = ("prev_frame", "prev_frame_offsets")


def architecture_key(arch: ArchitectureConfig, channels: int) -> str:
    """What a set of network weights was fitted for: the whole architecture (the latent gain and
    grid count change what the networks see) and the channel count. MARM's ARU settings are left
    out: the shipped synthesis and ARM serve MARM models too (their ARU starts at random)."""
    fields = asdict(arch)
    for name in ARU_FIELDS:
        fields["entropy"].pop(name)
    if not arch.entropy.prev_frame:  # images: the keys of the files shipped before videos
        for name in VIDEO_FIELDS:
            fields["entropy"].pop(name)
    if not arch.entropy.per_grid:  # the keys of the files shipped before per-grid ARMs
        fields["entropy"].pop("per_grid")
    return json.dumps({"architecture": fields, "channels": channels}, sort_keys=True)


def aru_key(arch: ArchitectureConfig, channels: int) -> str:
    """What a set of ARU weights was fitted for: the architecture and the ARU's widths (not how
    many grids it codes: its level encoding covers every grid, so weights fitted with all grids
    serve any M)."""
    return json.dumps({"aru": json.loads(architecture_key(arch, channels)),
                       "aru_widths": list(arch.entropy.aru_widths)}, sort_keys=True)


def _network_tensors(model: C3Model, prefixes: tuple[str, ...] = NETWORK_PREFIXES) -> dict[str, torch.Tensor]:
    """The entries of ``model``'s state dict under ``prefixes`` (by default the synthesis and
    the ARM; never the latents)."""
    return {name: tensor for name, tensor in model.state_dict().items() if name.startswith(prefixes)}


def network_state(model: C3Model, prefixes: tuple[str, ...] = NETWORK_PREFIXES) -> dict[str, np.ndarray]:
    """Network weights of ``model`` as named float32 arrays."""
    return {name: tensor.detach().cpu().numpy().astype(np.float32)
            for name, tensor in _network_tensors(model, prefixes).items()}


def save_networks(model: C3Model, path: Path, aru: bool = False) -> None:
    """Write ``model``'s synthesis and ARM weights (or, with ``aru``, its ARU weights) and what
    they were fitted for (``.npz``)."""
    prefixes, key = ((ARU_PREFIXES, aru_key(model.config, model.channels)) if aru else
                     (NETWORK_PREFIXES, architecture_key(model.config, model.channels)))
    np.savez(path, __key__=np.array(key), **network_state(model, prefixes))


def shipped_network_files() -> list[Path]:
    """The pretrained weight files shipped with the package."""
    data = Path(str(resources.files("c3codec") / "data"))
    return sorted(data.glob("networks_*.npz"))


def load_pretrained_networks(model: C3Model, files: Iterable[Path] | None = None) -> Path | None:
    """Copy into ``model`` the first pretrained networks fitted for exactly its architecture and
    channel count (and, with MARM, ARU weights fitted for its ARU); returns the file of the
    synthesis and ARM, or None (the model keeps its random networks).

    Failing that, the networks fitted without the previous-grid context (which the ARM starts
    by ignoring) and with one shared ARM (copied into each grid's ARM)."""
    files = list(shipped_network_files() if files is None else files)
    config = model.config
    candidates = [config, config.with_per_grid(False), config.with_prev_grid(0),
                  config.with_per_grid(False).with_prev_grid(0)]
    used = None
    for candidate in dict.fromkeys(candidates):  # in order, without repeats
        used = _load(model, files, architecture_key(candidate, model.channels), NETWORK_PREFIXES)
        if used is not None:
            break
    if used is not None and model.aru is not None:
        _load(model, files, aru_key(model.config, model.channels), ARU_PREFIXES)
    return used


SHARED_ARM = re.compile(r"entropy\.layers\.")
ARM_FIRST_LAYER = re.compile(r"entropy\.(\d+\.)?layers\.0\.weight")


def _adapt(state: dict[str, torch.Tensor], model: C3Model) -> dict[str, torch.Tensor]:
    """Fit weights of a plainer architecture to ``model``'s: a shared ARM is copied into each
    grid's ARM (``per_grid``); an ARM fitted on fewer inputs (without the previous-grid context,
    whose inputs come last) gets zero weights for the others."""
    if model.config.entropy.per_grid:
        state = {(f"entropy.{k}.{name[len('entropy.'):]}" if SHARED_ARM.match(name) else name): tensor
                 for name, tensor in state.items()
                 for k in (range(model.config.num_arms) if SHARED_ARM.match(name) else [None])}
    expected = _network_tensors(model)
    for name, first in state.items():
        if ARM_FIRST_LAYER.fullmatch(name) and name in expected and model.config.entropy.use_prev_grid:
            missing = expected[name].shape[1] - first.shape[1]
            if missing > 0:
                state[name] = torch.cat([first, first.new_zeros(first.shape[0], missing)], dim=1)
    return state


def _load(model: C3Model, files: list[Path], key: str, prefixes: tuple[str, ...]) -> Path | None:
    """Load the first file of ``files`` whose key is ``key`` (:func:`_adapt`-ed to the model)."""
    expected = _network_tensors(model, prefixes)
    for path in files:
        with np.load(path) as data:
            if str(data["__key__"]) != key:
                continue
            state = {name: torch.from_numpy(data[name]) for name in data.files if name != "__key__"}
        state = _adapt(state, model)
        if set(state) != set(expected) or any(state[n].shape != expected[n].shape for n in state):
            raise ValueError(f"{path.name}: network tensors do not match the architecture")
        model.load_state_dict(state, strict=False)
        return path
    return None


def pretrain_networks(targets: Iterable[torch.Tensor], arch: ArchitectureConfig, lmbda: float,
                      config: FitConfig) -> C3Model:
    """Fit the networks to several pictures in turn ((C, H, W) tensors in [0, 1]), each fit
    starting from the networks of the previous one (with fresh latents; the first from the
    shipped networks if ``config.network_init`` asks for them): networks that suit pictures in
    general rather than any one of them. Returns the model of the last fit."""
    from .fit import fit

    model = None
    for target in targets:
        torch.manual_seed(config.seed)
        fresh = C3Model(tuple(target.shape[1:]), target.shape[0], arch)
        if model is not None:
            fresh.load_state_dict(_network_tensors(model, NETWORK_PREFIXES + ARU_PREFIXES), strict=False)
        elif config.network_init == "pretrained":
            load_pretrained_networks(fresh)
        fit(fresh, target, lmbda, config)
        model = fresh
    if model is None:
        raise ValueError("no pictures to pretrain on")
    return model
