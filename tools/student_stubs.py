"""Student copies: nbgrader's ClearSolutions with stubs that name the exercise, and the hiding of
shown source that answers an exercise.

Only the stubs are chosen here: finding and replacing the ``### BEGIN SOLUTION`` ... ``### END
SOLUTION`` region is nbgrader's own code. Before each cell with a solution region, the stub is set
from the last exercise heading above the cell, ``**Exercise 9.1 (PSNR).**``:

- an autograded answer cell (nbgrader metadata ``solution`` without ``grade``) gets a stub that
  raises, so that a copy run top to bottom stops there with

      NotImplementedError: Exercise 9.1 (PSNR): replace this line with your solution, then run
      the cell

- any other code solution (graded by hand: in its own comments, or with the written answer
  below it) gets a stub that only says so, so that a top-to-bottom run goes on to the next
  exercise.

:class:`HideAnswerDisplays` replaces, in a code cell tagged ``answer-to-exercise-N.M``, each
``show_source(...)`` statement by a line that says the source is the answer to that exercise; the
cell's other lines (its imports) stay. Used by tools/student_config.py (``make student``) and
tools/nbgrader_config.py (``nbgrader generate_assignment``).
"""

from __future__ import annotations

import ast
import re

from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import ClearSolutions
from traitlets import Unicode

EXERCISE = re.compile(r"\*\*Exercise (\d+\.\d+)(?: \((.*?)\))?\.?\*\*")
ANSWER_TAG = re.compile(r"^answer-to-exercise-(\d+\.\d+)$")


def is_autograded_answer(cell: dict) -> bool:
    """nbgrader's "autograded answer": a solution cell that is not itself graded."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution")) and not meta.get("grade")


class ExerciseClearSolutions(ClearSolutions):
    stub_template = Unicode(
        "# YOUR CODE HERE\nraise NotImplementedError({message!r})",
        help="ClearSolutions.code_stub for an autograded answer; {message} is the exercise's",
    ).tag(config=True)

    message_template = Unicode(
        "{exercise}: replace this line with your solution, then run the cell",
        help="The message of the stub; {exercise} is 'Exercise 9.1 (PSNR)' or 'this exercise'",
    ).tag(config=True)

    manual_stub_template = Unicode(
        "# YOUR CODE HERE ({exercise}: graded by hand; answer its question in comments here)",
        help="ClearSolutions.code_stub for a code cell graded by hand (nbgrader solution + grade)",
    ).tag(config=True)

    exploration_stub_template = Unicode(
        "# YOUR CODE HERE ({exercise}: graded by hand, with your written answer below)",
        help="ClearSolutions.code_stub for a code solution that is not an nbgrader cell",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        self._exercise = "this exercise"
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown":
            found = EXERCISE.findall(cell.source)
            if found:
                number, title = found[-1]
                self._exercise = f"Exercise {number}" + (f" ({title})" if title else "")
        elif self.begin_solution_delimeter in cell.source:
            if is_autograded_answer(cell):
                message = self.message_template.format(exercise=self._exercise)
                stub = self.stub_template.format(message=message)
            elif cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
                stub = self.manual_stub_template.format(exercise=self._exercise)
            else:
                stub = self.exploration_stub_template.format(exercise=self._exercise)
            self.code_stub = {**self.code_stub, resources["language"]: stub}
        return super().preprocess_cell(cell, resources, cell_index)


def hidden_source_note(exercise: str) -> str:
    """The line that stands in for a hidden ``show_source(...)`` in a student copy."""
    return (
        f'print("The source shown here in the book is the answer to Exercise {exercise}: '
        'it is hidden in this copy.")'
    )


def hide_show_source(source: str, exercise: str) -> str:
    """``source`` with each top-level ``show_source(...)`` statement replaced by the note."""
    lines = source.splitlines()
    calls = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and (getattr(node.value.func, "attr", None) or getattr(node.value.func, "id", None))
        == "show_source"
    ]
    for node in reversed(calls):
        lines[node.lineno - 1 : node.end_lineno] = [hidden_source_note(exercise)]
    return "\n".join(lines)


class HideAnswerDisplays(Preprocessor):
    """Hide the shown source that answers an exercise (cells tagged answer-to-exercise-N.M)."""

    def preprocess_cell(self, cell, resources, index):
        tags = cell.get("metadata", {}).get("tags", [])
        found = [m.group(1) for m in map(ANSWER_TAG.match, tags) if m]
        if cell.cell_type == "code" and found:
            cell.source = hide_show_source(cell.source, " and ".join(found))
        return cell, resources
