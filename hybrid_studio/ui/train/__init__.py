"""The train panel: dataset, settings, run controls, live curves, runs and results. No torch at import time."""

from .panel import TrainPanel

__all__ = ["TrainPanel"]
