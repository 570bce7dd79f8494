"""Figures, headless: RD plots (bpp vs RGB PSNR) of any result sets and anchors, and the
decoded latent grids of a file with the bytes spent on each (``c3 info --plot``)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .results import Curve


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, output: str | Path) -> None:
    from ..io.images import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    _pyplot().close(fig)
    atomic_write(output, buf.getvalue())


def plot_latents(latents: list[np.ndarray], grid_bytes: list[int], coders: list[str],
                 output: str | Path, title: str = "") -> None:
    """Every latent grid (bins, one symmetric colour scale per grid) above a bar chart of the
    bytes its stream takes, as C3's Fig. 26 and MARM's Fig. 7a show them."""
    plt = _pyplot()
    n = len(latents)
    fig = plt.figure(figsize=(2.2 * n, 5.2), dpi=110)
    grid_spec = fig.add_gridspec(2, n, height_ratios=[1.2, 1])
    for k, (grid, size, coder) in enumerate(zip(latents, grid_bytes, coders)):
        ax = fig.add_subplot(grid_spec[0, k])
        scale = max(1.0, float(np.abs(grid).max()))
        ax.imshow(grid, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        ax.set_title(f"grid {k} ({coder})\n{grid.shape[1]}x{grid.shape[0]}, |k| <= {scale:.0f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid_spec[1, :])
    bits_per_latent = [8.0 * size / max(grid.size, 1) for grid, size in zip(latents, grid_bytes)]
    bars = ax.bar(range(n), grid_bytes, color=["tab:blue" if c == "ARM" else "tab:orange" for c in coders])
    for bar, rate in zip(bars, bits_per_latent):
        ax.annotate(f"{rate:.2f} b/latent", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(n), [f"grid {k}" for k in range(n)])
    ax.set_ylabel("bytes (range-coded stream)")
    ax.grid(True, axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, output)


def plot_curves(curves: list[Curve], output: str | Path, title: str = "") -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    tab20 = plt.get_cmap("tab20").colors  # 10 dark then 10 light shades: no two curves share one
    colours = [*tab20[0::2], *tab20[1::2]]
    for i, curve in enumerate(curves):
        pts = sorted(zip(curve.bpp, curve.psnr))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3,
                linewidth=1.2, label=curve.name, color=colours[i % 20],
                linestyle="--" if "published" in curve.name else "-")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("RGB PSNR (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _save(fig, output)
