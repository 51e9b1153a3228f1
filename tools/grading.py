"""nbgrader's autograde in grading mode: run the setup cell, the autograded answers and their tests.

A chapter's grading does not need its experiments: each autograded answer cell holds its own
imports and the function the exercise asks for, and its test cell calls the exercise's check from
`vae_tutorial.exercises`. So :class:`GradingExecute` runs, in order, only

- the setup cell (the chapter's first code cell), and
- the nbgrader cells that autograding scores: autograded answers and autograder tests,

and :class:`KeepSkippedOutputs` leaves every other cell's outputs as the student submitted them,
for whoever grades the written answers by hand. Errors do not stop the run (nbgrader's
``allow_errors``): an unanswered exercise scores 0 and the next one is still graded. Used by
tools/nbgrader_config.py.
"""

from __future__ import annotations

from nbgrader.preprocessors import ClearOutput, Execute


def graded_cells(cells: list) -> set[int]:
    """Indices of the cells the grader runs: the first code cell and the autograded ones."""
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    keep = set(code[:1])
    for i in code:
        meta = cells[i].get("metadata", {}).get("nbgrader", {})
        if bool(meta.get("solution")) != bool(meta.get("grade")):  # an answer, or its tests
            keep.add(i)
    return keep


class KeepSkippedOutputs(ClearOutput):
    """nbgrader's ClearOutput for the cells the grader runs; the others keep their outputs."""

    def preprocess(self, nb, resources):
        self._run = graded_cells(nb.cells)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell_index not in self._run:
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)


class GradingExecute(Execute):
    """nbgrader's Execute, running only :func:`graded_cells`."""

    def preprocess(self, nb, resources=None, km=None):
        self._run = graded_cells(nb.cells)
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if index not in self._run:
            return cell, self.resources
        return super().preprocess_cell(cell, resources, index)
