"""The errors a training run reports, shared by the engine's modules (no torch here)."""

from __future__ import annotations


class TrainError(Exception):
    """Base of the errors a run reports; ``message`` is for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InputProblem(TrainError):
    """The project, dataset, settings or device cannot be used; found before the first step."""


class RunFailure(TrainError):
    """The run failed while training."""


class _Stopped(Exception):
    """Raised inside the loop when a stop was requested (after the checkpoint is written)."""

