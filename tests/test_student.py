"""`make student`: student copies made by nbgrader's own preprocessors (tools/student_config.py).

The copies are built here exactly as `make student` builds them (nbconvert with that config),
into a temporary folder. nbgrader is the package's optional extra `instructor`; `make unit`
installs it, and these tests skip, saying so, where it is missing. tests/test_autograde.py grades
submissions with nbgrader itself.
"""

from __future__ import annotations

import ast
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
# The chapter whose first exercise is cheapest to reach (6 s for the whole chapter under nbval;
# chapter 5's trains a model first, which takes minutes on a busy machine).
RUN_CHAPTER = "04_reparameterization.ipynb"
ANSWER_TAG = re.compile(r"^answer-to-exercise-(\d+\.\d+)$")
HEADING = re.compile(r"\*\*Exercise (\d+)\.(\d+)")
# Methods of a class in PACKAGE_ANSWERS whose shown source answers an exercise (the class itself
# is refused so that an answer cannot call it; showing its other methods gives nothing away).
ANSWER_METHODS = {
    "LinearGaussian": {"marginal", "log_marginal"},
    "Objective": {"kl_weight"},
    "VAE": set(),
}


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("student")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nbconvert",
            "--config",
            str(ROOT / "tools" / "student_config.py"),
            "--to",
            "notebook",
            "--output-dir",
            str(out),
            *map(str, NOTEBOOKS),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
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


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _autograded_answer(cell: dict) -> bool:
    return bool(_nbgrader(cell).get("solution")) and not _nbgrader(cell).get("grade")


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
        hidden = [m.group(1) for t in src["metadata"].get("tags", []) if (m := ANSWER_TAG.match(t))]
        if hidden:  # the shown source is the answer to an exercise: a note stands in for it
            assert "show_source" not in text and f"answer to Exercise {hidden[0]}" in text, text
        elif "### BEGIN HIDDEN TESTS" in _source(src):
            assert text.strip() == _source(src).split("### BEGIN HIDDEN TESTS")[0].strip()
        elif BEGIN not in _source(src):
            assert text == _source(src), f"{notebook.name} cell {index} changed"
        elif src["cell_type"] == "markdown":  # a model answer: nbgrader's text stub
            assert "YOUR ANSWER HERE" in text, text
        elif _autograded_answer(src):  # stops a top-to-bottom run with the exercise's name
            assert re.search(r"raise NotImplementedError\(.Exercise \d+\.\d+ ", text), text
        else:  # an exploration graded by hand: a top-to-bottom run goes on
            assert re.search(r"# YOUR CODE HERE \(Exercise \d+\.\d+ .*graded by hand", text), text
            assert "raise" not in text, text


def _shown(source: str) -> list[str]:
    """The dotted names whose source a code cell shows: show_source(losses.gaussian_kl) ->
    ['losses.gaussian_kl']."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # the setup cell's %pip line: it shows no source
        return []
    return [
        ast.unparse(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "show_source"
        and node.args
    ]


def _gives_away(shown: str, answers: set[str]) -> bool:
    parts = shown.split(".")
    for i, part in enumerate(parts):
        if part in ANSWER_METHODS:
            return i + 1 < len(parts) and parts[i + 1] in ANSWER_METHODS[part]
        if part in answers:
            return True
    return False


def test_no_student_copy_shows_the_source_of_an_answer(student_dir: Path) -> None:
    """No copy shows the package's own version of a function an exercise asks for; the chapters
    do, and their cells that show it are tagged, so the check sees every one of them."""
    from vae_tutorial.exercises import PACKAGE_ANSWERS

    answers = {dotted.rsplit(".", 1)[-1] for names in PACKAGE_ANSWERS.values() for dotted in names}
    found_in_chapters = 0
    for notebook in NOTEBOOKS:
        for index, cell in enumerate(_cells(notebook)):
            if cell["cell_type"] == "code" and any(
                _gives_away(s, answers) for s in _shown(_source(cell))
            ):
                found_in_chapters += 1
                tags = cell["metadata"].get("tags", [])
                assert any(ANSWER_TAG.match(t) for t in tags), (
                    f"{notebook.name} cell {index} shows an exercise's answer: tag it "
                    "answer-to-exercise-N.M"
                )
        for index, cell in enumerate(_cells(student_dir / notebook.name)):
            shown = [s for s in _shown(_source(cell)) if _gives_away(s, answers)]
            assert not shown, f"the student copy of {notebook.name}, cell {index}, shows {shown}"
    assert found_in_chapters >= 10


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_points(notebook: Path) -> None:
    """Each exercise has a graded cell with points: autograder tests after an autograded answer
    (they call the exercise's check, with hidden tests on other seeds), or a cell graded by hand."""
    cells = _cells(notebook)
    exercises = {
        f"{a}-{b}"
        for c in cells
        if c["cell_type"] == "markdown"
        for a, b in HEADING.findall(_source(c))
    }
    assert exercises, notebook.name
    graded = {}
    for index, cell in enumerate(cells):
        meta = _nbgrader(cell)
        if meta.get("grade"):
            assert meta["points"] > 0 and meta["grade_id"].startswith("exercise-")
            graded.setdefault("-".join(meta["grade_id"].split("-")[1:3]), []).append(meta)
        if _autograded_answer(cell):
            tests = cells[index + 1]
            meta = _nbgrader(tests)
            assert meta.get("grade") and not meta.get("solution") and meta.get("locked"), index
            assert meta["grade_id"] == _nbgrader(cell)["grade_id"] + "-tests"
            text = _source(tests)
            assert re.search(r"^exercises\.check_\w+\(\w+\)$", text, re.MULTILINE), text
            assert "### BEGIN HIDDEN TESTS" in text and "seed=" in text, text
            assert "nbval-check-output" in tests["metadata"].get("tags", [])
    for exercise in exercises:
        assert exercise in graded, f"{notebook.name}: Exercise {exercise} has no points"


def test_student_copy_stops_at_its_first_exercise(student_dir: Path, tmp_path: Path) -> None:
    """Run the copy from an empty folder: every cell up to the first exercise's answer runs, its
    tests fail with the exercise's own message, and with the reference solution put back they
    pass."""
    source = nbformat.read(ROOT / "chapters" / RUN_CHAPTER, as_version=4)
    student = nbformat.read(student_dir / RUN_CHAPTER, as_version=4)
    first = _exercise_cells(source.cells)[0]
    assert _autograded_answer(source.cells[first])
    client = nbclient.NotebookClient(
        student,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    with client.setup_kernel():
        for index, cell in enumerate(student.cells[: first + 1]):
            client.execute_cell(cell, index)  # raises CellExecutionError on any error
        with pytest.raises(nbclient.exceptions.CellExecutionError) as failed:
            client.execute_cell(student.cells[first + 1], first + 1)
        assert failed.value.ename == "NotImplementedError"
        assert failed.value.evalue.startswith("Exercise 4.1 (reparameterize): replace this")

        student.cells[first].source = source.cells[first].source
        for index in (first, first + 1):
            client.execute_cell(student.cells[index], index)
    outputs = student.cells[first + 1].outputs
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert text.startswith("Correct: z is a differentiable function"), text
