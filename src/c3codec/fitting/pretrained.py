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
from collections.abc import Iterable
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..config import ArchitectureConfig, FitConfig
from ..model.c3 import C3Model

NETWORK_PREFIXES = ("synthesis.", "entropy.")


def architecture_key(arch: ArchitectureConfig, channels: int) -> str:
    """What a set of network weights was fitted for: the whole architecture (the latent gain and
    grid count change what the networks see) and the channel count."""
    return json.dumps({"architecture": asdict(arch), "channels": channels}, sort_keys=True)


def _network_tensors(model: C3Model) -> dict[str, torch.Tensor]:
    """The synthesis and entropy entries of ``model``'s state dict (not the latents)."""
    return {name: tensor for name, tensor in model.state_dict().items()
            if name.startswith(NETWORK_PREFIXES)}


def network_state(model: C3Model) -> dict[str, np.ndarray]:
    """The synthesis and entropy network weights of ``model`` as named float32 arrays."""
    return {name: tensor.detach().cpu().numpy().astype(np.float32)
            for name, tensor in _network_tensors(model).items()}


def save_networks(model: C3Model, path: Path) -> None:
    """Write ``model``'s network weights and the architecture they belong to (``.npz``)."""
    state = network_state(model)
    key = architecture_key(model.config, model.channels)
    np.savez(path, __key__=np.array(key), **state)


def shipped_network_files() -> list[Path]:
    """The pretrained weight files shipped with the package."""
    data = Path(str(resources.files("c3codec") / "data"))
    return sorted(data.glob("networks_*.npz"))


def load_pretrained_networks(model: C3Model, files: Iterable[Path] | None = None) -> Path | None:
    """Copy into ``model`` the first pretrained networks fitted for exactly its architecture and
    channel count; returns the file used, or None (the model keeps its random networks)."""
    key = architecture_key(model.config, model.channels)
    for path in shipped_network_files() if files is None else files:
        with np.load(path) as data:
            if str(data["__key__"]) != key:
                continue
            state = {name: torch.from_numpy(data[name]) for name in data.files if name != "__key__"}
        if set(state) != set(_network_tensors(model)):
            raise ValueError(f"{path.name}: network tensors do not match the architecture")
        model.load_state_dict(state, strict=False)
        return path
    return None


def pretrain_networks(targets: Iterable[torch.Tensor], arch: ArchitectureConfig, lmbda: float,
                      config: FitConfig) -> C3Model:
    """Fit the networks to several pictures in turn ((C, H, W) tensors in [0, 1]), each fit
    starting from the networks of the previous one (with fresh latents): networks that suit
    pictures in general rather than any one of them. Returns the model of the last fit."""
    from .fit import fit

    model = None
    for target in targets:
        torch.manual_seed(config.seed)
        fresh = C3Model(tuple(target.shape[1:]), target.shape[0], arch)
        if model is not None:
            fresh.load_state_dict(_network_tensors(model), strict=False)
        fit(fresh, target, lmbda, config)
        model = fresh
    if model is None:
        raise ValueError("no pictures to pretrain on")
    return model
