"""nbgrader's whole cycle on a throwaway course: generate, three submissions, autograde, export.

Chapters 3 and 10 are released with tools/nbgrader_config.py, then graded as three students
submitted them: one with the chapter's own answers (full marks on the autograded exercises), one
with a named mistake in one exercise (partial), one blank (zero). Grading runs only the setup cell
and the autograded cells (tools/grading.py), so chapter 10's thirteen training runs never start.
"""

from __future__ import annotations

import csv
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
from nbgrader_course import (  # noqa: E402
    chapter_answers,
    hand_in,
    nbgrader_meta,
    release,
    run_nbgrader,
)

TIMEOUT = 600  # seconds for one nbgrader command
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


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = tmp_path_factory.mktemp("course")
    release(course, {a: ROOT / "chapters" / nb for a, nb in CHAPTERS.items()}, TIMEOUT)
    for assignment, notebook in CHAPTERS.items():
        answers = chapter_answers(course, assignment, notebook)
        for student, fill in (("right", answers), ("wrong", {**answers, **WRONG}), ("blank", {})):
            hand_in(course, assignment, notebook, student, fill)
    run_nbgrader(["autograde", "*", "--create"], course, TIMEOUT)  # every assignment, student
    run_nbgrader(["export"], course, TIMEOUT)
    return course


def test_scores_are_full_partial_and_zero(course: Path) -> None:
    with open(course / "grades.csv", newline="") as f:
        scores = {(row["assignment"], row["student_id"]): row for row in csv.DictReader(f)}
    for assignment, notebook in CHAPTERS.items():
        source = nbformat.read(course / "source" / assignment / notebook, as_version=4)
        points = [nbgrader_meta(c) for c in source.cells if nbgrader_meta(c).get("grade")]
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
            grade_id = nbgrader_meta(cell).get("grade_id")
            if grade_id in MISTAKE_NAMED:
                errors = [o for o in cell.outputs if o.output_type == "error"]
                assert errors and errors[0].ename == "ExerciseError", grade_id
                assert MISTAKE_NAMED[grade_id] in errors[0].evalue, errors[0].evalue
                assert "xpected" in errors[0].evalue, errors[0].evalue  # expected against got
                assert "HIDDEN TESTS" in cell.source  # the grader's tests, not the student's
