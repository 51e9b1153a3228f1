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
import resource
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbgrader_course import (
    ROOT,
    chapter_answers,
    hand_in,
    nbgrader_meta,
    release,
    run_nbgrader,
)


def _autograded(notebook: Path) -> bool:
    cells = nbformat.read(notebook, as_version=4).cells
    return any(
        nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution") for c in cells
    )


def grading_seconds(notebooks: list[Path], course: Path) -> dict[str, tuple[float, float, str]]:
    """Per chapter: wall-clock seconds, CPU seconds and 'score / autograded points'."""
    chapters = {f"ch{nb.name.split('_')[0]}": nb for nb in notebooks if _autograded(nb)}
    release(course, chapters)
    times: dict[str, tuple[float, float]] = {}
    for assignment, notebook in chapters.items():
        answers = chapter_answers(course, assignment, notebook.name)
        hand_in(course, assignment, notebook.name, "student", answers)
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        run_nbgrader(["autograde", assignment, "--create"], course)
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        times[assignment] = (wall, cpu)
    run_nbgrader(["export"], course)
    with open(course / "grades.csv", newline="") as f:
        scores = {row["assignment"]: row for row in csv.DictReader(f)}
    result = {}
    for assignment, notebook in chapters.items():
        cells = nbformat.read(notebook, as_version=4).cells
        points = sum(
            nbgrader_meta(c)["points"]
            for c in cells
            if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")
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
        try:
            result = grading_seconds(notebooks, Path(folder))
        except RuntimeError as error:  # nbgrader failed: its output, not a traceback
            print(f"error: {error}", file=sys.stderr)
            return 1
    print(f"{'chapter':<36} {'wall s':>7} {'CPU s':>7}  score")
    for name, (wall, cpu, score) in result.items():
        print(f"{name:<36} {wall:7.1f} {cpu:7.1f}  {score}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
