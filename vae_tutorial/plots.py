"""Figures the chapters share. Each function draws on a Matplotlib axes and returns it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns
import torch
from matplotlib.axes import Axes
from torchvision.utils import make_grid

__all__ = ["set_style", "show_digits", "plot_class_balance", "plot_pixel_statistics"]


def set_style() -> None:
    """The book's figure style: seaborn's white grid, readable fonts, crisp PNGs."""
    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.grid": False,
            "image.interpolation": "nearest",
        }
    )


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def show_digits(
    images: torch.Tensor,
    nrow: int = 16,
    title: str | None = None,
    ax: Axes | None = None,
    labels: torch.Tensor | None = None,
    row_labels: list[str] | None = None,
) -> Axes:
    """Tile digits into one image with ``torchvision.utils.make_grid``.

    ``images`` may be ``uint8`` in [0, 255] or float in [0, 1], shaped ``(N, 28, 28)``,
    ``(N, 1, 28, 28)`` or flattened ``(N, 784)``. With ``labels``, each row's digit labels are
    printed to the right of the grid; with ``row_labels``, one name per row to its left.
    """
    images = images.detach().cpu()
    if images.dtype == torch.uint8:
        images = images.float() / 255
    images = images.reshape(len(images), 1, 28, 28).clamp(0, 1)
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=0.2)  # light grey lines on white
    rows = -(-len(images) // nrow)
    ax = _axes(ax, (nrow * 0.45, rows * 0.45 + 0.4))
    ax.imshow(grid[0], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    row_centres = [2 + 30 * r + 14 for r in range(rows)]  # make_grid: 2-pixel padding, 28 + 2
    if row_labels is not None:
        if len(row_labels) != rows:
            raise ValueError(f"row_labels has {len(row_labels)} names for {rows} rows")
        ax.set_yticks(row_centres, row_labels)
        ax.tick_params(axis="y", length=0)
    if labels is not None:
        labels = labels.cpu().tolist()
        right = ax.secondary_yaxis("right") if row_labels is not None else ax
        right.set_yticks(
            row_centres,
            [" ".join(str(v) for v in labels[r * nrow : (r + 1) * nrow]) for r in range(rows)],
            fontsize=8,
            family="monospace",
        )
        right.yaxis.tick_right()
        right.tick_params(axis="y", length=0)
    if title:
        ax.set_title(title)
    return ax


def plot_class_balance(
    labels: torch.Tensor, title: str = "Digits per class", ax: Axes | None = None
) -> Axes:
    """A bar per digit class with its count, drawn by seaborn."""
    ax = _axes(ax, (6, 3))
    counts = torch.bincount(labels.cpu(), minlength=10)
    sns.barplot(x=list(range(10)), y=counts.tolist(), ax=ax, color=sns.color_palette()[0])
    ax.axhline(counts.float().mean().item(), color="k", lw=1, ls="--", label="uniform share")
    ax.set_xlabel("digit")
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return ax


def plot_pixel_statistics(
    images: torch.Tensor, axes: tuple[Axes, Axes, Axes] | None = None
) -> tuple[Axes, Axes, Axes]:
    """The mean digit, the per-pixel standard deviation, and the histogram of all intensities."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(11, 3.2), width_ratios=[1, 1, 1.6])
    x = images.reshape(len(images), 28, 28).float() / 255
    for ax, stat, name in (
        (axes[0], x.mean(0), "mean pixel value"),
        (axes[1], x.std(0), "pixel std. deviation"),
    ):
        shown = ax.imshow(stat, cmap="viridis")
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
        plt.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    bins = 25
    counts = torch.histc(x.flatten(), bins=bins, min=0, max=1).double()
    edges = torch.linspace(0, 1, bins + 1)[:-1].numpy()
    axes[2].bar(
        edges,
        (counts / counts.sum()).numpy(),
        width=1 / bins,
        align="edge",
        color=sns.color_palette()[0],
    )
    axes[2].set_yscale("log")
    axes[2].set_ylabel("fraction of pixels")
    axes[2].set_xlabel("pixel intensity (0 = white paper, 1 = full ink)")
    axes[2].set_title("all pixel intensities (log scale)")
    return axes
