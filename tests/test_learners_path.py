"""The learner's path (chapters 1-6): the reader writes the VAE, its loss and its loop, the main
path stays short, and the schematic drawn by code is on the landing page and in chapter 5."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
PART_I_II = sorted(CHAPTERS.glob("0[1-7]_*.ipynb"))


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


words = _tool("mainpath_words")


def _checked(notebook: str) -> list[str]:
    """Sources of the cells whose output nbval compares (tag ``nbval-check-output``)."""
    cells = json.loads((CHAPTERS / notebook).read_text())["cells"]
    return ["".join(c["source"]) for c in cells
            if "nbval-check-output" in c["metadata"].get("tags", [])]  # fmt: skip


def _code(notebook: str, *, hidden: bool | None = None) -> list[str]:
    """Code-cell sources of ``chapters/<notebook>``: all, only main-path (``hidden=False``) or
    only collapsed ones (``hidden=True``)."""
    cells = json.loads((CHAPTERS / notebook).read_text())["cells"]
    out = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        is_hidden = bool(set(cell["metadata"].get("tags", [])) & words.HIDDEN_TAGS)
        if hidden is None or hidden == is_hidden:
            out.append("".join(cell["source"]))
    return out


def test_the_word_counter_skips_collapsed_boxes() -> None:
    text = "One two three.\n\n```{admonition} Going deeper\n:class: dropdown\nfour five six\n```\n"
    assert words.visible_words(text) == 3
    assert words.visible_words("a\n$$\nx = y\n$$\n:::{dropdown} t\nhidden words\n:::\nb") == 2


def test_the_first_pages_stay_within_their_word_budget() -> None:
    pages = [ROOT / "book" / "intro.md", ROOT / "book" / "setup.md",
             *sorted(CHAPTERS.glob("0[1-5]_*.ipynb"))]  # fmt: skip
    total = sum(words.file_words(p) for p in pages)
    assert total <= 7000, f"intro, setup and chapters 1-5: {total} main-path words, over 7,000"


@pytest.mark.parametrize("notebook", PART_I_II, ids=lambda p: p.name)
def test_no_chapter_of_parts_one_and_two_is_over_2500_words(notebook: Path) -> None:
    n = words.file_words(notebook)
    assert n <= 2500, f"{notebook.name}: {n} main-path words; move asides into Going deeper boxes"


def test_chapter_5_writes_the_model_the_loss_and_the_loop() -> None:
    code = "\n".join(_code("05_building_the_vae.ipynb", hidden=False))
    assert re.search(r"class \w+\(nn\.Module\):", code), "the reader's own nn.Module VAE"
    assert "def vae_loss(" in code and "binary_cross_entropy_with_logits" in code
    assert "def fit(" in code and ".backward()" in code and "optimizer.step()" in code
    assert "tqdm" in code, "the loop shows a progress bar"
    assert "show_source" not in code, "chapter 5 writes its code; it does not display the package's"


def test_chapter_5_checks_its_model_and_loop_against_the_package() -> None:
    checked = _checked("05_building_the_vae.ipynb")
    assert any("package_model.loss(x)" in c and "1e-6" in c for c in checked)
    assert any("history.train_loss" in c for c in checked), "train() reproduces the reader's fit"


def test_chapter_6_main_path_has_no_distributed_code_and_keeps_the_run() -> None:
    code = "\n".join(_code("06_training.ipynb", hidden=False))
    for word in ("world", "distributed", "torchrun", "DDP"):
        assert word not in code, f"chapter 6's main path shows distributed code ({word!r})"
    assert "my_models" in code
    assert not re.search(r"rmtree\((run_dir|RUN|Path\(\"my_models)", code), "the run is kept"


def test_chapters_7_and_8_say_how_to_use_the_readers_model() -> None:
    for notebook in ("07_evaluation.ipynb", "08_latent_space.ipynb"):
        cells = json.loads((CHAPTERS / notebook).read_text())["cells"]
        text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        assert "my_models/my_vae.pt" in text, notebook


def test_the_schematic_is_drawn_by_code_on_the_landing_page_and_in_chapter_5(tmp_path) -> None:
    from PIL import Image

    assert "images/vae_schematic.png" in (ROOT / "book" / "intro.md").read_text()
    assert any("plot_vae_schematic()" in c for c in _code("05_building_the_vae.ipynb"))
    committed = Image.open(ROOT / "book" / "images" / "vae_schematic.png")
    redrawn = Image.open(_tool("draw_schematic").draw(tmp_path / "schematic.png"))
    assert committed.size == redrawn.size, "redraw it: python tools/draw_schematic.py"


PARTS_III_IV = {"08": 2800, "09": 1800, "10": 2500, "11": 2000, "12": 2500, "13": 2800}


@pytest.mark.parametrize(("number", "limit"), PARTS_III_IV.items())
def test_parts_three_and_four_tell_their_story_within_their_budget(number: str, limit: int):
    (notebook,) = CHAPTERS.glob(f"{number}_*.ipynb")
    n = words.file_words(notebook)
    assert n <= limit, f"{notebook.name}: {n} main-path words, over {limit:,}"


def test_chapter_10_shows_latent_traversals() -> None:
    code = "\n".join(_code("10_beta_vae.ipynb"))
    assert "traversal(" in code and "active_units" in code
