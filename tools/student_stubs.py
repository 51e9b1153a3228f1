"""nbgrader's ClearSolutions, with a code stub that names the exercise it stands in for.

Only the stub is chosen here: finding and replacing the ``### BEGIN SOLUTION`` ... ``### END
SOLUTION`` region is nbgrader's own code. Before each cell with a solution region, the stub is set
from ``stub_template`` and the last exercise heading above the cell, ``**Exercise 9.1 (PSNR).**``,
so that a student copy run top to bottom stops at its first exercise with

    NotImplementedError: Exercise 9.1 (PSNR): replace this line with your solution, then run
    the cell

Used by tools/student_config.py (``make student``).
"""

from __future__ import annotations

import re

from nbgrader.preprocessors import ClearSolutions
from traitlets import Unicode

EXERCISE = re.compile(r"\*\*Exercise (\d+\.\d+)(?: \((.*?)\))?\.?\*\*")


class ExerciseClearSolutions(ClearSolutions):
    stub_template = Unicode(
        "# YOUR CODE HERE\n"
        "raise NotImplementedError({message!r})",
        help="ClearSolutions.code_stub for Python, with {message} for the exercise's message",
    ).tag(config=True)

    message_template = Unicode(
        "{exercise}: replace this line with your solution, then run the cell",
        help="The message of the stub; {exercise} is 'Exercise 9.1 (PSNR)' or 'this exercise'",
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
            message = self.message_template.format(exercise=self._exercise)
            self.code_stub = {
                **self.code_stub,
                resources["language"]: self.stub_template.format(message=message),
            }
        return super().preprocess_cell(cell, resources, cell_index)
