"""Sweeps: Optuna studies whose trials are ordinary training runs (``hybrid-studio sweep``; the app's Sweep view).

Qt-free; Optuna and torch load only when a sweep runs.
"""

from .space import SearchParam, SpaceError, build_space
from .study import SweepError, SweepPlan, default_storage, direction_for, run_sweep

__all__ = ["SearchParam", "SpaceError", "SweepError", "SweepPlan", "build_space", "default_storage",
           "direction_for", "run_sweep"]
