# nbgrader_config.py for a course run with nbgrader (`make assignment` writes a course folder with
# it; to start your own, copy this file, grading.py and student_stubs.py into the course folder).
# Its commands need the folder of the `nbgrader` command on PATH: nbgrader runs `alembic` from
# there (activate the virtual environment, `. .venv/bin/activate`). The instructor guide gives the
# whole cycle:
#
#   nbgrader generate_assignment ch10     # source/ch10/*.ipynb -> release/ch10/ (the student copy)
#   nbgrader autograde ch10               # submitted/<student>/ch10/ -> autograded/, gradebook.db
#   nbgrader export                       # grades.csv
#
# The chapters carry nbgrader's cell metadata: each coding exercise is an autograded answer cell
# followed by a locked test cell with points (the exercise's check, and hidden tests on other
# random inputs); each written answer is a manually graded cell with points. Autograding runs only
# the setup cell and those cells (grading.py), not the chapter's experiments.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # student_stubs.py, grading.py: beside it

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

# Exploration code cells with a solution (graded by hand with their written answer) carry no
# nbgrader metadata, so nbgrader must not require it for a solution region.
c.ClearSolutions.enforce_metadata = False
c.ClearHiddenTests.enforce_metadata = False
c.ClearMarkScheme.enforce_metadata = False
# nbgrader's own list, with the shown source that answers an exercise hidden first, and
# ClearSolutions replaced by the subclass whose stub names the exercise.
c.GenerateAssignment.preprocessors = [
    "student_stubs.HideAnswerDisplays",
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "student_stubs.ExerciseClearSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Autograde in grading mode: nbgrader's lists, with ClearOutput and Execute replaced by the
# versions that run only the setup cell and the autograded cells.
c.Autograde.sanitize_preprocessors = [
    "grading.KeepSkippedOutputs",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "grading.GradingExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Execute.timeout = 300  # seconds per cell: the setup cell imports torch, slow on a busy machine
