"""Figures the chapters share. Each function draws on a Matplotlib axes and returns it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns
import torch
from matplotlib.axes import Axes
from torchvision.utils import make_grid

__all__ = [
    "set_style",
    "show_digits",
    "plot_class_balance",
    "plot_pixel_statistics",
    "plot_vae_schematic",
]


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


def _box(ax: Axes, xy: tuple[float, float], text: str, color: str, width: float = 1.5) -> None:
    """A rounded box centred at ``xy`` with ``text`` in it."""
    from matplotlib.patches import FancyBboxPatch

    x, y = xy
    ax.add_patch(FancyBboxPatch((x - width / 2, y - 0.42), width, 0.84,
                                boxstyle="round,pad=0.04,rounding_size=0.12",
                                facecolor=color, edgecolor="0.25", linewidth=1.2))  # fmt: skip
    ax.text(x, y, text, ha="center", va="center", fontsize=10.5)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], **style: object) -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops={"arrowstyle": "-|>", "color": "0.25", "lw": 1.3, **style})  # fmt: skip


def plot_vae_schematic(ax: Axes | None = None) -> Axes:
    """The VAE as a diagram: x -> encoder -> (mu, log sigma^2) -> z = mu + sigma * eps ->
    decoder -> logits, with the two terms of the loss, KL(q(z|x) || N(0, I)) on the code and
    -log p(x|z) on the logits against x."""
    ax = _axes(ax, (12.5, 4.8))
    blue, green, orange, grey = "#dbe8f6", "#dff0d8", "#fbe3c8", "#eeeeee"
    _box(ax, (0.8, 2), "image $x$\n784 pixels", grey, 1.3)
    _box(ax, (2.9, 2), "encoder\n$784 \\to 400$, ReLU", blue, 1.9)
    _box(ax, (5.1, 2.75), "$\\mu$  (20)", blue, 1.2)
    _box(ax, (5.1, 1.25), "$\\log\\sigma^2$  (20)", blue, 1.2)
    _box(ax, (7.3, 2), "$z = \\mu + \\sigma \\odot \\varepsilon$\n(20)", orange, 1.8)
    _box(ax, (7.3, 0.2), "$\\varepsilon \\sim \\mathcal{N}(0, I)$", grey, 1.6)
    _box(ax, (9.55, 2), "decoder\n$20 \\to 400$, ReLU", green, 1.9)
    _box(ax, (11.7, 2), "logits (784)\n$p(x \\mid z)$", green, 1.6)
    for start, end in [((1.45, 2), (1.95, 2)), ((3.85, 2.2), (4.5, 2.7)),
                       ((3.85, 1.8), (4.5, 1.3)), ((5.7, 2.7), (6.4, 2.2)),
                       ((5.7, 1.3), (6.4, 1.8)), ((7.3, 0.62), (7.3, 1.58)),
                       ((8.2, 2), (8.6, 2)), ((10.5, 2), (10.9, 2))]:  # fmt: skip
        _arrow(ax, start, end)
    ax.plot([0.8, 0.8, 11.7], [1.58, -0.75, -0.75], color="#a33", lw=1.1, ls="--")
    _arrow(ax, (11.7, -0.75), (11.7, 1.58), color="#a33", ls="--", lw=1.1)
    ax.text(9.6, -0.62, "the same $x$ is the target the logits are scored against",
            ha="center", va="bottom", fontsize=9.5, color="#a33")
    ax.text(2.9, 3.05, "$q_\\phi(z \\mid x)$: the encoder", ha="center", fontsize=10, color="0.3")
    ax.text(9.55, 3.05, "$p_\\theta(x \\mid z)$: the decoder", ha="center", fontsize=10,
            color="0.3")
    ax.text(5.1, 3.6, "KL$(q_\\phi(z \\mid x) \\,\\|\\, \\mathcal{N}(0, I))$\nin closed form",
            ha="center", va="center", fontsize=10, color="#a33")
    ax.text(11.7, 3.6, "$-\\log p_\\theta(x \\mid z)$: cross-entropy\nwith $x$, summed over pixels",
            ha="center", va="center", fontsize=10, color="#a33")
    ax.text(6.3, 4.35, "loss = $-$ELBO = reconstruction + KL, per digit",
            ha="center", va="center", fontsize=11, color="#a33", weight="bold")
    ax.set(xlim=(0, 12.7), ylim=(-0.95, 4.6))
    ax.axis("off")
    return ax
