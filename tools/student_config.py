# nbconvert configuration for `make student`: student copies of the chapters, made by nbgrader's
# own preprocessors (ClearSolutions, ClearHiddenTests, ClearOutput) through nbconvert, after the
# shown source that answers an exercise is hidden (student_stubs.HideAnswerDisplays):
#
#   jupyter nbconvert --config tools/student_config.py --to notebook \
#       --output-dir _build/student chapters/*.ipynb
#
# The exploration code cells with a solution carry no nbgrader cell metadata, so the requirement
# that solution and hidden-test regions sit in cells marked as such is turned off
# (enforce_metadata = False). `make assignment` makes nbgrader's release (tools/nbgrader_config.py).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # student_stubs.py, beside this file

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

c.NotebookExporter.preprocessors = [
    "student_stubs.HideAnswerDisplays",  # show_source of an exercise's answer: a note instead
    "student_stubs.ExerciseClearSolutions",  # ClearSolutions, with a stub naming the exercise
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearOutput",
]
c.ClearSolutions.enforce_metadata = False
c.ClearHiddenTests.enforce_metadata = False
# Also drop the execution timestamps the executed chapters carry.
c.ClearOutput.remove_metadata_fields = {"collapsed", "scrolled", "execution", "ExecuteTime"}
