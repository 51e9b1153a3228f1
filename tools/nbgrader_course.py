"""A throwaway nbgrader course: release chapters, hand in copies, run nbgrader in it.

Shared by tests/test_autograde.py and tools/grading_times.py. The course folder gets this
repository's nbgrader configuration (tools/nbgrader_config.py with the two modules it imports),
each chapter as assignment chNN in source/, and nbgrader's release of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ("nbgrader_config.py", "grading.py", "student_stubs.py")


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    """A cell's nbgrader metadata ({} for a cell nbgrader does not grade)."""
    return cell.metadata.get("nbgrader", {})


def run_nbgrader(args: list[str], course: Path, timeout: float | None = None) -> None:
    """``nbgrader ARGS`` in ``course`` with this Python; a RuntimeError with its output if it
    fails."""
    env = dict(os.environ)
    # nbgrader runs `alembic` by name: the folder of this Python's scripts goes on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )


def release(course: Path, chapters: dict[str, Path], timeout: float | None = None) -> None:
    """Copy the configuration and each chapter (assignment id -> notebook) into ``course`` and
    generate the release of every assignment."""
    for name in CONFIGURATION:
        shutil.copy(ROOT / "tools" / name, course / name)
    for assignment, notebook in chapters.items():
        (course / "source" / assignment).mkdir(parents=True)
        shutil.copy(notebook, course / "source" / assignment / notebook.name)
    run_nbgrader(["generate_assignment", "*", "--force"], course, timeout)


def chapter_answers(course: Path, assignment: str, notebook: str) -> dict[str, str]:
    """The source chapter's autograded answers: grade_id -> the answer cell's code."""
    source = nbformat.read(course / "source" / assignment / notebook, as_version=4)
    return {
        nbgrader_meta(c)["grade_id"]: c.source
        for c in source.cells
        if nbgrader_meta(c).get("solution") and not nbgrader_meta(c).get("grade")
    }


def hand_in(
    course: Path, assignment: str, notebook: str, student: str, fill: dict[str, str]
) -> None:
    """The release as ``student`` submits it, each answer cell named in ``fill`` filled in."""
    copy = nbformat.read(course / "release" / assignment / notebook, as_version=4)
    for cell in copy.cells:
        if nbgrader_meta(cell).get("grade_id") in fill:
            cell.source = fill[nbgrader_meta(cell)["grade_id"]]
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(copy, folder / notebook)
