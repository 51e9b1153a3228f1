"""nbgrader's whole cycle on a throwaway course: generate, three submissions, autograde, export.

Chapters 3 and 10 are released with tools/nbgrader_config.py, then graded as three students
submitted them: one with the chapter's own answers (full marks on the autograded exercises), one
with a named mistake in one exercise (partial), one blank (zero). Grading runs only the setup cell
and the autograded cells (tools/grading.py), so chapter 10's thirteen training runs never start.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "nbgrader", reason="nbgrader is not installed: `make unit` or `pip install -e .[instructor]`"
)
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from grading import graded_cells  # noqa: E402

CHAPTERS = {"ch03": "03_the_elbo.ipynb", "ch10": "10_beta_vae.ipynb"}
# One named mistake per chapter; the other exercise keeps the chapter's own answer.
WRONG = {
    "exercise-3-1": "def kl_to_standard_normal(mean, log_var):\n"
    "    return -torch.sum(1 + log_var - mean**2 - log_var.exp(), dim=-1)\n",
    "exercise-10-1": "def my_kl_weight(step, steps_per_epoch, beta, warmup_epochs):\n"
    "    warmup_steps = warmup_epochs * steps_per_epoch\n"
    "    return beta * min(1, step / warmup_steps) if warmup_steps else 1.0\n",
}
MISTAKE_NAMED = {"exercise-3-1-tests": "factor of 2", "exercise-10-1-tests": "beta, not 1"}


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _run(args: list[str], course: Path) -> None:
    env = dict(os.environ)
    # nbgrader runs `alembic` by name: the folder of this Python's scripts goes on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = tmp_path_factory.mktemp("course")
    for name in ("nbgrader_config.py", "grading.py", "student_stubs.py"):
        shutil.copy(ROOT / "tools" / name, course / name)
    for assignment, notebook in CHAPTERS.items():
        (course / "source" / assignment).mkdir(parents=True)
        shutil.copy(ROOT / "chapters" / notebook, course / "source" / assignment / notebook)
    _run(["generate_assignment", "*", "--force"], course)
    for assignment, notebook in CHAPTERS.items():
        source = nbformat.read(course / "source" / assignment / notebook, as_version=4)
        answers = {
            _nbgrader(c)["grade_id"]: c.source
            for c in source.cells
            if _nbgrader(c).get("solution") and not _nbgrader(c).get("grade")
        }
        for student, fill in (("right", answers), ("wrong", {**answers, **WRONG}), ("blank", {})):
            copy = nbformat.read(course / "release" / assignment / notebook, as_version=4)
            for cell in copy.cells:
                if _nbgrader(cell).get("grade_id") in fill:
                    cell.source = fill[_nbgrader(cell)["grade_id"]]
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nbformat.write(copy, folder / notebook)
    _run(["autograde", "*", "--create"], course)  # every assignment, every student
    _run(["export"], course)
    return course


def test_scores_are_full_partial_and_zero(course: Path) -> None:
    with open(course / "grades.csv", newline="") as f:
        scores = {(row["assignment"], row["student_id"]): row for row in csv.DictReader(f)}
    for assignment, notebook in CHAPTERS.items():
        source = nbformat.read(course / "source" / assignment / notebook, as_version=4)
        points = [_nbgrader(c) for c in source.cells if _nbgrader(c).get("grade")]
        autograded = sum(p["points"] for p in points if not p.get("solution"))
        by_hand = sum(p["points"] for p in points if p.get("solution"))
        assert autograded > 0 and by_hand > 0
        for student in ("right", "wrong", "blank"):
            assert float(scores[(assignment, student)]["max_score"]) == autograded + by_hand
        score = {s: float(scores[(assignment, s)]["score"]) for s in ("right", "wrong", "blank")}
        # the written answers wait for a grader; every autograded point is earned or not
        assert score["right"] == autograded, (assignment, score)
        assert 0 < score["wrong"] < autograded, (assignment, score)
        assert score["blank"] == 0, (assignment, score)


def test_grading_runs_only_the_graded_cells_and_names_the_mistake(course: Path) -> None:
    for assignment, notebook in CHAPTERS.items():
        graded = nbformat.read(course / "autograded" / "wrong" / assignment / notebook, 4)
        run = graded_cells(graded.cells)
        for index, cell in enumerate(graded.cells):
            if cell.cell_type == "code" and index not in run:
                assert cell.outputs == [], f"{assignment} cell {index} ran while grading"
            grade_id = _nbgrader(cell).get("grade_id")
            if grade_id in MISTAKE_NAMED:
                errors = [o for o in cell.outputs if o.output_type == "error"]
                assert errors and errors[0].ename == "ExerciseError", grade_id
                assert MISTAKE_NAMED[grade_id] in errors[0].evalue, errors[0].evalue
                assert "xpected" in errors[0].evalue, errors[0].evalue  # expected against got
                assert "HIDDEN TESTS" in cell.source  # the grader's tests, not the student's
