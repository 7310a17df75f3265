"""The one error a project file raises: what is wrong, in which file, and where in it."""

from __future__ import annotations


class ProjectError(ValueError):
    """A project file that cannot be read (or a graph that cannot be written).

    ``str(error)`` reads ``model.hsproj.json: nodes[2].params.kernel_size: expected an integer or [h, w], got "x"``:
    the file, the place inside it (a JSON path, or a line and column for broken JSON) and the problem.
    """

    def __init__(self, source: str, place: str | None, problem: str):
        self.source = str(source)
        self.place = place
        self.problem = problem
        where = f"{self.source}: {place}: " if place else f"{self.source}: "
        super().__init__(where + problem)
