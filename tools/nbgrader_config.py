# nbgrader_config.py for an instructor who uses nbgrader's course layout (nbgrader quickstart):
# copy this file into the course folder (or add its lines to the course's nbgrader_config.py), put
# the chapters as they are into source/, one assignment each, and release them:
#
#   mkdir -p source/ch05 && cp chapters/05_building_the_vae.ipynb source/ch05/
#   nbgrader generate_assignment ch05
#
# The chapters carry no nbgrader cell metadata, so nbgrader must not require it. The release then
# holds the same student copies as `make student`. Autograding is not set up: the chapters' checks
# run in the students' notebooks (vae_tutorial.exercises), not as nbgrader grade cells.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # student_stubs.py: copy it alongside

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

c.ClearSolutions.enforce_metadata = False
c.ClearHiddenTests.enforce_metadata = False
c.ClearMarkScheme.enforce_metadata = False
# nbgrader's own list, with ClearSolutions replaced by the subclass whose stub names the exercise
# (leave this out to get nbgrader's plain stub, `raise NotImplementedError()`).
c.GenerateAssignment.preprocessors = [
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
