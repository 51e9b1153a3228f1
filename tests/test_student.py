"""`make student`: student copies made by nbgrader's own preprocessors (tools/student_config.py).

The copies are built here exactly as `make student` builds them (nbconvert with that config),
into a temporary folder. nbgrader is the package's optional extra `instructor`; `make unit`
installs it, and these tests skip, saying so, where it is missing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "nbgrader", reason="nbgrader is not installed: `make unit` or `pip install -e .[instructor]`"
)
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
# The chapter whose first exercise is cheapest to reach (about 6 s of cells before it).
RUN_CHAPTER = "05_building_the_vae.ipynb"


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("student")
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--config", str(ROOT / "tools" / "student_config.py"),
         "--to", "notebook", "--output-dir", str(out), *map(str, NOTEBOOKS)],
        check=True, cwd=ROOT, capture_output=True, text=True,
    )
    return out


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _split(source: str) -> tuple[list[str], list[str]]:
    """Lines inside solution regions, and lines outside them (stripped, non-blank)."""
    inside, outside, within = [], [], False
    for line in source.splitlines():
        if BEGIN in line:
            within = True
        elif END in line:
            within = False
        elif line.strip():
            (inside if within else outside).append(line.strip())
    return inside, outside


def _exercise_cells(cells: list[dict]) -> list[int]:
    return [i for i, c in enumerate(cells) if c["cell_type"] == "code" and BEGIN in _source(c)]


def test_every_chapter_has_a_student_copy(student_dir: Path) -> None:
    assert sorted(p.name for p in student_dir.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_no_solution_line_survives(notebook: Path, student_dir: Path) -> None:
    source_cells = _cells(notebook)
    student_cells = _cells(student_dir / notebook.name)
    assert len(student_cells) == len(source_cells)
    inside, outside = [], set()
    for cell in source_cells:
        i, o = _split(_source(cell))
        inside += i
        outside |= set(o)
    secret = set(inside) - outside  # a line such as `import math` may also stand outside
    assert inside, f"{notebook.name}: no solution region found"
    for index, (src, student) in enumerate(zip(source_cells, student_cells, strict=True)):
        text = _source(student)
        assert "SOLUTION" not in text and "HIDDEN TESTS" not in text
        leaked = secret & {line.strip() for line in text.splitlines()}
        assert not leaked, f"{notebook.name} cell {index}: solution lines survive: {leaked}"
        if student["cell_type"] == "code":
            assert student["outputs"] == [] and student["execution_count"] is None
        if BEGIN not in _source(src):
            assert text == _source(src), f"{notebook.name} cell {index} changed"
        elif src["cell_type"] == "markdown":  # a model answer: nbgrader's text stub
            assert "YOUR ANSWER HERE" in text, text
        else:
            assert re.search(r'raise NotImplementedError\(.Exercise \d+\.\d+ ', text), text


def test_student_copy_stops_at_its_first_exercise(student_dir: Path, tmp_path: Path) -> None:
    """Run the copy from an empty folder: every cell before the first exercise runs, the exercise
    fails with its own message, and with the reference solution put back it passes."""
    source = nbformat.read(ROOT / "chapters" / RUN_CHAPTER, as_version=4)
    student = nbformat.read(student_dir / RUN_CHAPTER, as_version=4)
    first = _exercise_cells(source.cells)[0]
    client = nbclient.NotebookClient(
        student, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    with client.setup_kernel():
        for index, cell in enumerate(student.cells[:first]):
            client.execute_cell(cell, index)  # raises CellExecutionError on any error
        with pytest.raises(nbclient.exceptions.CellExecutionError) as failed:
            client.execute_cell(student.cells[first], first)
        assert failed.value.ename == "NotImplementedError"
        assert failed.value.evalue.startswith("Exercise 5.1 (count the parameters): replace this")

        student.cells[first].source = source.cells[first].source
        client.execute_cell(student.cells[first], first)
    outputs = student.cells[first].outputs
    assert not [o for o in outputs if o.output_type == "error"]
    assert "784-400-20:" in "".join(o.get("text", "") for o in outputs)
