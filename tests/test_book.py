"""The book's conventions: config, table of contents, notebooks committed executed, setup cells."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _toc_files() -> list[str]:
    files = [TOC["root"]]
    for part in TOC.get("parts", []):
        files += [entry["file"] for entry in part["chapters"]]
    return files


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_nbval_markers_are_tags_and_the_setup_input_is_collapsed(notebook: Path) -> None:
    """A reader sees no test markers in the code, and the setup cell folded on the site."""
    code = [c for c in _cells(notebook) if c["cell_type"] == "code"]
    marked = [i for i, c in enumerate(code) if re.search(r"^\s*# NBVAL_", _source(c), re.M)]
    assert not marked, f"{notebook.name}: code cells {marked} carry # NBVAL_ comments; use tags"
    assert "hide-input" in _tags(code[0]), f"{notebook.name}: tag the setup cell hide-input"


def test_there_are_chapters_and_they_are_numbered() -> None:
    assert NOTEBOOKS, "no notebooks in chapters/"
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", nb.name) for nb in NOTEBOOKS)
    numbers = [int(nb.name[:2]) for nb in NOTEBOOKS]
    assert numbers[0] == 1 and numbers == sorted(set(numbers)), (
        "chapters are numbered 01, 02, ... in reading order, each number once"
    )
    gaps = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    assert gaps == [], f"gaps in the chapter numbers: {gaps}"


def test_every_chapter_and_page_is_in_the_toc_in_order() -> None:
    files = _toc_files()
    chapters = [f for f in files if f.startswith("chapters/")]
    assert chapters == [f"chapters/{nb.stem}" for nb in NOTEBOOKS]
    for f in files:
        assert (ROOT / f"{f}.md").is_file() or (ROOT / f"{f}.ipynb").is_file(), (
            f"{f} in _toc.yml does not exist"
        )


def test_colab_button_is_configured() -> None:
    assert CONFIG["repository"]["url"].startswith("https://github.com/")
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_installs_from_the_configured_repository(notebook: Path) -> None:
    first_code = next(c for c in _cells(notebook) if c["cell_type"] == "code")
    source = _source(first_code)
    match = re.search(r'^REPO_URL = "([^"]+)"', source, re.MULTILINE)
    assert match, f"{notebook.name}: the first code cell must be the setup cell defining REPO_URL"
    assert match.group(1) == CONFIG["repository"]["url"], (
        f"{notebook.name}: REPO_URL differs from _config.yml"
    )
    assert '"google.colab" in sys.modules' in source and "seed_everything" in source
    assert "vae_tutorial.device()" in source


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_links_open_this_chapter_of_the_configured_repository(notebook: Path) -> None:
    owner_repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    branch = CONFIG["repository"].get("branch", "main")
    want = f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/chapters/"
    prose = "".join(_source(c) for c in _cells(notebook) if c["cell_type"] == "markdown")
    links = re.findall(r"https://colab\.research\.google\.com/github/\S+?\.ipynb", prose)
    assert links, f"{notebook.name}: no 'open in Colab' link"
    for link in links:
        assert link == want + notebook.name, (
            f"{notebook.name}: {link} is not {want + notebook.name}; run tools/set_repository.py"
        )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_executed(notebook: Path) -> None:
    code = [c for c in _cells(notebook) if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert None not in counts, f"{notebook.name}: some cells were not executed"
    assert counts == sorted(counts), f"{notebook.name}: cells were executed out of order"
    for cell in code:
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        assert not errors, f"{notebook.name}: a committed cell holds an error: {errors[0]['ename']}"
    assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"]), "no figure"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_solution_markers_are_balanced(notebook: Path) -> None:
    for cell in _cells(notebook):
        source = _source(cell)
        assert source.count("### BEGIN SOLUTION") == source.count("### END SOLUTION")
        if "### BEGIN SOLUTION" in source:
            assert source.index("### BEGIN SOLUTION") < source.index("### END SOLUTION")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_cells_exist(notebook: Path) -> None:
    checked = [c for c in _cells(notebook) if "nbval-check-output" in _tags(c)]
    assert checked, f"{notebook.name}: no cell is compared exactly under nbval"
    assert all(c["outputs"] for c in checked), (
        f"{notebook.name}: a checked cell has no output to compare"
    )


def test_citations_exist_in_the_bibliography() -> None:
    keys = set(re.findall(r"@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text()))
    texts = [p.read_text() for p in [*ROOT.glob("book/*.md"), *NOTEBOOKS]]
    cited = {
        k.strip()
        for t in texts
        for group in re.findall(r"\{cite:[pt]\}`([^`]+)`", t)
        for k in group.split(",")
    }
    assert cited and cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


def _package_sources() -> list[str]:
    """Every package module's text, also with 4 and 8 leading spaces removed (a method's source
    as ``show_source`` dedents it)."""
    texts = []
    for path in sorted((ROOT / "vae_tutorial").rglob("*.py")):
        lines = path.read_text().splitlines()
        for indent in (0, 4, 8):
            texts.append("\n".join(line.removeprefix(" " * indent) for line in lines))
    return texts


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_shown_source_is_the_package_source_now(notebook: Path) -> None:
    """A show_source output was made from today's package: re-execute a chapter after changing
    code it shows."""
    sources = _package_sources()
    for i, cell in enumerate(_cells(notebook)):
        if cell["cell_type"] != "code" or "show_source" not in _source(cell):
            continue
        for output in cell["outputs"]:
            shown = "".join(output.get("data", {}).get("text/markdown", ""))
            for block in re.findall(r"```python\n(.*?)```", shown, re.DOTALL):
                assert any(block.strip("\n") in text for text in sources), (
                    f"{notebook.name}, cell {i}: the source it shows is no longer the package's; "
                    "re-execute the chapter"
                )


def test_no_chapter_retrains_the_judge() -> None:
    """The digit classifier is one reference checkpoint (checkpoints/mnist_judge.pt)."""
    for notebook in NOTEBOOKS:
        code = "".join(_source(c) for c in _cells(notebook) if c["cell_type"] == "code")
        assert "train_digit_classifier" not in code, f"{notebook.name} retrains the judge"
    for notebook in NOTEBOOKS:
        text = "".join(_source(c) for c in _cells(notebook))
        assert "project started from" not in text, f"{notebook.name}: project history in the text"
