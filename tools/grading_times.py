"""Seconds nbgrader's autograde takes for one submission of each chapter: ``python
tools/grading_times.py [chapter ...]``. The instructor guide's grading times come from this table.

It builds a throwaway course folder with tools/nbgrader_config.py, releases every chapter that
has autograded exercises, submits each with the chapter's own answers (full marks), and times
``nbgrader autograde chNN`` for that one student: wall-clock seconds, and the CPU seconds of
nbgrader and its kernel. Run it with the virtual environment's Python (nbgrader is the
``instructor`` extra); on a busy machine the wall-clock times are upper bounds.
"""

from __future__ import annotations

import csv
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def _nbgrader(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def _run(args: list[str], course: Path) -> None:
    env = dict(os.environ)
    # nbgrader runs `alembic` by name: the folder of this Python's scripts goes on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def _autograded(notebook: Path) -> bool:
    cells = nbformat.read(notebook, as_version=4).cells
    return any(_nbgrader(c).get("grade") and not _nbgrader(c).get("solution") for c in cells)


def _submit_answers(course: Path, assignment: str, notebook: str) -> None:
    """The release, with each autograded answer cell replaced by the chapter's own answer."""
    source = nbformat.read(course / "source" / assignment / notebook, as_version=4)
    answers = {
        _nbgrader(c)["grade_id"]: c.source
        for c in source.cells
        if _nbgrader(c).get("solution") and not _nbgrader(c).get("grade")
    }
    copy = nbformat.read(course / "release" / assignment / notebook, as_version=4)
    for cell in copy.cells:
        if _nbgrader(cell).get("grade_id") in answers:
            cell.source = answers[_nbgrader(cell)["grade_id"]]
    folder = course / "submitted" / "student" / assignment
    folder.mkdir(parents=True)
    nbformat.write(copy, folder / notebook)


def grading_seconds(notebooks: list[Path], course: Path) -> dict[str, tuple[float, float, str]]:
    """Per chapter: wall-clock seconds, CPU seconds and 'score / autograded points'."""
    for name in ("nbgrader_config.py", "grading.py", "student_stubs.py"):
        shutil.copy(ROOT / "tools" / name, course / name)
    chapters = {f"ch{nb.name.split('_')[0]}": nb for nb in notebooks if _autograded(nb)}
    for assignment, notebook in chapters.items():
        (course / "source" / assignment).mkdir(parents=True)
        shutil.copy(notebook, course / "source" / assignment / notebook.name)
    _run(["generate_assignment", "*", "--force"], course)
    times: dict[str, tuple[float, float]] = {}
    for assignment, notebook in chapters.items():
        _submit_answers(course, assignment, notebook.name)
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        _run(["autograde", assignment, "--create"], course)
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        times[assignment] = (wall, cpu)
    _run(["export"], course)
    with open(course / "grades.csv", newline="") as f:
        scores = {row["assignment"]: row for row in csv.DictReader(f)}
    result = {}
    for assignment, notebook in chapters.items():
        cells = nbformat.read(notebook, as_version=4).cells
        points = sum(
            _nbgrader(c)["points"]
            for c in cells
            if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")
        )
        score = f"{float(scores[assignment]['score']):g} / {points:g}"
        result[f"{assignment} {notebook.stem}"] = (*times[assignment], score)
    return result


def main(argv: list[str]) -> int:
    notebooks = [Path(a) for a in argv] or sorted((ROOT / "chapters").glob("*.ipynb"))
    missing = [str(nb) for nb in notebooks if not nb.is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="grading-times-") as folder:
        result = grading_seconds(notebooks, Path(folder))
    print(f"{'chapter':<36} {'wall s':>7} {'CPU s':>7}  score")
    for name, (wall, cpu, score) in result.items():
        print(f"{name:<36} {wall:7.1f} {cpu:7.1f}  {score}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
