"""Draw the VAE schematic of the landing page, ``book/images/vae_schematic.png``, with the same
code as chapter 5 (``vae_tutorial.plots.plot_vae_schematic``): ``python tools/draw_schematic.py
[OUT]``. ``tests/test_book.py`` redraws it and compares it with the committed file."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from vae_tutorial import plots  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "book" / "images" / "vae_schematic.png"


def draw(out: Path = OUT) -> Path:
    """Write the schematic as a PNG at ``out`` (100 dpi, tight) and return ``out``."""
    plots.set_style()
    ax = plots.plot_vae_schematic()
    out.parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(out, bbox_inches="tight", dpi=100, metadata={"Software": None})
    return out


if __name__ == "__main__":
    print(f"Wrote {draw(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)}")
