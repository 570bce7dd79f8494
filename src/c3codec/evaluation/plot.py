"""RD plots (bpp vs RGB PSNR) of any result sets and anchors, headless."""

from __future__ import annotations

from pathlib import Path

from .results import Curve


def plot_curves(curves: list[Curve], output: str | Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.images import atomic_write

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
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(output, buf.getvalue())
